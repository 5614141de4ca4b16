package trackrec

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// opusClock is Opus's RTP clock rate (RFC 7587 §4.1), whatever the audio's.
const opusClock = 48000

// lossFrame is an Opus packet of one empty 20 ms CELT frame (TOC config 31,
// code 0): decoders conceal it, and it keeps the file's timeline when
// packets were lost or the sender paused (DTX).
var lossFrame = []byte{31 << 3}

const lossFrameDur = 20 * time.Millisecond

// preSkipFrames is pion's oggwriter's pre-skip (3840 samples) in loss frames.
const preSkipFrames = 3840 / (opusClock / 1000 * 20)

// oggFile writes Opus frames to an Ogg Opus file, one page per frame, each
// written straight to the file so a killed process leaves a playable file.
type oggFile struct {
	w       *oggwriter.OggWriter
	written time.Duration // audio written so far, gaps filled
}

func newOggFile(path string, channels uint16) (*oggFile, error) {
	if channels == 0 {
		channels = 2
	}
	// New (not NewWith) keeps the file handle, so Close can mark the last
	// page end-of-stream.
	w, err := oggwriter.New(path, opusClock, channels)
	if err != nil {
		return nil, fmt.Errorf("trackrec: create %s: %w", path, err)
	}
	// The writer declares a pre-skip of 80 ms (RFC 7845 §5.1), which players
	// drop from the start: it is covered with empty frames, so no recorded
	// audio is skipped and the file's timeline starts at the first packet.
	for range preSkipFrames {
		if err := w.WriteRTP(&rtp.Packet{Payload: lossFrame}); err != nil {
			w.Close()
			return nil, fmt.Errorf("trackrec: ogg: %w", err)
		}
	}
	return &oggFile{w: w}, nil
}

func (o *oggFile) writeFrame(pts time.Duration, _ bool, data []byte) error {
	for pts-o.written >= lossFrameDur {
		if err := o.w.WriteRTP(&rtp.Packet{Payload: lossFrame}); err != nil {
			return fmt.Errorf("trackrec: ogg: %w", err)
		}
		o.written += lossFrameDur
	}
	d, err := opusDuration(data)
	if err != nil {
		return err
	}
	if err := o.w.WriteRTP(&rtp.Packet{Payload: data}); err != nil {
		return fmt.Errorf("trackrec: ogg: %w", err)
	}
	o.written += d
	return nil
}

// close marks the last page end-of-stream; the writer closes the file.
func (o *oggFile) close() error { return o.w.Close() }

var errBadOpus = errors.New("trackrec: malformed Opus packet")

// opusDuration is the audio length of one Opus packet (RFC 6716 §3.1).
func opusDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errBadOpus
	}
	toc := p[0]
	config := toc >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [...]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = [...]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [...]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	n := 1
	switch toc & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, errBadOpus
		}
		n = int(p[1] & 0x3f)
	}
	return frame * time.Duration(n), nil
}
