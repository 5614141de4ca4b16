// Package trackrec is SFU recording: every track of a room written to its
// own file as it arrives, without transcoding (Opus → Ogg, VP8 → WebM,
// H.264 → fragmented MP4), with a manifest.json that lines the files up.
// The recorder is a tap on the SFU's forwarding loop behind a bounded queue
// per track, so it never slows the call down.
package trackrec

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Tapper is the SFU as the recorder uses it.
type Tapper interface {
	SetTap(room string, t sfu.Tap) (remove func())
}

// Manager runs this server's track recording sessions, at most one per
// room, each under the id the control plane gave it.
type Manager struct {
	sfu  Tapper
	recs *recordings.Store
	log  *slog.Logger
	// Keep, when set, takes each finished recording (files indexed, still
	// processing) to its storage and marks it ready or upload_failed
	// (storage.Uploader.Upload); unset, a recording is ready once finished.
	// It runs in the background: an upload never holds up a session.
	Keep func(ctx context.Context, id string) error

	mu       sync.Mutex
	sessions map[string]*running // by room
	wg       sync.WaitGroup      // sessions being finished, uploads
}

type running struct {
	id     string
	s      *Session
	remove func()
}

// NewManager returns a Manager recording rooms of t into recs.
func NewManager(t Tapper, recs *recordings.Store, log *slog.Logger) *Manager {
	return &Manager{sfu: t, recs: recs, log: log, sessions: map[string]*running{}}
}

// Run records job's room until ctx ends (a stop, or the server shutting
// down): it is the track recording worker's control.Runner. The session's
// files are then finished in the background (Close waits for them): the
// job ends at once, the recording turns ready when its files are final. A
// session of the room under another job is finished first.
func (m *Manager) Run(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome {
	if err := m.start(job.Room, job.ID); err != nil {
		m.log.Error("start track recording", "room", job.Room, "err", err)
		return jobs.Failed(rcerr.Wrap(rcerr.Internal, err, "could not start track recording"))
	}
	report(jobs.Progress{Started: true})
	<-ctx.Done()
	m.stop(job.Room, job.ID)
	return jobs.Outcome{}
}

// start begins recording room's tracks as session id.
func (m *Manager) start(room, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.sessions[room]; r != nil {
		if r.id == id {
			return nil
		}
		m.finishLater(room, r)
	}
	now := time.Now()
	recID, dir, err := m.recs.Begin(room, roomcast.RecordingKindTracks, now)
	if err != nil {
		return err
	}
	s, err := newSession(recID, room, dir, now, m.log.With("room", room, "recording", recID))
	if err != nil {
		m.recs.SetStatus(recID, roomcast.RecordingPhaseFailed, err.Error())
		return err
	}
	m.sessions[room] = &running{id: id, s: s, remove: m.sfu.SetTap(room, s)}
	m.log.Info("track recording started", "room", room, "recording", recID)
	return nil
}

// stop finishes room's session id, if it runs here, in the background.
func (m *Manager) stop(room, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.sessions[room]; r != nil && r.id == id {
		m.finishLater(room, r)
	}
}

// Close finishes every session and waits for their uploads (shutdown).
func (m *Manager) Close() {
	m.mu.Lock()
	all := m.sessions
	m.sessions = map[string]*running{}
	m.mu.Unlock()
	for _, r := range all {
		m.finish(r)
	}
	m.wg.Wait()
}

// finishLater takes r out of the map and finishes it in the background;
// m.mu is held.
func (m *Manager) finishLater(room string, r *running) {
	delete(m.sessions, room)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.finish(r)
	}()
}

// finish detaches the session from the SFU, lets its tracks drain, indexes
// the recording and hands it to storage in the background.
func (m *Manager) finish(r *running) {
	r.remove()
	d := r.s.finish()
	m.ready(r.s.recID, d)
}

func (m *Manager) ready(recID string, d time.Duration) {
	index := m.recs.Finish
	if m.Keep != nil {
		index = m.recs.Index
	}
	if err := index(recID, d.Seconds()); err != nil {
		m.log.Warn("track recording not indexed", "recording", recID, "err", err)
		return
	}
	m.log.Info("track recording finished", "recording", recID, "duration", d.Round(time.Millisecond))
	if m.Keep != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.Keep(context.Background(), recID)
		}()
	}
}

// Recover finishes the tracks recordings a killed server left: their files
// play up to the last packet written; the length runs to the newest file's
// last write.
func (m *Manager) Recover() {
	left, err := m.recs.Unfinished()
	if err != nil {
		m.log.Warn("list unfinished recordings", "err", err)
		return
	}
	for _, rec := range left {
		if rec.Kind != roomcast.RecordingKindTracks {
			continue
		}
		dir, err := m.recs.Dir(rec.ID)
		if err != nil {
			continue
		}
		var d time.Duration
		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if info, err := e.Info(); err == nil {
					d = max(d, info.ModTime().Sub(rec.StartedAt))
				}
			}
		}
		m.log.Info("finishing a tracks recording left by a stopped server", "recording", rec.ID, "room", rec.Room)
		m.ready(rec.ID, d)
	}
}

// Rooms returns the rooms whose tracks are being recorded here.
func (m *Manager) Rooms() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.sessions))
	for room := range m.sessions {
		out = append(out, room)
	}
	return out
}
