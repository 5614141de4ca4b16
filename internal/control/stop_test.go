package control

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Stopping and draining: a stop's answer, a start that waits for a job
// winding down, a stop that races the claim, a drain's deadline.

// A draining worker takes no new job (another worker does), lets its job go
// on until the deadline, then stops it as "worker drained".
func TestDrainedWorkerStopsItsJobsAtTheDeadline(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	runner := newFakeRunner()
	w, _ := runWorker(t, b, WorkerOptions{ID: "draining", Slots: 2}, runner)
	if _, err := c.Start(context.Background(), "old", streamParams); err != nil {
		t.Fatal(err)
	}
	<-runner.started

	const deadline = 1500 * time.Millisecond
	drained := make(chan time.Time)
	began := time.Now()
	go func() { w.Drain(deadline); drained <- time.Now() }()
	testkit.WaitFor(t, 5*time.Second, "draining", w.Draining)
	other := newFakeRunner()
	startWorkerWith(t, b, WorkerOptions{ID: "other", Slots: 1}, other)
	testkit.WaitFor(t, 5*time.Second, "the other worker announced", func() bool {
		return slices.ContainsFunc(c.Roster().Workers(), func(w roomcast.Worker) bool { return w.ID == "other" })
	})
	if _, err := c.Start(context.Background(), "new", streamParams); err != nil {
		t.Fatal(err)
	}
	if job := <-other.started; job.Room != "new" {
		t.Errorf("the other worker ran %q, want the new job", job.Room)
	}
	if busy, _ := w.Load(); busy != 1 {
		t.Errorf("the draining worker runs %d jobs, want only its old one", busy)
	}
	end := <-drained
	if took := end.Sub(began); took < deadline {
		t.Errorf("Drain returned after %v, before its %v deadline while a job ran", took, deadline)
	}
	st, _, _ := c.State(context.Background(), "old")
	if st.RTMP.State != roomcast.StreamingStateStopped || st.RTMP.Reason != ReasonDrained {
		t.Errorf("old job after the drain: %s %q, want stopped, %q", st.RTMP.State, st.RTMP.Reason, ReasonDrained)
	}
	if stopped, failed := w.Ended(); stopped != 1 || failed != 0 {
		t.Errorf("ended: %d stopped, %d failed; want 1 stopped", stopped, failed)
	}
}

// The roster lists the workers that announce themselves, with their jobs,
// and forgets one silent for three heartbeats.

// A stopped job that takes longer than the silence limit to wind down (its
// files flushed) keeps its heartbeats: it ends stopped, not failed as lost.
func TestSlowStopKeepsTheJobAlive(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{Silence: 2 * time.Second, StopTimeout: 10 * time.Second})
	started := make(chan struct{}, 1)
	startWorker(t, b, RunnerFunc(func(ctx context.Context, _ jobs.Job, report func(jobs.Progress)) jobs.Outcome {
		report(jobs.Progress{Started: true})
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(3*heartbeat + time.Second) // longer than Silence
		return jobs.Outcome{}
	}))
	if _, err := c.Start(context.Background(), "slow", streamParams); err != nil {
		t.Fatal(err)
	}
	<-started
	st, err := c.Stop(context.Background(), "slow")
	if err != nil || st.RTMP.State != roomcast.StreamingStateStopped || st.RTMP.Error != nil {
		t.Fatalf("slow stop: %s %+v, %v; want stopped", st.RTMP.State, st.RTMP.Error, err)
	}
}

// endingRunner is a fakeRunner that records the room's state when told a
// job's end is recorded.
type endingRunner struct {
	*fakeRunner
	c     *Controller
	ended chan roomcast.BeamState
}

func (r endingRunner) Ended(job jobs.Job) {
	st, _, _ := r.c.State(context.Background(), job.Room)
	r.ended <- st
}

// A runner with work to do after a job (a recording turning ready) hears
// of the job's end only once it is recorded, so beam.stopped is queued
// before recording.ready.

// A drain asked over NATS (the API's POST /v1/workers/{id}/drain) reaches
// the worker: it answers draining, takes no new job, and tells its owner
// (DrainRequested) to run Drain; an unknown worker is not_found.
func TestDrainWorkerByRequest(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	w, _ := runWorker(t, b, WorkerOptions{ID: "w1", Slots: 4}, newFakeRunner())
	testkit.WaitFor(t, 5*time.Second, "the worker announced", func() bool { return len(c.Workers()) == 1 })
	got, err := c.DrainWorker(context.Background(), "w1")
	if err != nil || got.ID != "w1" || got.State != roomcast.WorkerDraining {
		t.Fatalf("drain: %+v, %v; want w1 draining", got, err)
	}
	select {
	case <-w.DrainRequested():
	case <-time.After(5 * time.Second):
		t.Fatal("the worker's owner was not told to drain")
	}
	_, err = c.Start(context.Background(), "late", roomcast.StartParams{Record: true})
	if code, msg := rcerr.Public(err); code != rcerr.ResourceExhausted || !strings.Contains(msg, "w1: draining") {
		t.Errorf("start with the only worker draining: %s %q", code, msg)
	}
	if _, err := c.DrainWorker(context.Background(), "nope"); err == nil {
		t.Error("draining an unknown worker succeeded")
	} else if code, _ := rcerr.Public(err); code != rcerr.NotFound {
		t.Errorf("draining an unknown worker: %v, want not_found", err)
	}
}

// A start while the only worker's job is stopping (its media still
// flushing) waits for the place to free instead of being refused.
func TestStartWaitsForAStoppingJob(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	winding := make(chan struct{}, 1)
	startWorker(t, b, RunnerFunc(func(ctx context.Context, _ jobs.Job, report func(jobs.Progress)) jobs.Outcome {
		report(jobs.Progress{Started: true})
		<-ctx.Done()
		select {
		case winding <- struct{}{}:
		default:
		}
		time.Sleep(time.Second) // the last seconds flushed
		return jobs.Outcome{}
	}))
	testkit.WaitFor(t, 5*time.Second, "the worker announced", func() bool { return len(c.Workers()) == 1 })
	if _, err := c.Start(context.Background(), "a", roomcast.StartParams{Record: true}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, "a", "started", func(s roomcast.BeamState) bool { return s.Recording.Browser.Running })
	stopped := make(chan error, 1)
	go func() { _, err := c.Stop(context.Background(), "a"); stopped <- err }()
	<-winding
	began := time.Now()
	if _, err := c.Start(context.Background(), "b", roomcast.StartParams{Record: true}); err != nil {
		t.Fatalf("start while the other job stops: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the start waited %v", took)
	}
	if err := <-stopped; err != nil {
		t.Error(err)
	}
}

// A stop that comes as the worker claims the job (the API's read sees no
// worker yet, its write sees one) still stops it on the worker, and
// returns once the slot is free: the next start on a one-slot worker is
// not refused (the job ran on, holding the slot, until its next report).
func TestStopAsTheWorkerClaimsFreesTheSlot(t *testing.T) {
	b := newBus(t)
	c := newController(t, b, Options{})
	var runs atomic.Int32
	startWorker(t, b, RunnerFunc(func(ctx context.Context, _ jobs.Job, _ func(jobs.Progress)) jobs.Outcome {
		runs.Add(1)
		defer runs.Add(-1)
		<-ctx.Done() // no report: only a stop ends it
		return jobs.Outcome{}
	}))
	testkit.WaitFor(t, 5*time.Second, "the worker announced", func() bool { return len(c.Workers()) == 1 })
	for i := range 25 {
		for _, room := range []string{"a", "b"} {
			if _, err := c.Start(context.Background(), room, roomcast.StartParams{Record: true}); err != nil {
				t.Fatalf("round %d: start %s right after a stop: %v", i, room, err)
			}
			if _, err := c.Stop(context.Background(), room); err != nil {
				t.Fatalf("round %d: stop %s: %v", i, room, err)
			}
		}
	}
	testkit.WaitFor(t, 5*time.Second, "no job runs on", func() bool { return runs.Load() == 0 })
}
