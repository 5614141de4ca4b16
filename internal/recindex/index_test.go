package recindex

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// process is one roomcast process's recordings: its own store (its disk)
// and its index on the shared NATS.
func process(t *testing.T, b *bus.Bus, owner string) (*recordings.Store, *Index) {
	t.Helper()
	store, err := recordings.Open(filepath.Join(t.TempDir(), "recordings"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := Open(context.Background(), b.NC, b.JS, store, owner, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.Close)
	return store, x
}

// A recording made on one process (a worker with its own disk) is listed
// by another (serve), read from it over NATS byte for byte (in several
// chunks), and deleted through it; once its owner is gone, reading it says
// so.
func TestRecordingOfAnotherProcess(t *testing.T) {
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	workerStore, worker := process(t, b, "worker-1")
	_, serve := process(t, b, "serve-1")
	ctx := context.Background()

	id, dir, err := workerStore.Begin("demo", roomcast.RecordingKindComposite, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	media := make([]byte, 3*chunk+12345)
	rand.Read(media)
	if err := os.WriteFile(filepath.Join(dir, "composite.mp4"), media, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := workerStore.Finish(id, 4.2); err != nil {
		t.Fatal(err)
	}
	recs, err := serve.List(ctx, "demo")
	if err != nil || len(recs) != 1 || recs[0].ID != id || recs[0].Status != roomcast.RecordingPhaseReady || len(recs[0].Files) != 1 {
		t.Fatalf("serve lists %+v, %v; want the worker's ready recording with its file", recs, err)
	}
	if other, _ := serve.List(ctx, "elsewhere"); len(other) != 0 {
		t.Errorf("another room lists %+v", other)
	}
	f, size, err := serve.Open(ctx, id, "composite.mp4")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || size != int64(len(media)) || !bytes.Equal(got, media) {
		t.Fatalf("read %d of %d bytes (size %d), equal %v, err %v", len(got), len(media), size, bytes.Equal(got, media), err)
	}
	if _, _, err := serve.Open(ctx, id, "../secret"); err == nil {
		t.Error("a file the recording does not list was served")
	} else if code, _ := rcerr.Public(err); code != rcerr.NotFound {
		t.Errorf("a file it does not list: %v, want not_found", err)
	}

	if err := serve.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the worker still has %s: %v", dir, err)
	}
	if _, err := serve.Get(ctx, id); err == nil {
		t.Error("the deleted recording is still listed")
	}

	// A recording whose owner is gone stays listed; its files wait for it.
	id2, dir2, _ := workerStore.Begin("demo", roomcast.RecordingKindComposite, time.Now())
	os.WriteFile(filepath.Join(dir2, "composite.mp4"), media[:100], 0o644)
	workerStore.Finish(id2, 1)
	worker.Close()
	if _, err := serve.Get(ctx, id2); err != nil {
		t.Errorf("the stopped worker's recording is not listed: %v", err)
	}
	_, _, err = serve.Open(ctx, id2, "composite.mp4")
	if code, msg := rcerr.Public(err); code != rcerr.Unavailable || msg == "" {
		t.Errorf("reading from a stopped worker: %v, want unavailable saying so", err)
	}
}
