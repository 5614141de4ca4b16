package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Roster keeps the composite workers' announcements (Worker.advertise,
// every heartbeat) for GET /v1/workers: a worker silent for three
// heartbeats is gone.
type Roster struct {
	sub *nats.Subscription
	now func() time.Time

	nc *nats.Conn

	mu    sync.Mutex
	seen  map[string]announced // by worker id
	heard chan struct{}        // closed (and replaced) at each announcement
}

type announced struct {
	w  roomcast.Worker
	at time.Time
}

// NewRoster listens for worker announcements on nc until Close.
func NewRoster(nc *nats.Conn) (*Roster, error) {
	r := &Roster{nc: nc, now: time.Now, seen: map[string]announced{}, heard: make(chan struct{})}
	sub, err := nc.Subscribe(workerSubject+".*", func(m *nats.Msg) {
		var w roomcast.Worker
		if json.Unmarshal(m.Data, &w) != nil || w.ID == "" {
			return
		}
		r.mu.Lock()
		r.seen[w.ID] = announced{w: w, at: r.now()}
		close(r.heard)
		r.heard = make(chan struct{})
		r.mu.Unlock()
	})
	if err != nil {
		return nil, fmt.Errorf("control: worker roster: %w", err)
	}
	r.sub = sub
	return r, nil
}

// Workers returns the workers heard from within three heartbeats, by id.
func (r *Roster) Workers() []roomcast.Worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []roomcast.Worker{}
	for id, a := range r.seen {
		if r.now().Sub(a.at) > 3*heartbeat {
			delete(r.seen, id)
			continue
		}
		out = append(out, a.w)
	}
	slices.SortFunc(out, func(a, b roomcast.Worker) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// rollCallWait is how long a roll call waits for a first answer, and
// rollCallSettle how long it then waits for the others.
const (
	rollCallWait   = 300 * time.Millisecond
	rollCallSettle = 50 * time.Millisecond
)

// rollCall asks every worker to announce itself now and returns at the
// first announcement (or after rollCallWait, or when ctx ends).
func (r *Roster) rollCall(ctx context.Context) {
	r.mu.Lock()
	heard := r.heard
	r.mu.Unlock()
	if err := r.nc.Publish(rollCallSubject, nil); err != nil {
		return
	}
	t := time.NewTimer(rollCallWait)
	defer t.Stop()
	select {
	case <-heard: // others answer within moments
		settle := time.NewTimer(rollCallSettle)
		defer settle.Stop()
		select {
		case <-settle.C:
		case <-ctx.Done():
		}
	case <-t.C:
	case <-ctx.Done():
	}
}

// awaitChange returns once one of workers announces itself (its job ended
// and freed its place), or after timeout, or when ctx ends.
func (r *Roster) awaitChange(ctx context.Context, workers []string, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		r.mu.Lock()
		heard := r.heard
		before := map[string]time.Time{}
		for _, id := range workers {
			before[id] = r.seen[id].at
		}
		r.mu.Unlock()
		select {
		case <-heard:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		changed := false
		for _, id := range workers {
			changed = changed || r.seen[id].at != before[id]
		}
		r.mu.Unlock()
		if changed {
			return
		}
	}
}

// Close stops listening.
func (r *Roster) Close() { r.sub.Unsubscribe() }
