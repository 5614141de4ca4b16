package control

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// queued counts the events in the webhook stream, by event name.
func queued(t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "ROOMCAST_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var ev roomcast.Event
		json.Unmarshal(m.Data, &ev)
		n[ev.Event]++
	}
	return n
}

// started moves a room to a started job through s, as a worker's report
// would.
func started(t *testing.T, s *Store, room string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if _, _, err := s.Update(ctx, room, func(r jobs.Record) (jobs.Record, error) {
		return jobs.Start(r, room, roomcast.StartParams{Record: true}, "job1", "w1", now)
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, room, func(r jobs.Record) (jobs.Record, error) {
		r, err := jobs.Claim(r, jobs.KindComposite, "job1", "w1", now)
		if err != nil {
			return r, err
		}
		return jobs.Report(r, jobs.KindComposite, "job1", jobs.Progress{Started: true}, now)
	}); err != nil {
		t.Fatal(err)
	}
}

// Issue 14: a process that dies between the state change and queueing its
// webhook event loses nothing: the event waits in the room's record, and
// another process (here, one started afterwards) queues it, once, however
// many processes try.
func TestEventsSurviveADeathBetweenChangeAndDelivery(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	events, err := webhook.NewPublisher(ctx, b.JS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	dying, err := OpenStore(ctx, b.JS)
	if err != nil {
		t.Fatal(err)
	}
	dying.events, dying.log, dying.dieAfterWrite = events, quiet, true
	started(t, dying, "crash")
	if n := queued(t, b.JS)[roomcast.EventBeamStarted]; n != 0 {
		t.Fatalf("%d beam.started queued by the dying process; want 0 (the test would prove nothing)", n)
	}
	rec, _, _ := dying.Get(ctx, "crash")
	if len(rec.Outbox) != 1 {
		t.Fatalf("outbox %+v; want the beam.started event", rec.Outbox)
	}

	newController(t, b, Options{Events: events}) // the next process
	testkit.WaitFor(t, 10*time.Second, "beam.started queued by the next process", func() bool {
		return queued(t, b.JS)[roomcast.EventBeamStarted] == 1
	})
	// A third process flushing the same outbox late queues no copy.
	dying.dieAfterWrite = false
	dying.flush(ctx, "crash", rec.Outbox)
	if n := queued(t, b.JS)[roomcast.EventBeamStarted]; n != 1 {
		t.Errorf("beam.started queued %d times; want exactly once", n)
	}
	testkit.WaitFor(t, 5*time.Second, "the outbox to be emptied", func() bool {
		r, _, _ := dying.Get(ctx, "crash")
		return len(r.Outbox) == 0
	})
}

// On the normal path the writer queues its events at once and clears the
// outbox.
func TestWriterQueuesItsEventsAtOnce(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	events, err := webhook.NewPublisher(ctx, b.JS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctx, b.JS)
	if err != nil {
		t.Fatal(err)
	}
	s.events, s.log = events, quiet
	started(t, s, "normal")
	if n := queued(t, b.JS)[roomcast.EventBeamStarted]; n != 1 {
		t.Errorf("beam.started queued %d times; want 1", n)
	}
	if r, _, _ := s.Get(ctx, "normal"); len(r.Outbox) != 0 {
		t.Errorf("outbox left: %+v", r.Outbox)
	}
}
