package trackrec

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/roomcast/roomcast/internal/mediatime"
)

const (
	// mp4Timescale is H.264's RTP clock: sample times stay exact.
	mp4Timescale = 90000
	// fragmentLen is how much video one MP4 fragment holds at most: what a
	// killed process can lose.
	fragmentLen = time.Second
)

// mp4File writes H.264 access units (AVCC, length-prefixed NAL units) to a
// fragmented MP4: the init segment from the first keyframe's SPS/PPS, then a
// fragment at each keyframe or each second, written as it completes, so a
// killed process leaves a playable file. A frame is written once the next
// one gives its duration.
type mp4File struct {
	path     string
	f        *os.File
	seq      uint32
	frag     *mp4.Fragment
	fragAt   time.Duration
	pending  *mp4.FullSample
	lastDur  uint32
	fragSize int
}

func newMP4File(path string) *mp4File { return &mp4File{path: path} }

func (m *mp4File) writeFrame(pts time.Duration, key bool, data []byte) error {
	if m.f == nil {
		sps, pps := parameterSets(data)
		if !key || len(sps) == 0 || len(pps) == 0 {
			return errNoKeyframe
		}
		if err := m.open(sps, pps); err != nil {
			return err
		}
	}
	at := uint64(mediatime.Ticks(pts, mp4Timescale))
	if p := m.pending; p != nil {
		p.Dur = uint32(at - p.DecodeTime)
		m.lastDur = p.Dur
		if err := m.add(*p, key, pts); err != nil {
			return err
		}
	}
	flags := mp4.NonSyncSampleFlags
	if key {
		flags = mp4.SyncSampleFlags
	}
	m.pending = &mp4.FullSample{Sample: mp4.Sample{Flags: flags, Size: uint32(len(data))}, DecodeTime: at, Data: data}
	return nil
}

func (m *mp4File) open(sps, pps [][]byte) error {
	init := mp4.CreateEmptyInit()
	trak := init.AddEmptyTrack(mp4Timescale, "video", "und")
	if err := trak.SetAVCDescriptor("avc1", sps, pps, true); err != nil {
		return fmt.Errorf("trackrec: mp4 descriptor: %w", err)
	}
	f, err := os.Create(m.path)
	if err != nil {
		return fmt.Errorf("trackrec: create %s: %w", m.path, err)
	}
	if err := init.Encode(f); err != nil {
		f.Close()
		return fmt.Errorf("trackrec: mp4 init: %w", err)
	}
	m.f = f
	return nil
}

// add puts s in the current fragment; the fragment is written first when
// the next frame is a keyframe or it is full.
func (m *mp4File) add(s mp4.FullSample, nextKey bool, nextAt time.Duration) error {
	if m.frag == nil {
		m.seq++
		frag, err := mp4.CreateFragment(m.seq, 1)
		if err != nil {
			return fmt.Errorf("trackrec: mp4 fragment: %w", err)
		}
		m.frag, m.fragAt = frag, mediatime.Duration(int64(s.DecodeTime), mp4Timescale)
	}
	m.frag.AddFullSample(s)
	if nextKey || nextAt-m.fragAt >= fragmentLen {
		return m.flush()
	}
	return nil
}

func (m *mp4File) flush() error {
	if m.frag == nil {
		return nil
	}
	err := m.frag.Encode(m.f)
	m.frag = nil
	if err != nil {
		return fmt.Errorf("trackrec: mp4 write: %w", err)
	}
	return nil
}

func (m *mp4File) close() error {
	if m.f == nil {
		return nil
	}
	if p := m.pending; p != nil {
		p.Dur = max(m.lastDur, mp4Timescale/30)
		if err := m.add(*p, true, 0); err != nil {
			m.f.Close()
			return err
		}
	}
	return m.f.Close()
}

// parameterSets returns the SPS and PPS NAL units of an AVCC access unit.
func parameterSets(au []byte) (sps, pps [][]byte) {
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		if n == 0 || n > len(au)-4 {
			break
		}
		nalu := au[4 : 4+n]
		switch nalu[0] & 0x1f {
		case 7:
			sps = append(sps, nalu)
		case 8:
			pps = append(pps, nalu)
		}
		au = au[4+n:]
	}
	return sps, pps
}

// h264Keyframe reports whether an AVCC access unit holds an IDR slice.
func h264Keyframe(au []byte) bool {
	for len(au) >= 4 {
		n := int(binary.BigEndian.Uint32(au))
		if n == 0 || n > len(au)-4 {
			return false
		}
		if au[4]&0x1f == 5 {
			return true
		}
		au = au[4+n:]
	}
	return false
}
