package control

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const streamKey = "live_123456789_abcdefghijklmnop"

var streamParams = roomcast.StartParams{RTMPURLs: []string{"rtmp://127.0.0.1:1935/live/" + streamKey}, Record: true}

// newBus runs an embedded NATS with JetStream for one test.
func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Token: "test-token"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newController(t *testing.T, b *bus.Bus, opts Options) *Controller {
	t.Helper()
	signer, _ := auth.NewSigner([]byte("test-secret-0123456789"))
	if opts.BotURL == "" {
		opts.BotURL = "http://127.0.0.1:7880"
	}
	c, err := New(context.Background(), b.NC, b.JS, signer, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// fakeRunner reports started at once and runs until stopped or told to fail.
type fakeRunner struct {
	started chan jobs.Job
	fail    chan error
	stopped atomic.Int32
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{started: make(chan jobs.Job, 10), fail: make(chan error, 1)}
}

func (f *fakeRunner) Run(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome {
	dests := make([]roomcast.Destination, len(job.Params.RTMPURLs))
	for i := range dests {
		dests[i] = roomcast.Destination{URL: "redacted", State: roomcast.DestinationStarted}
	}
	report(jobs.Progress{Started: true, Destinations: dests})
	f.started <- job
	select {
	case <-ctx.Done():
		f.stopped.Add(1)
		return jobs.Outcome{}
	case err := <-f.fail:
		return jobs.Failed(err)
	}
}

func startWorker(t *testing.T, b *bus.Bus, r Runner) context.CancelFunc {
	return startWorkerWith(t, b, WorkerOptions{ID: "w1", Slots: 1}, r)
}

func startWorkerWith(t *testing.T, b *bus.Bus, opts WorkerOptions, r Runner) context.CancelFunc {
	_, cancel := runWorker(t, b, opts, r)
	return cancel
}

// runWorker runs a worker on b until the returned cancel or the test's end.
func runWorker(t *testing.T, b *bus.Bus, opts WorkerOptions, r Runner) (*Worker, context.CancelFunc) {
	t.Helper()
	w, err := NewWorker(context.Background(), b.NC, b.JS, opts, r, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w, cancel
}

func waitState(t *testing.T, c *Controller, room string, what string, cond func(roomcast.BeamState) bool) roomcast.BeamState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _, err := c.State(context.Background(), room)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; state %+v (err %v)", what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartRunStop(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	runner := newFakeRunner()
	startWorker(t, b, runner)
	ctx := context.Background()

	st, err := c.Start(ctx, "demo", streamParams)
	if err != nil {
		t.Fatal(err)
	}
	if st.RTMP.State != roomcast.StreamingStateStarting || st.Recording.Browser.State != roomcast.RecordingStateStarting || st.Recording.Browser.Running {
		t.Errorf("start returned %+v, want starting", st)
	}
	job := <-runner.started
	if job.Params.RTMPURLs[0] != streamParams.RTMPURLs[0] {
		t.Errorf("worker got %v, want the real URL", job.Params.RTMPURLs)
	}
	if !strings.HasPrefix(job.Params.MeetingURL, "http://127.0.0.1:7880/meet/demo?token=") {
		t.Errorf("meeting URL not filled in: %q", job.Params.MeetingURL)
	}
	waitState(t, c, "demo", "started", func(s roomcast.BeamState) bool {
		return s.RTMP.State == roomcast.StreamingStateStarted && s.Recording.Browser.State == roomcast.RecordingStateStarted
	})

	// Starting again conflicts and changes nothing.
	_, err = c.Start(ctx, "demo", roomcast.StartParams{Record: true})
	if code, msg := rcerr.Public(err); code != rcerr.Conflict || !strings.Contains(msg, "streaming and recording is already running") {
		t.Errorf("second start: %s %q, want conflict", code, msg)
	}

	st, err = c.Stop(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if st.RTMP.Running || st.RTMP.State != roomcast.StreamingStateStopped || st.Recording.Browser.State != roomcast.RecordingStateStopped {
		t.Errorf("after stop: %+v", st)
	}
	if runner.stopped.Load() != 1 {
		t.Errorf("runner was not stopped through its context")
	}
	st, err = c.Stop(ctx, "demo")
	if err != nil || st.Message != "nothing is running" {
		t.Errorf("second stop: %+v, %v; want 'nothing is running'", st, err)
	}
}

func TestRunnerFailureFailsTheJob(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	runner := newFakeRunner()
	startWorker(t, b, runner)
	if _, err := c.Start(context.Background(), "r", roomcast.StartParams{Record: true}); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	runner.fail <- rcerr.New(rcerr.Unavailable, "chromium did not join the room within 15s")
	st := waitState(t, c, "r", "failed", func(s roomcast.BeamState) bool {
		return s.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if st.Recording.Browser.Running || st.Recording.Browser.Error.Message != "chromium did not join the room within 15s" {
		t.Errorf("failed state %+v", st.Recording.Browser)
	}
}

// Issue 15: a start no worker can take answers resource_exhausted at once
// and leaves the room as it was: no worker at all, or only a full one.
func TestStartNoWorkerCanTakeIsRefused(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	began := time.Now()
	_, err := c.Start(context.Background(), "lonely", roomcast.StartParams{Record: true})
	if code, msg := rcerr.Public(err); code != rcerr.ResourceExhausted || !strings.Contains(msg, "no worker can take a 1280x720 job") {
		t.Fatalf("start with no worker: %s %q, want resource_exhausted", code, msg)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the refusal took %v; it should not wait out a timer", took)
	}
	if st, rev, _ := c.State(context.Background(), "lonely"); rev != 0 || st.Recording.Browser.State != roomcast.RecordingStateNone {
		t.Errorf("the refused start changed the room: %+v (revision %d)", st, rev)
	}
	runner := newFakeRunner()
	startWorker(t, b, runner) // one slot
	if _, err := c.Start(context.Background(), "first", roomcast.StartParams{Record: true}); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	_, err = c.Start(context.Background(), "second", roomcast.StartParams{Record: true})
	if code, msg := rcerr.Public(err); code != rcerr.ResourceExhausted || !strings.Contains(msg, "w1: all 1 slots are taken") {
		t.Errorf("start with the only worker full: %s %q, want resource_exhausted naming why", code, msg)
	}
}

// A worker that accepted a job and died before taking it from its queue
// fails the job after TakeTimeout, naming it.
func TestAcceptedJobNeverTakenFails(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{TakeTimeout: time.Second})
	ghost := roomcast.Worker{ID: "ghost", State: roomcast.WorkerReady, Capacity: 4, Jobs: []roomcast.WorkerJob{},
		CPU: roomcast.WorkerCPU{Limit: 4}, Memory: roomcast.WorkerMemory{LimitMB: 4000}}
	sub, err := b.NC.Subscribe(offerSubject("ghost"), func(m *nats.Msg) { m.Respond([]byte(`{"accepted":true}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ann, _ := json.Marshal(ghost)
	b.NC.Publish(workerSubject+"."+workerToken("ghost"), ann)
	if _, err := c.Start(context.Background(), "haunted", roomcast.StartParams{Record: true}); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, "haunted", "failed", func(s roomcast.BeamState) bool {
		return s.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if !strings.Contains(st.Recording.Browser.Error.Message, "worker ghost accepted the job but did not take it") {
		t.Errorf("error %+v", st.Recording.Browser.Error)
	}
}

func TestLostWorkerFailsTheJob(t *testing.T) {
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Token: "test-token", Listen: "127.0.0.1:0"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c := newController(t, b, Options{Silence: 3 * time.Second})
	// The worker has its own NATS connection, which dies with it.
	wb, err := bus.Open(context.Background(), bus.Config{URL: "nats://" + b.ListenAddr(), Token: "test-token"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	runner := newFakeRunner()
	runWorker(t, wb, WorkerOptions{ID: "doomed", Slots: 1}, runner)
	if _, err := c.Start(context.Background(), "r", roomcast.StartParams{Record: true}); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	waitState(t, c, "r", "started", func(s roomcast.BeamState) bool { return s.Recording.Browser.State == roomcast.RecordingStateStarted })
	wb.NC.Close() // the worker's machine is gone
	st := waitState(t, c, "r", "failed", func(s roomcast.BeamState) bool {
		return s.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if !strings.Contains(st.Recording.Browser.Error.Message, "worker doomed stopped sending heartbeats") {
		t.Errorf("error %+v", st.Recording.Browser.Error)
	}
}

func TestConcurrentStartsOneWins(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	startWorkerWith(t, b, WorkerOptions{ID: "big", Slots: 200, Limit: jobs.Cost{CPU: 1000, MemoryMB: 1 << 20}}, newFakeRunner())
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Start(context.Background(), "race", roomcast.StartParams{Record: true})
			if err == nil {
				wins.Add(1)
			} else if code, _ := rcerr.Public(err); code == rcerr.Conflict {
				conflicts.Add(1)
			} else {
				t.Errorf("start: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 99 {
		t.Errorf("wins %d, conflicts %d; want 1 and 99", wins.Load(), conflicts.Load())
	}
}

func TestInvalidStartChangesNothing(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	_, err := c.Start(context.Background(), "r", roomcast.StartParams{RTMPURLs: []string{"http://x/live/" + streamKey}})
	if code, msg := rcerr.Public(err); code != rcerr.InvalidArgument || !strings.Contains(msg, "rtmpURLs[0]") {
		t.Fatalf("got %s %q", code, msg)
	}
	if _, rev, _ := c.State(context.Background(), "r"); rev != 0 {
		t.Errorf("an invalid start wrote state (revision %d)", rev)
	}
}

// A state store that cannot be reached is the same failure whatever the
// request: unavailable (503, try again), never an internal error, and the
// cause's text stays in the log.
func TestStoreFailureIsUnavailableForEveryRequest(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{RecordsTracks: true, ServerID: "s1"})
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	calls := map[string]func() error{
		"Start":       func() error { _, err := c.Start(ctx, "r", streamParams); return err },
		"Stop":        func() error { _, err := c.Stop(ctx, "r"); return err },
		"State":       func() error { _, _, err := c.State(ctx, "r"); return err },
		"StartTracks": func() error { _, err := c.StartTracks(ctx, "r"); return err },
		"StopTracks":  func() error { _, err := c.StopTracks(ctx, "r"); return err },
	}
	for name, call := range calls {
		err := call()
		code, msg := rcerr.Public(err)
		if code != rcerr.Unavailable || !strings.Contains(msg, "try again") || strings.Contains(msg, "nats") {
			t.Errorf("%s with the store down: %s %q (%v); want unavailable, try again, no cause", name, code, msg, err)
		}
	}
}

// A track recording is a job like a composite one: queued for the server
// whose SFU the room is on (never for a composite worker), claimed and kept
// alive by that server's worker, stopped through any server, ended with the
// reason it was stopped for, and failed by any controller once its worker
// goes silent.
func TestTrackRecordingIsAJobOfItsServer(t *testing.T) {
	b := newBus(t)
	a := newController(t, b, Options{RecordsTracks: true, ServerID: "srv-a", TakeTimeout: time.Second})
	other := newController(t, b, Options{RecordsTracks: true, ServerID: "srv-b"})
	composite := newFakeRunner()
	startWorker(t, b, composite)
	tracks := newFakeRunner()
	stopTracks := startWorkerWith(t, b, WorkerOptions{ID: "srv-a", Kind: jobs.KindTracks, Slots: 10, ShutdownReason: ReasonShutdown}, tracks)
	ctx := context.Background()

	st, err := a.StartTracks(ctx, "r")
	if err != nil || !st.Recording.Server.Running || st.Recording.Server.State != roomcast.RecordingStateStarted {
		t.Fatalf("start: %+v, %v; want started by the time it answers", st.Recording.Server, err)
	}
	if job := <-tracks.started; job.Kind != jobs.KindTracks || job.Room != "r" {
		t.Errorf("the track worker ran %+v", job)
	}
	rec, _, _ := a.store.Get(ctx, "r")
	if rec.Tracks == nil || rec.Tracks.Worker != "srv-a" || rec.Tracks.Target != "srv-a" || rec.Job != nil {
		t.Errorf("record: tracks %+v job %+v; want the tracks job claimed by srv-a", rec.Tracks, rec.Job)
	}
	st, err = other.StopTracks(ctx, "r")
	if err != nil || st.Recording.Server.State != roomcast.RecordingStateStopped || st.Recording.Server.Reason != jobs.ReasonRequest {
		t.Fatalf("stop through the other server: %+v, %v", st.Recording.Server, err)
	}
	if tracks.stopped.Load() != 1 {
		t.Errorf("the track worker's job was stopped %d times, want once", tracks.stopped.Load())
	}

	if _, err := a.StartTracks(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	<-tracks.started
	a.RoomClosed(ctx, "r")
	st = waitState(t, a, "r", "stopped as the room closed", func(st roomcast.BeamState) bool {
		return st.Recording.Server.State == roomcast.RecordingStateStopped
	})
	if st.Recording.Server.Reason != jobs.ReasonRoomClosed {
		t.Errorf("reason %q, want %q", st.Recording.Server.Reason, jobs.ReasonRoomClosed)
	}

	if _, err := a.StartTracks(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	<-tracks.started
	stopTracks() // the server shuts down: its recordings stop, saying so
	st = waitState(t, a, "r", "stopped at shutdown", func(st roomcast.BeamState) bool {
		return st.Recording.Server.State == roomcast.RecordingStateStopped
	})
	if st.Recording.Server.Reason != ReasonShutdown {
		t.Errorf("reason %q, want %q", st.Recording.Server.Reason, ReasonShutdown)
	}
	if len(composite.started) != 0 {
		t.Errorf("the composite worker ran a track recording job")
	}

	// Nobody runs srv-a's queue now: the next start is failed by the
	// supervisor (before the start would stop waiting), naming the server.
	st, err = a.StartTracks(ctx, "r")
	if e := st.Recording.Server.Error; err != nil || st.Recording.Server.State != roomcast.RecordingStateFailed || e == nil || !strings.Contains(e.Message, "srv-a") {
		t.Fatalf("start with no track worker: %+v, %v; want failed naming srv-a", st.Recording.Server, err)
	}
}

func TestRosterListsAnnouncedWorkers(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	r, err := NewRoster(b.NC)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	runner := newFakeRunner()
	startWorkerWith(t, b, WorkerOptions{ID: "w-listed", Slots: 3}, runner)
	if _, err := c.Start(context.Background(), "listed", streamParams); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	testkit.WaitFor(t, 3*heartbeat, "the worker listed with its job", func() bool {
		ws := r.Workers()
		return len(ws) == 1 && ws[0].ID == "w-listed" && ws[0].State == roomcast.WorkerReady && ws[0].Capacity == 3 &&
			ws[0].Load == 1 && len(ws[0].Jobs) == 1 && ws[0].Jobs[0].Room == "listed"
	})
	r.mu.Lock()
	r.now = func() time.Time { return time.Now().Add(3*heartbeat + time.Second) }
	r.mu.Unlock()
	if ws := r.Workers(); len(ws) != 0 {
		t.Errorf("workers %+v after three silent heartbeats, want none", ws)
	}
}

func TestEnderIsToldAfterTheEndIsRecorded(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	runner := endingRunner{newFakeRunner(), c, make(chan roomcast.BeamState, 1)}
	startWorker(t, b, runner)
	ctx := context.Background()
	if _, err := c.Start(ctx, "demo", streamParams); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	if _, err := c.Stop(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-runner.ended:
		if st.RTMP.Running || st.RTMP.State != roomcast.StreamingStateStopped {
			t.Errorf("told of the end while the state was %+v", st.RTMP)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the runner was never told the job ended")
	}
}
