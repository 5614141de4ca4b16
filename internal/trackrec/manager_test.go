package trackrec

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fakeTapper struct {
	mu   *sync.Mutex
	taps map[string]sfu.Tap
}

func (f fakeTapper) SetTap(room string, t sfu.Tap) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.taps[room] = t
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.taps[room] == t {
			delete(f.taps, room)
		}
	}
}

// tap is room r's tap now.
func (f fakeTapper) tap(t *testing.T) sfu.Tap {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.taps["r"]
}

// A session ends when its job's context does, with its files indexed; a
// job for a room that still records under an older job finishes that one
// first, and each job's outcome says it stopped.
func TestManagerRunsOneSessionPerRoom(t *testing.T) {
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tap := fakeTapper{mu: new(sync.Mutex), taps: map[string]sfu.Tap{}}
	m := NewManager(tap, recs, slog.New(slog.DiscardHandler))
	run := func(id string) (context.CancelFunc, <-chan jobs.Outcome, <-chan jobs.Progress) {
		ctx, cancel := context.WithCancel(context.Background())
		done, reports := make(chan jobs.Outcome, 1), make(chan jobs.Progress, 1)
		go func() {
			done <- m.Run(ctx, jobs.Job{ID: id, Kind: jobs.KindTracks, Room: "r"}, func(p jobs.Progress) { reports <- p })
		}()
		return cancel, done, reports
	}
	stop1, done1, reports1 := run("s1")
	if p := <-reports1; !p.Started {
		t.Fatalf("first report %+v, want started", p)
	}
	first := tap.tap(t)
	stop2, done2, reports2 := run("s2") // s1's job lost its state meanwhile
	<-reports2
	if second := tap.tap(t); second == first {
		t.Fatal("the second job records through the first one's tap")
	}
	stop1() // its session was already finished: nothing more to do
	if out := <-done1; out.Failed() {
		t.Errorf("first job: %v", out)
	}
	stop2()
	if out := <-done2; out.Failed() {
		t.Errorf("second job: %v", out)
	}
	m.Close()
	if tap.tap(t) != nil {
		t.Error("the room still has a tap after both jobs ended")
	}
	list, _ := recs.List("r")
	if len(list) != 2 || list[0].Status != roomcast.RecordingPhaseReady || list[1].Status != roomcast.RecordingPhaseReady || list[0].Kind != roomcast.RecordingKindTracks {
		t.Errorf("recordings = %+v, want two ready tracks recordings", list)
	}
}
