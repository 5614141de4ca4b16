package activity

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/testkit"
)

// fakeSFU is a Source whose activity the test sets.
type fakeSFU struct {
	mu sync.Mutex
	a  sfu.Activity
}

func (f *fakeSFU) Rooms() map[string][]sfu.PeerInfo { return map[string][]sfu.PeerInfo{"a.b c": nil} }

func (f *fakeSFU) Activity(room string) (sfu.Activity, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.a, room == "a.b c"
}

func (f *fakeSFU) set(a sfu.Activity) {
	f.mu.Lock()
	f.a = a
	f.mu.Unlock()
}

// TestReportsReachAWatcher: a room (with characters NATS subjects cannot
// hold) is reported each second; the watcher sees sound while it is recent,
// the video frame rate, and nothing once reports stop.
func TestReportsReachAWatcher(t *testing.T) {
	if testing.Short() {
		t.Skip("reports come once a second")
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w, err := NewWatch(nc, "a.b c")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.Latest(); ok {
		t.Fatal("a report before anything was published")
	}
	src := &fakeSFU{}
	src.set(sfu.Activity{SoundAt: time.Now(), AudioTracks: 1, VideoTracks: 1, VideoFrames: 100})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Publish(ctx, nc, src, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	testkit.WaitFor(t, 5*time.Second, "a report with sound", func() bool {
		r, ok := w.Latest()
		return ok && r.Sound && r.Room == "a.b c" && r.AudioTracks == 1
	})
	src.set(sfu.Activity{AudioTracks: 1, VideoTracks: 1, VideoFrames: 130})
	testkit.WaitFor(t, 5*time.Second, "a silent report with the frame rate", func() bool {
		r, ok := w.Latest()
		return ok && !r.Sound && r.VideoFPS > 20 && r.VideoFPS < 40
	})
	cancel()
	<-done
	testkit.WaitFor(t, 5*time.Second, "reports to go stale", func() bool {
		_, ok := w.Latest()
		return !ok
	})
}
