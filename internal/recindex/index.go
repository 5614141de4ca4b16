// Package recindex is the fleet's one recordings index: every process
// (serve and each `roomcast worker`) mirrors its recordings.Store into a
// JetStream KV bucket (roomcast_recordings, one key per recording, with the
// process that holds its files), so every serve lists every recording. A
// file is read from this process's disk, from object storage when the
// recording was uploaded (the API redirects), or else from the process that
// has it, over NATS in chunks; a delete goes to that process too.
package recindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const bucket = "roomcast_recordings"

// entry is a recording as the bucket keeps it.
type entry struct {
	roomcast.Recording
	Owner string `json:"owner"` // the process whose disk has the files
}

// Index is the fleet's recordings, as the API reads them (api.Recordings).
type Index struct {
	kv    jetstream.KeyValue
	nc    *nats.Conn
	local *recordings.Store
	owner string
	log   *slog.Logger

	subs []*nats.Subscription
	wg   sync.WaitGroup // mirror writes in flight
}

// Open opens the bucket, answers the fleet's file reads and deletes of
// local's recordings as owner (this process's id), mirrors every change of
// local from now on and puts what local already has. Close stops it.
func Open(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, local *recordings.Store, owner string, log *slog.Logger) (*Index, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Description: "roomcast: every recording of the fleet",
		Storage: jetstream.FileStorage, History: 1})
	if err != nil {
		return nil, fmt.Errorf("recindex: bucket: %w", err)
	}
	x := &Index{kv: kv, nc: nc, local: local, owner: owner, log: log}
	if err := x.serve(); err != nil {
		return nil, err
	}
	local.Notify(x.changed, x.deleted)
	recs, err := local.List("")
	if err != nil {
		x.Close()
		return nil, err
	}
	for _, r := range recs {
		x.put(ctx, r)
	}
	return x, nil
}

// Close stops answering for this process's recordings (they stay listed)
// and waits for mirror writes in flight.
func (x *Index) Close() {
	for _, s := range x.subs {
		s.Unsubscribe()
	}
	x.wg.Wait()
}

func (x *Index) changed(r roomcast.Recording) {
	x.wg.Add(1)
	defer x.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	x.put(ctx, r)
}

func (x *Index) put(ctx context.Context, r roomcast.Recording) {
	b, _ := json.Marshal(entry{Recording: r, Owner: x.owner})
	if _, err := x.kv.Put(ctx, r.ID, b); err != nil {
		// Listed elsewhere once it changes again or this process restarts.
		x.log.Warn("could not list the recording for the fleet", "recording", r.ID, "err", err)
	}
}

func (x *Index) deleted(id string) {
	x.wg.Add(1)
	defer x.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := x.kv.Purge(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		x.log.Warn("could not unlist the deleted recording", "recording", id, "err", err)
	}
}

// List returns the fleet's recordings of room (all when room is ""),
// newest first.
func (x *Index) List(ctx context.Context, room string) ([]roomcast.Recording, error) {
	keys, err := x.kv.ListKeys(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	out := []roomcast.Recording{}
	for k := range keys.Keys() {
		e, err := x.entry(ctx, k)
		if err != nil {
			continue // deleted meanwhile
		}
		if room == "" || e.Room == room {
			out = append(out, e.Recording)
		}
	}
	slices.SortFunc(out, func(a, b roomcast.Recording) int { return b.StartedAt.Compare(a.StartedAt) })
	return out, nil
}

// Get returns recording id, not_found when the fleet has none.
func (x *Index) Get(ctx context.Context, id string) (roomcast.Recording, error) {
	e, err := x.entry(ctx, id)
	return e.Recording, err
}

func (x *Index) entry(ctx context.Context, id string) (entry, error) {
	if !validID(id) {
		return entry{}, notFound(id)
	}
	kve, err := x.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry{}, notFound(id)
	}
	if err != nil {
		return entry{}, unavailable(err)
	}
	var e entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return entry{}, fmt.Errorf("recindex: %s: %w", id, err)
	}
	return e, nil
}

// Delete removes recording id and its files, wherever they are.
func (x *Index) Delete(ctx context.Context, id string) error {
	e, err := x.entry(ctx, id)
	if err != nil {
		return err
	}
	if e.Owner == x.owner {
		return x.local.Delete(id)
	}
	if _, err := x.ask(ctx, e, "delete", nil); err != nil {
		code, _ := rcerr.Public(err)
		if code != rcerr.Unavailable || e.Location == "" {
			return err
		}
		// Its files are in object storage (the API deleted them there);
		// the owner that is gone kept no media of it, only its listing.
		if err := x.kv.Purge(ctx, id); err != nil {
			return unavailable(err)
		}
	}
	return nil
}

func validID(id string) bool {
	return id != "" && len(id) <= 64 && !strings.ContainsAny(id, ".*> /\\")
}

func notFound(id string) error {
	return rcerr.New(rcerr.NotFound, "no recording with id %q; list them with GET /v1/recordings", id)
}

func unavailable(err error) error {
	return rcerr.Wrap(rcerr.Unavailable, err, "could not read the recordings index; try again")
}
