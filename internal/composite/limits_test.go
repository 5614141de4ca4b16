package composite

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func TestMaxDuration(t *testing.T) {
	job := func(sec int) jobs.Job { return jobs.Job{Params: roomcast.StartParams{MaxDuration: sec}} }
	tests := []struct {
		name   string
		server time.Duration
		job    int
		want   time.Duration
	}{
		{"no limit", 0, 0, 0},
		{"server cap", time.Hour, 0, time.Hour},
		{"job shorter wins", time.Hour, 90, 90 * time.Second},
		{"job longer is capped", time.Minute, 90, time.Minute},
		{"job's own limit only", 0, 30, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Runner{MaxDuration: tt.server}
			if got := r.maxDuration(job(tt.job)); got != tt.want {
				t.Errorf("maxDuration = %v, want %v", got, tt.want)
			}
		})
	}
}

// fakePublishers is a room whose publisher count the test sets.
type fakePublishers struct{ n atomic.Int32 }

func (f *fakePublishers) Publishers(context.Context) int { return int(f.n.Load()) }

func TestLimitsEndAJobAtItsMaxDuration(t *testing.T) {
	r := &Runner{MaxDuration: time.Hour, EmptyTimeout: time.Hour}
	room := &fakePublishers{}
	room.n.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auto := make(chan jobs.Outcome, 1)
	start := time.Now()
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		r.limits(ctx, room, r.maxDuration(jobs.Job{Params: roomcast.StartParams{MaxDuration: 1}}), auto)
	})
	select {
	case out := <-auto:
		if out.Failed() || !strings.Contains(out.Reason, "maximum duration of 1s") {
			t.Fatalf("auto stop %v; want the maximum duration of 1s", out)
		}
		if took := time.Since(start); took < time.Second || took > 3*time.Second {
			t.Errorf("stopped after %v; want about 1s", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not end at its maxDuration")
	}
}

func TestLimitsEndAnEmptyRoom(t *testing.T) {
	r := &Runner{EmptyTimeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	auto := make(chan jobs.Outcome, 1)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { r.limits(ctx, &fakePublishers{}, time.Hour, auto) })
	select {
	case out := <-auto:
		if out.Failed() || !strings.Contains(out.Reason, "nobody publishing for 1s") {
			t.Fatalf("auto stop %v; want the room-empty policy", out)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the empty room did not end the job")
	}
}
