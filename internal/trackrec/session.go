package trackrec

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/sfu"
)

// Session records every track of one room into one recording directory.
// It is the room's sfu.Tap.
type Session struct {
	recID   string
	room    string
	dir     string
	started time.Time
	log     *slog.Logger

	mu       sync.Mutex
	manifest Manifest
	tracks   map[*track]int // index in manifest.Tracks
	closed   bool
	wg       sync.WaitGroup
}

func newSession(recID, room, dir string, started time.Time, log *slog.Logger) (*Session, error) {
	s := &Session{recID: recID, room: room, dir: dir, started: started, log: log, tracks: map[*track]int{},
		manifest: Manifest{Version: 1, RecordingID: recID, Room: room, StartedAt: started.UTC(), Tracks: []ManifestTrack{}}}
	if err := writeManifest(dir, s.manifest); err != nil {
		return nil, err
	}
	return s, nil
}

// TrackPublished starts recording a track (sfu.Tap).
func (s *Session) TrackPublished(info sfu.TrackInfo, keyframe func()) sfu.TrackSink {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	n := len(s.manifest.Tracks)
	entry := ManifestTrack{ID: info.ID, PeerID: info.PeerID, Identity: info.Identity,
		Kind: kindName(info), Codec: info.Codec.MimeType,
		StartOffsetMs: time.Since(s.started).Milliseconds()}
	file, name, err := s.openFile(n, info)
	if err != nil {
		entry.Error, entry.Ended = err.Error(), true
		s.manifest.Tracks = append(s.manifest.Tracks, entry)
		s.saveLocked()
		s.log.Warn("track not recorded", "track", info.ID, "codec", info.Codec.MimeType, "err", err)
		return nil
	}
	entry.File = name
	s.manifest.Tracks = append(s.manifest.Tracks, entry)
	s.saveLocked()
	t := newTrack(info, file, keyframe, s.log, s.trackEnded)
	s.tracks[t] = n
	s.wg.Add(1)
	go t.run()
	s.log.Info("recording track", "track", info.ID, "peer", info.PeerID, "file", name)
	return t
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// openFile creates track n's file: NN-identity-kind.ext.
func (s *Session) openFile(n int, info sfu.TrackInfo) (frameFile, string, error) {
	if _, _, ok := depacketizer(info.Codec.MimeType); !ok {
		return nil, "", fmt.Errorf("codec %s is not recorded (Opus, VP8 and H.264 are)", info.Codec.MimeType)
	}
	who := unsafeName.ReplaceAllString(info.Identity, "_")
	if len(who) > 40 {
		who = who[:40]
	}
	if info.Kind == webrtc.RTPCodecTypeAudio {
		name := fmt.Sprintf("%02d-%s-audio.ogg", n, who)
		f, err := newOggFile(filepath.Join(s.dir, name), info.Codec.Channels)
		return f, name, err
	}
	if strings.EqualFold(info.Codec.MimeType, webrtc.MimeTypeH264) {
		name := fmt.Sprintf("%02d-%s-%s.mp4", n, who, kindName(info))
		return newMP4File(filepath.Join(s.dir, name)), name, nil
	}
	name := fmt.Sprintf("%02d-%s-%s.webm", n, who, kindName(info))
	return newWebMFile(filepath.Join(s.dir, name)), name, nil
}

// kindName is the manifest's kind of a track: audio, video, or screen for
// a screen share.
func kindName(info sfu.TrackInfo) string {
	if info.Screen {
		return "screen"
	}
	return info.Kind.String()
}

// trackEnded puts a finished track's numbers in the manifest.
func (s *Session) trackEnded(t *track) {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.manifest.Tracks[s.tracks[t]]
	st := t.stats
	e.Ended, e.Frames, e.LostPackets, e.DroppedPackets = true, st.frames, st.lost, t.dropped.Load()
	e.DurationMs = st.duration(t.clock).Milliseconds()
	if !st.firstArrival.IsZero() {
		e.StartOffsetMs = st.firstArrival.Sub(s.started).Milliseconds()
		e.EndOffsetMs = st.lastArrival.Sub(s.started).Milliseconds()
	}
	if !st.rtpStart.IsZero() {
		ms := st.rtpStart.Sub(s.started).Milliseconds()
		e.RTPStartOffsetMs = &ms
	}
	if st.err != nil {
		e.Error = st.err.Error()
	}
	if st.frames == 0 && e.File != "" {
		// Nothing playable arrived (no packets, or video without a keyframe):
		// no file rather than an empty one.
		os.Remove(filepath.Join(s.dir, e.File))
		e.File = ""
		if e.Error == "" {
			e.Error = "no media was recorded (nothing arrived, or no video keyframe)"
		}
	}
	s.saveLocked()
}

func (s *Session) saveLocked() {
	if err := writeManifest(s.dir, s.manifest); err != nil {
		s.log.Warn("track recorder manifest", "err", err)
	}
}

// finish waits for every track to end (the tap must be removed first) and
// writes the final manifest; it returns the recording's length.
func (s *Session) finish() time.Duration {
	s.mu.Lock()
	s.closed = true
	for t := range s.tracks {
		t.Close() // in case a track attached while the tap was being removed
	}
	s.mu.Unlock()
	s.wg.Wait()
	end := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := end.UTC()
	s.manifest.EndedAt = &t
	s.saveLocked()
	return end.Sub(s.started)
}
