package control

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// stateBucket is the JetStream KV bucket of per-room beam records.
const stateBucket = "roomcast_beam"

// Store keeps each room's jobs.Record in NATS JetStream KV, so every server
// process reads the same truth, and changes them by compare-and-swap.
type Store struct {
	kv     jetstream.KeyValue
	events *webhook.Publisher // nil: no webhook events
	log    *slog.Logger
	// dieAfterWrite (tests) leaves the outbox unflushed, as a process that
	// dies right after its compare-and-swap would.
	dieAfterWrite bool
}

// OpenStore creates the bucket if needed.
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      stateBucket,
		Description: "roomcast: streaming and recording state per room",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("control: state bucket: %w", err)
	}
	return &Store{kv: kv}, nil
}

// roomKey encodes a room name into the KV key alphabet.
func roomKey(room string) string { return "r." + base64.RawURLEncoding.EncodeToString([]byte(room)) }

func keyRoom(key string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, "r."))
	return string(b), err == nil && strings.HasPrefix(key, "r.")
}

// Get returns room's record and its revision; a room never seen has the
// empty state and revision 0.
func (s *Store) Get(ctx context.Context, room string) (jobs.Record, uint64, error) {
	e, err := s.kv.Get(ctx, roomKey(room))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return jobs.Record{State: roomcast.NewBeamState()}, 0, nil
	}
	if err != nil {
		return jobs.Record{}, 0, rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("control: read state of %q: %w", room, err), "could not read the room's state; try again")
	}
	rec, err := decode(e.Value())
	return rec, e.Revision(), err
}

func decode(b []byte) (jobs.Record, error) {
	var rec jobs.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("control: decode state: %w", err)
	}
	if rec.State.RTMP.Destinations == nil {
		rec.State.RTMP.Destinations = []roomcast.Destination{}
	}
	return rec, nil
}

// Update applies fn to room's record and writes the result if nobody wrote
// in between; otherwise it reads again and retries. An error from fn is
// returned as is and nothing is written. Get and Update fail as
// unavailable (503: try again) when the store cannot be read or written,
// whichever request it was.
func (s *Store) Update(ctx context.Context, room string, fn func(jobs.Record) (jobs.Record, error)) (jobs.Record, uint64, error) {
	for {
		cur, rev, err := s.Get(ctx, room)
		if err != nil {
			return cur, 0, err
		}
		next, err := fn(cur)
		if err != nil {
			return cur, rev, err
		}
		next.State.Message = "" // messages answer one request; they are not state
		if s.events != nil {
			next = stage(room, cur, next, rev, time.Now().UTC())
		}
		b, err := json.Marshal(next)
		if err != nil {
			return cur, rev, fmt.Errorf("control: encode state: %w", err)
		}
		if rev == 0 {
			rev, err = s.kv.Create(ctx, roomKey(room), b)
		} else {
			rev, err = s.kv.Update(ctx, roomKey(room), b, rev)
		}
		switch {
		case err == nil:
			if len(next.Outbox) > 0 && !s.dieAfterWrite {
				s.flush(context.WithoutCancel(ctx), room, next.Outbox)
			}
			return next, rev, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // lost the race: read the winner's record and decide again
		case ctx.Err() != nil:
			return cur, 0, ctx.Err()
		default:
			return cur, 0, rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("control: write state of %q: %w", room, err), "could not write the room's state; try again")
		}
	}
}

// Await returns room's record once cond holds for it (checked now and on
// every change), or ctx's error when it ends first.
func (s *Store) Await(ctx context.Context, room string, cond func(jobs.Record) bool) (jobs.Record, error) {
	w, err := s.kv.Watch(ctx, roomKey(room))
	if err != nil {
		return jobs.Record{}, rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("control: watch state of %q: %w", room, err), "could not read the room's state; try again")
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return jobs.Record{}, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return jobs.Record{}, ctx.Err()
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // the end of the current values, or a deletion
			}
			if rec, err := decode(e.Value()); err == nil && cond(rec) {
				return rec, nil
			}
		}
	}
}

// Watch calls fn with every room's record now and on every change, until
// ctx ends.
func (s *Store) Watch(ctx context.Context, fn func(room string, rec jobs.Record, rev uint64)) error {
	w, err := s.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("control: watch state: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("control: state watch closed")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // nil marks the end of the initial values
			}
			room, ok := keyRoom(e.Key())
			if !ok {
				continue
			}
			if rec, err := decode(e.Value()); err == nil {
				fn(room, rec, e.Revision())
			}
		}
	}
}
