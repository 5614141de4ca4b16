package composite

import (
	"testing"
	"time"
)

// The picture's delay moves toward the page's measure a step a picture,
// both ways, within its bound; the pictures' timestamps only ever grow and
// the sound's are left alone.
func TestPictureDelaySlewsWithinItsBound(t *testing.T) {
	f := newFanout(false)
	ch := make(chan frame, 256)
	f.add(ch)
	f.open(0)
	const frameTime = 33 * time.Millisecond
	var pts time.Duration
	send := func(n int) (delays []time.Duration) {
		for range n {
			f.publish(frame{video: true, key: pts == 0, pts: pts, dts: pts})
			f.publish(frame{pts: pts + time.Millisecond})
			v, a := <-ch, <-ch
			if a.pts != pts+time.Millisecond {
				t.Fatalf("sound at %v moved to %v", pts+time.Millisecond, a.pts)
			}
			if v.dts != v.pts {
				t.Fatalf("picture pts %v, dts %v: moved apart", v.pts, v.dts)
			}
			delays = append(delays, v.pts-pts)
			pts += frameTime
		}
		return delays
	}
	if d := send(1); d[0] != 0 {
		t.Fatalf("first picture delayed %v before any measure", d[0])
	}
	f.delayPicture(70 * time.Millisecond)
	d := send(30)
	for i := 1; i < len(d); i++ {
		if step := d[i] - d[i-1]; step < 0 || step > delayStep {
			t.Fatalf("delay moved %v between pictures %d and %d, want 0..%v", step, i-1, i, delayStep)
		}
	}
	if got := d[len(d)-1]; got != 70*time.Millisecond {
		t.Errorf("delay after 30 pictures %v, want 70ms", got)
	}
	f.delayPicture(time.Second) // beyond the bound: clamped
	if d := send(60); d[len(d)-1] != maxPictureDelay {
		t.Errorf("delay after a 1s measure %v, want %v", d[len(d)-1], maxPictureDelay)
	}
	f.delayPicture(-time.Second) // the picture behind: no delay, never an advance
	last := pts - frameTime + d[len(d)-1]
	d = send(100)
	for i, dl := range d {
		at := pts - time.Duration(len(d)-i)*frameTime + dl
		if at <= last {
			t.Fatalf("picture %d at %v, not after the one before at %v", i, at, last)
		}
		last = at
	}
	if got := d[len(d)-1]; got != 0 {
		t.Errorf("delay after a -1s measure %v, want 0", got)
	}
}
