package logging

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Repeated warnings are limited to repeatBurst records per (level, message)
// per repeatWindow: a client that makes the server warn in a loop (garbage
// signaling messages, a flood of bad requests) must not be able to fill the
// disk or bury the warnings that matter.
const (
	repeatBurst  = 5
	repeatWindow = 10 * time.Second
	// maxRepeatKeys bounds the table; messages are constants, so it only
	// fills if some caller builds messages from input.
	maxRepeatKeys = 1024
)

// limitHandler passes records below WARN through and at most burst records
// per (level, message) per window at WARN and above. The first record of a
// key after a window with suppressed records is preceded by one saying how
// many were dropped. It starts no goroutine.
type limitHandler struct {
	next  slog.Handler
	state *limitState // shared with the handlers WithAttrs and WithGroup derive
}

type limitKey struct {
	level slog.Level
	msg   string
}

type limitEntry struct {
	start      time.Time // when the current window began
	n          int       // records of the key in the window
	suppressed int       // of which dropped
}

type limitState struct {
	burst  int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[limitKey]*limitEntry
}

func newLimitHandler(next slog.Handler, burst int, window time.Duration) *limitHandler {
	return &limitHandler{next: next, state: &limitState{burst: burst, window: window, now: time.Now,
		keys: map[limitKey]*limitEntry{}}}
}

// Enabled reports whether next handles level.
func (h *limitHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle writes r unless its key has used up the window.
func (h *limitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	pass, dropped := h.state.admit(limitKey{r.Level, r.Message})
	if dropped > 0 {
		note := slog.NewRecord(r.Time, r.Level, "repeated log message suppressed", 0)
		note.AddAttrs(slog.String("message", r.Message), slog.Int("suppressed", dropped),
			slog.Duration("window", h.state.window))
		if err := h.next.Handle(ctx, note); err != nil {
			return err
		}
	}
	if !pass {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler with attrs that shares the limits of h.
func (h *limitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &limitHandler{next: h.next.WithAttrs(attrs), state: h.state}
}

// WithGroup returns a handler in group name that shares the limits of h.
func (h *limitHandler) WithGroup(name string) slog.Handler {
	return &limitHandler{next: h.next.WithGroup(name), state: h.state}
}

// admit counts one record of k. It reports whether the record may pass and,
// when k's previous window is over, how many records that window dropped.
// The lock is never held while writing.
func (s *limitState) admit(k limitKey) (pass bool, dropped int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.keys[k]
	if e == nil {
		if len(s.keys) >= maxRepeatKeys {
			s.pruneLocked(now)
		}
		if len(s.keys) >= maxRepeatKeys {
			return true, 0 // too many distinct messages to track: not limited
		}
		e = &limitEntry{start: now}
		s.keys[k] = e
	}
	if now.Sub(e.start) >= s.window {
		dropped = e.suppressed
		*e = limitEntry{start: now}
	}
	e.n++
	if e.n > s.burst {
		e.suppressed++
		return false, dropped
	}
	return true, dropped
}

// pruneLocked forgets keys whose window is over; their suppressed counts
// are lost, which only happens when the table is full.
func (s *limitState) pruneLocked(now time.Time) {
	for k, e := range s.keys {
		if now.Sub(e.start) >= s.window {
			delete(s.keys, k)
		}
	}
}
