package composite

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/roomcast/roomcast/internal/mediatime"
)

// Timescales of the recording's tracks: MPEG-TS's 90 kHz clock for the
// picture (its times stay exact) and the sample rate for the sound.
const (
	videoTimescale = 90000
	audioTimescale = 48000
)

// fileSink is the recording: it writes the stream from the fan-out to a
// fragmented MP4 (H.264 and AAC, no re-encoding), from the first picture
// on, one fragment per GOP, each written as it completes, so a worker that
// dies leaves a file that plays to its last fragment (Finalize makes the
// plain MP4). Its queue is deep (local disk, not a network): should it
// still overflow, the picture resumes at the next keyframe.
type fileSink struct {
	path   string
	frames chan frame
	fan    *Fanout
	log    *slog.Logger

	mu  sync.Mutex
	err error // why it stopped writing; nil while it writes
}

// fileQueue is how many frames the recording may fall behind: ~25 s.
const fileQueue = 2048

func newFileSink(path string, fan *Fanout, log *slog.Logger) *fileSink {
	s := &fileSink{path: path, frames: make(chan frame, fileQueue), fan: fan, log: log}
	fan.add(s.frames)
	return s
}

// failure is why the recording stopped being written, nil while it is.
func (s *fileSink) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// run writes frames until ctx ends, then what is still queued (the fan-out
// has handed on the last frame by then), and closes the file. A write
// error ends it early; failure says why.
func (s *fileSink) run(ctx context.Context) {
	w := &mp4Writer{}
	defer func() {
		if err := w.close(); err != nil {
			s.fail(err)
		}
	}()
	for {
		select {
		case fr := <-s.frames:
			if !s.take(w, fr) {
				return
			}
		case <-ctx.Done():
			for {
				select {
				case fr := <-s.frames:
					if !s.take(w, fr) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

// take writes fr; false: the recording failed and is written no further.
func (s *fileSink) take(w *mp4Writer, fr frame) bool {
	if err := s.write(w, fr); err != nil {
		s.fail(err)
		return false
	}
	return true
}

func (s *fileSink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		s.log.Warn("the recording stopped being written", "err", err)
	}
}

// write adds one frame; the file is created at the first keyframe (the
// stream's tracks are known by then; an audio-only stream's first sound).
func (s *fileSink) write(w *mp4Writer, fr frame) error {
	if w.f == nil {
		if !fr.key {
			return nil // sound before the first picture is not kept
		}
		if err := w.open(s.path, s.fan.tracks, fr.dts); err != nil {
			return err
		}
	}
	if fr.seq != w.next && w.next != 0 {
		s.log.Warn("the recording fell behind; frames were dropped", "frames", fr.seq-w.next)
		w.resync = true
	}
	w.next = fr.seq + 1
	return w.add(fr)
}

// mp4Writer is the fragmented MP4 itself: video is track 1, audio track
// 2 (track 1 of an audio-only stream), times from the first picture's dts
// (the first sound's). A sample is complete once the
// next one of its track gives its duration; a fragment (a GOP's picture
// and the sound up to it) is written when the next keyframe arrives.
type mp4Writer struct {
	f      *os.File
	start  time.Duration // the first picture's dts: time zero of the file
	seq    uint32        // fragments written
	next   uint64        // the fan-out sequence number expected next
	resync bool          // frames were lost: the picture waits for a keyframe

	video, audio   *mp4.FullSample  // each track's latest sample, its duration unknown yet
	videoQ, audioQ []mp4.FullSample // complete samples of the fragment being built
	lastVideoDur   uint32
	audioID        uint32 // the sound's track id
}

func (w *mp4Writer) open(path string, tr tracks, start time.Duration) error {
	init := mp4.CreateEmptyInit()
	w.audioID = 1
	if tr.video != nil {
		v := init.AddEmptyTrack(videoTimescale, "video", "und")
		if err := v.SetAVCDescriptor("avc1", [][]byte{tr.sps}, [][]byte{tr.pps}, true); err != nil {
			return fmt.Errorf("composite: recording: video track: %w", err)
		}
		w.audioID = 2
	}
	asc, err := tr.audioConfig.Marshal()
	if err != nil {
		return fmt.Errorf("composite: recording: audio config: %w", err)
	}
	a := init.AddEmptyTrack(audioTimescale, "audio", "und")
	a.Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateAudioSampleEntryBox("mp4a", uint16(tr.audioConfig.ChannelCount), 16, audioTimescale, mp4.CreateEsdsBox(asc)))
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("composite: recording: %w", err)
	}
	if err := init.Encode(f); err != nil {
		f.Close()
		return fmt.Errorf("composite: recording: write %s: %w", path, err)
	}
	w.f, w.start = f, start
	return nil
}

// add takes one frame of either track.
func (w *mp4Writer) add(fr frame) error {
	if !fr.video {
		if fr.pts < w.start {
			return nil
		}
		at := uint64(mediatime.Ticks(fr.pts-w.start, audioTimescale))
		if p := w.audio; p != nil && at > p.DecodeTime {
			p.Dur = uint32(at - p.DecodeTime)
			w.audioQ = append(w.audioQ, *p)
		} else if p != nil {
			return nil // not after the last one: a repeat
		}
		w.audio = &mp4.FullSample{Sample: mp4.Sample{Flags: mp4.SyncSampleFlags, Size: uint32(len(fr.aac))}, DecodeTime: at, Data: fr.aac}
		return nil
	}
	if w.resync {
		if !fr.key {
			return nil
		}
		w.resync = false
	}
	at := uint64(mediatime.Ticks(fr.dts-w.start, videoTimescale))
	if p := w.video; p != nil {
		p.Dur = uint32(at - p.DecodeTime)
		w.lastVideoDur = p.Dur
		w.videoQ = append(w.videoQ, *p)
	}
	if fr.key {
		if err := w.flush(); err != nil {
			return err
		}
	}
	data := avcc(fr.au)
	flags := mp4.NonSyncSampleFlags
	if fr.key {
		flags = mp4.SyncSampleFlags
	}
	cto := int32(mediatime.Ticks(fr.pts-fr.dts, videoTimescale))
	w.video = &mp4.FullSample{Sample: mp4.Sample{Flags: flags, Size: uint32(len(data)), CompositionTimeOffset: cto}, DecodeTime: at, Data: data}
	return nil
}

// flush writes the complete samples as one fragment.
func (w *mp4Writer) flush() error {
	if len(w.videoQ) == 0 && len(w.audioQ) == 0 {
		return nil
	}
	var ids []uint32
	if len(w.videoQ) > 0 {
		ids = append(ids, 1)
	}
	if len(w.audioQ) > 0 {
		ids = append(ids, w.audioID)
	}
	w.seq++
	frag, err := mp4.CreateMultiTrackFragment(w.seq, ids)
	if err != nil {
		return fmt.Errorf("composite: recording: fragment: %w", err)
	}
	for _, s := range w.videoQ {
		if err := frag.AddFullSampleToTrack(s, 1); err != nil {
			return fmt.Errorf("composite: recording: fragment: %w", err)
		}
	}
	for _, s := range w.audioQ {
		if err := frag.AddFullSampleToTrack(s, w.audioID); err != nil {
			return fmt.Errorf("composite: recording: fragment: %w", err)
		}
	}
	w.videoQ, w.audioQ = w.videoQ[:0], w.audioQ[:0]
	if err := frag.Encode(w.f); err != nil {
		return fmt.Errorf("composite: recording: write: %w", err)
	}
	return nil
}

// close writes the last samples (each given its track's usual duration)
// and closes the file.
func (w *mp4Writer) close() error {
	if w.f == nil {
		return nil
	}
	if p := w.video; p != nil {
		p.Dur = max(w.lastVideoDur, videoTimescale/30)
		w.videoQ = append(w.videoQ, *p)
	}
	if p := w.audio; p != nil {
		p.Dur = 1024
		w.audioQ = append(w.audioQ, *p)
	}
	err := w.flush()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("composite: recording: %w", cerr)
	}
	return err
}

// avcc is an access unit as MP4 stores it: each NAL unit after its 4-byte
// length.
func avcc(au [][]byte) []byte {
	n := 0
	for _, nalu := range au {
		n += 4 + len(nalu)
	}
	b := make([]byte, 0, n)
	for _, nalu := range au {
		b = binary.BigEndian.AppendUint32(b, uint32(len(nalu)))
		b = append(b, nalu...)
	}
	return b
}
