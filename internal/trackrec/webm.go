package trackrec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
)

// cuesSpace is the room kept at the front of a WebM file for its Cues (the
// seek index written on close); about 3000 cue points.
const cuesSpace = 64 << 10

// webmFile writes VP8 frames to a WebM file with SeekHead and Cues. Blocks
// go to the file as they come (clusters of unknown size), so a killed
// process leaves a playable file; Cues and Duration are written on close.
// The writer starts at the first keyframe, whose header gives the size.
type webmFile struct {
	path string
	f    *os.File
	w    webm.BlockWriteCloser
}

func newWebMFile(path string) *webmFile { return &webmFile{path: path} }

func (m *webmFile) writeFrame(pts time.Duration, keyframe bool, data []byte) error {
	if m.w == nil {
		w, h, ok := vp8Size(data)
		if !ok {
			return errNoKeyframe
		}
		if err := m.open(w, h); err != nil {
			return err
		}
	}
	if _, err := m.w.Write(keyframe, pts.Milliseconds(), data); err != nil {
		return fmt.Errorf("trackrec: webm: %w", err)
	}
	return nil
}

func (m *webmFile) open(width, height int) error {
	f, err := os.Create(m.path)
	if err != nil {
		return fmt.Errorf("trackrec: create %s: %w", m.path, err)
	}
	ws, err := webm.NewSimpleBlockWriter(f, []webm.TrackEntry{{
		Name: "Video", TrackNumber: 1, TrackUID: 1, CodecID: "V_VP8", TrackType: 1,
		Video: &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)},
	}}, mkvcore.WithSeekHead(true), mkvcore.WithCues(cuesSpace),
		mkvcore.WithMinMaxClusterDuration(1, 2000, 10000),
		// Its own segment info: ebml-go's default is one shared *Info that
		// it writes the duration into, so two files written at once raced
		// (found by make test's race-built e2e run).
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "roomcast", WritingApp: "roomcast"}))
	if err != nil {
		f.Close()
		return fmt.Errorf("trackrec: webm header: %w", err)
	}
	m.f, m.w = f, ws[0]
	return nil
}

// close finishes the file (Cues, Duration); the writer closes the file.
func (m *webmFile) close() error {
	if m.w == nil {
		return nil
	}
	return m.w.Close()
}

// errNoKeyframe: a video file must start with a keyframe.
var errNoKeyframe = errors.New("trackrec: waiting for a keyframe")

// vp8Size reads the frame size from a VP8 keyframe (RFC 6386 §9.1); ok is
// false for an interframe.
func vp8Size(f []byte) (w, h int, ok bool) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	w = int(binary.LittleEndian.Uint16(f[6:8]) & 0x3fff)
	h = int(binary.LittleEndian.Uint16(f[8:10]) & 0x3fff)
	return w, h, true
}

// vp8Keyframe reports whether a VP8 frame is a keyframe.
func vp8Keyframe(f []byte) bool { return len(f) > 0 && f[0]&1 == 0 }
