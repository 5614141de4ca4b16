package composite

import "time"

// Lip sync. The beam page plays a peer's sound behind its picture for the
// first seconds after it joins: Chromium's synchronizer closes the gap
// slowly (CI's recordings: +60–80 ms for 4–8 s, then within ±15 ms), and
// the recording captured it as it played. The page measures the gap
// (meet.js syncPlayout: the peers' median, pictureLead), and the fan-out
// delays the stream's picture by as much: its timestamps, not its frames,
// so nothing is held back or re-encoded. The delay moves by at most
// delayStep a picture (120 ms a second at 30 fps: a picture shown 4 ms
// late is not seen), so timestamps only ever grow. A sound that plays
// early is the page's to hold back (jitterBufferTarget): the picture is
// only ever delayed, never advanced (both at once undid the error twice:
// one job's sound ended +58 ms late where the page measured it 28 ms early).

// maxPictureDelay bounds the delay: a page measuring more is broken, not
// out of sync.
const maxPictureDelay = 200 * time.Millisecond

// delayStep is the most the delay moves from one picture to the next.
const delayStep = 4 * time.Millisecond

// delayPicture sets the delay the stream's picture moves to: how far the
// page plays pictures ahead of their sound (negative, behind: none).
func (f *Fanout) delayPicture(d time.Duration) {
	f.pictureDelay.Store(int64(min(max(d, 0), maxPictureDelay)))
}

// delayed shifts a picture's timestamps by the delay, moved a step toward
// its target first. The delay is the publishing goroutine's alone.
func (f *Fanout) delayed(fr *frame) {
	target := time.Duration(f.pictureDelay.Load())
	switch {
	case target > f.delay:
		f.delay = min(target, f.delay+delayStep)
	case target < f.delay:
		f.delay = max(target, f.delay-delayStep)
	}
	fr.pts += f.delay
	fr.dts += f.delay
}
