package composite

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/roomcast/roomcast/internal/mediatime"
)

// frame is one encoded access unit of the stream.
type frame struct {
	video    bool
	key      bool // a sink may start here: a keyframe, or any sound of an audio-only stream
	pts, dts time.Duration
	au       [][]byte // H.264 NAL units
	aac      []byte   // one AAC access unit
	at       time.Time
	seq      uint64 // 1, 2, …: a gap is a frame the sink's queue dropped
}

// tracks describe the stream for its sinks (as RTMP tracks, and the
// parameters an MP4 needs); known once the first keyframe carried SPS and
// PPS (an audio-only stream's at once). video is nil for audio only.
type tracks struct {
	video       *gortmplib.Track
	audio       *gortmplib.Track
	sps, pps    []byte
	audioConfig mpeg4audio.AudioSpecificConfig
}

// startPTS is the first video frame's pts (an audio-only stream's first
// sound; time since the encoder's epoch); ok is false until there is one.
func (f *Fanout) startPTS() (time.Duration, bool) {
	select {
	case <-f.first:
		return f.start, true
	default:
		return 0, false
	}
}

// sentSkew is how far the latest sound sent runs ahead of the latest
// picture sent, by their timestamps (positive: the sound's are later); a
// healthy stream stays within a frame or two, a drifting clock grows it.
func (f *Fanout) sentSkew() (time.Duration, bool) {
	a, v := f.lastAudio.Load(), f.lastVideo.Load()
	if a == 0 || v == 0 {
		return 0, false
	}
	return time.Duration(a - v), true
}

// Fanout demuxes the encoder's MPEG-TS once and hands every frame to each
// sink without ever blocking on one: a slow or disconnected destination
// drops frames in its own queue, the others are untouched.
type Fanout struct {
	audioOnly bool // the stream has no picture: every sound frame is a start

	// The encoder starts while the page joins: what it captured before
	// the time open gives (the page joining) is dropped, and the stream
	// begins at the first start frame captured from then on.
	gate     chan struct{}
	openOnce sync.Once
	from     time.Duration // pts: set before gate closes

	mu     sync.Mutex
	begun  bool // a start frame passed the gate
	sinks  []chan<- frame
	ready  chan struct{} // closed when tracks are known
	tracks tracks
	first  chan struct{} // closed at the first video frame passed (audio-only: the first frame)
	once   sync.Once
	start  time.Duration // that frame's pts, once first is closed

	seq uint64 // frames published

	lastAudio, lastVideo atomic.Int64 // latest pts sent of each (ns)
	handed               atomic.Int64 // latest picture's pts the encoder handed over (audio-only: sound's), gate or not, before its delay (ns)
	lastKey              atomic.Pointer[keyframe]
	gop                  []frame // the frames since the latest keyframe, for a sink that joins

	thumbs thumbnails

	// The picture's delay (lipsync.go): the target, set from the page's
	// measure, and what the latest picture got (publish's goroutine only).
	pictureDelay atomic.Int64
	delay        time.Duration
}

func newFanout(audioOnly bool) *Fanout {
	return &Fanout{audioOnly: audioOnly, gate: make(chan struct{}), ready: make(chan struct{}), first: make(chan struct{})}
}

// open lets the stream through from its first start frame (a keyframe; an
// audio-only stream's sound) with a pts of from or later on: what was
// captured from then on, however long the encode takes to hand it over.
func (f *Fanout) open(from time.Duration) {
	f.openOnce.Do(func() {
		f.from = from
		close(f.gate)
	})
}

// flowing says whether the stream has begun (its first picture passed).
func (f *Fanout) flowing() bool {
	_, ok := f.startPTS()
	return ok
}

// pass says whether fr goes to the sinks: none before the gate opens, then
// from the first start frame captured since its time on.
func (f *Fanout) pass(fr frame) bool {
	select {
	case <-f.gate:
	default:
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.begun && (fr.pts < f.from || !fr.key || !fr.video && !f.audioOnly) {
		return false
	}
	f.begun = true
	return true
}

// maxGOP bounds the frames kept since the latest keyframe (a 2 s GOP at
// 30 fps is 60 pictures and ~94 AAC frames).
const maxGOP = 400

// add registers a sink. One that joins a running stream gets the frames
// since its latest keyframe first, so it starts at once (with a picture
// up to a GOP old) instead of waiting for the next keyframe.
func (f *Fanout) add(ch chan<- frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.gop {
		select {
		case ch <- fr:
		default: // its queue is full: it resyncs on the next keyframe
		}
	}
	f.sinks = append(f.sinks, ch)
}

// remove stops feeding a sink.
func (f *Fanout) remove(ch chan<- frame) {
	f.mu.Lock()
	f.sinks = slices.DeleteFunc(f.sinks, func(c chan<- frame) bool { return c == ch })
	f.mu.Unlock()
}

func (f *Fanout) publish(fr frame) {
	if fr.video || f.audioOnly {
		f.handed.Store(int64(fr.pts))
	}
	if !f.pass(fr) {
		return
	}
	if fr.video {
		f.delayed(&fr)
	}
	if fr.video && fr.key {
		f.lastKey.Store(&keyframe{pts: fr.pts, au: fr.au})
	}
	if fr.video || f.audioOnly {
		f.once.Do(func() {
			f.start = fr.pts
			close(f.first)
		})
	}
	if fr.video {
		f.lastVideo.Store(int64(fr.pts))
	} else {
		f.lastAudio.Store(int64(fr.pts))
	}
	fr.at = time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	fr.seq = f.seq
	switch {
	case fr.key:
		f.gop = append(f.gop[:0], fr)
	case len(f.gop) > 0 && len(f.gop) < maxGOP:
		f.gop = append(f.gop, fr)
	}
	for _, ch := range f.sinks {
		select {
		case ch <- fr:
		default: // that sink is behind; it resyncs on a keyframe
		}
	}
}

// drainUntil waits until the encoder has handed over what it captured up
// to pts, done closes or max passes, and says whether it had and how long
// it waited. Told to stop, ffmpeg drops what it has not encoded yet, so a
// stop waits for this first: the last picture is the one on screen at
// the stop, however far behind the encode runs.
func (f *Fanout) drainUntil(pts time.Duration, done <-chan struct{}, max time.Duration) (time.Duration, bool) {
	start := time.Now()
	give := time.NewTimer(max)
	defer give.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for time.Duration(f.handed.Load()) < pts {
		select {
		case <-poll.C:
		case <-done:
			return time.Since(start), false
		case <-give.C:
			return time.Since(start), false
		}
	}
	return time.Since(start), true
}

// run reads the stream until it ends.
func (f *Fanout) run(r io.Reader) error {
	rd := &mpegts.Reader{R: bufio.NewReaderSize(r, 188*1024)}
	if err := rd.Initialize(); err != nil {
		return fmt.Errorf("composite: read encoder stream: %w", err)
	}
	var audioCfg *tscodecs.MPEG4Audio
	var videoTrack *mpegts.Track
	for _, t := range rd.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			videoTrack = t
		case *tscodecs.MPEG4Audio:
			audioCfg = c
			rd.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					// AAC frames are 1024 samples at 48 kHz.
					p := ticks(pts) + time.Duration(i)*1024*time.Second/48000
					f.publish(frame{pts: p, dts: p, aac: au, key: f.audioOnly})
				}
				return nil
			})
		}
	}
	switch {
	case audioCfg == nil:
		return errors.New("composite: encoder stream lacks AAC audio")
	case f.audioOnly:
		f.learnAudio(audioCfg)
	case videoTrack == nil:
		return errors.New("composite: encoder stream lacks H.264 video")
	}
	if videoTrack != nil && !f.audioOnly {
		f.onVideo(rd, videoTrack, audioCfg)
	}
	rd.OnDecodeError(func(error) {})
	for {
		if err := rd.Read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
	}
}

// onVideo publishes the stream's pictures, learning the tracks at the
// first keyframe.
func (f *Fanout) onVideo(rd *mpegts.Reader, videoTrack *mpegts.Track, audioCfg *tscodecs.MPEG4Audio) {
	rd.OnDataH264(videoTrack, func(pts, dts int64, au [][]byte) error {
		key := h264.IsRandomAccess(au)
		if key {
			f.learn(au, audioCfg) // before the gate opens: the destinations connect meanwhile
		}
		f.publish(frame{video: true, key: key, pts: ticks(pts), dts: ticks(dts), au: au})
		return nil
	})
}

// latestKey is the latest keyframe passed on, once there is one.
func (f *Fanout) latestKey() (keyframe, bool) {
	k := f.lastKey.Load()
	if k == nil {
		return keyframe{}, false
	}
	return *k, true
}

// knownTracks is the stream's description once the first keyframe came.
func (f *Fanout) knownTracks() tracks {
	select {
	case <-f.ready:
		return f.tracks
	default:
		return tracks{}
	}
}

// learn records SPS/PPS from the first keyframe.
func (f *Fanout) learn(au [][]byte, audio *tscodecs.MPEG4Audio) {
	select {
	case <-f.ready:
		return
	default:
	}
	var sps, pps []byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	if sps == nil || pps == nil {
		return
	}
	cfg := audio.Config
	f.tracks = tracks{
		video: &gortmplib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}},
		audio: &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &cfg}},
		sps:   sps, pps: pps, audioConfig: cfg,
	}
	close(f.ready)
}

// learnAudio describes an audio-only stream.
func (f *Fanout) learnAudio(audio *tscodecs.MPEG4Audio) {
	cfg := audio.Config
	f.tracks = tracks{audio: &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &cfg}}, audioConfig: cfg}
	close(f.ready)
}

// list is the stream's tracks for an RTMP writer: video (if any), audio.
func (t tracks) list() []*gortmplib.Track {
	if t.video == nil {
		return []*gortmplib.Track{t.audio}
	}
	return []*gortmplib.Track{t.video, t.audio}
}

// ticks converts 90 kHz MPEG-TS time to a duration.
func ticks(t int64) time.Duration { return mediatime.Duration(t, 90000) }
