package jobs

import (
	"testing"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// startedJob is a record whose composite job streams to urls (and records
// when record), media flowing.
func startedJob(t *testing.T, record bool, urls ...string) Record {
	t.Helper()
	r, err := Start(Record{State: roomcast.NewBeamState()}, "demo", roomcast.StartParams{RTMPURLs: urls, Record: record}, "j1", "w1", t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = Report(r, KindComposite, "j1", Progress{Started: true}, t0)
	return r
}

func TestAddDestination(t *testing.T) {
	if _, err := AddDestination(Record{State: roomcast.NewBeamState()}, "demo", "rtmp://h/live/"+key, t0); codeOf(err) != rcerr.Conflict {
		t.Errorf("add with nothing running: %v, want conflict", err)
	}
	r := startedJob(t, false, "rtmp://h/live/one-key-1234")
	r2, err := AddDestination(r, "demo", "rtmp://h/live/"+key, t0)
	if err != nil {
		t.Fatal(err)
	}
	d := r2.State.RTMP.Destinations
	if len(d) != 2 || d[1].State != roomcast.DestinationStarting || d[1].URL != "rtmp://h/live/{k0…48}" || len(r.State.RTMP.Destinations) != 1 {
		t.Fatalf("destinations after add %+v (before %+v)", d, r.State.RTMP.Destinations)
	}
	evs := Events("demo", r, r2, t0)
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamDestinationAdded || evs[0].Destination.URL != d[1].URL {
		t.Errorf("events of an add: %+v", evs)
	}
	r3, _ := AddDestination(r2, "demo", "rtmp://h/live/third-key-99", t0)
	if _, err := AddDestination(r3, "demo", "rtmp://h/live/fourth-key-99", t0); codeOf(err) != rcerr.InvalidArgument {
		t.Errorf("a fourth destination: %v, want invalid_argument", err)
	}
	// A job that only records streams from the add on, started at once.
	rec := startedJob(t, true)
	rec2, err := AddDestination(rec, "demo", "rtmp://h/live/"+key, t0.Add(5e9))
	if err != nil {
		t.Fatal(err)
	}
	if s := rec2.State.RTMP; !s.Running || s.State != roomcast.StreamingStateStarted || !s.StartedAt.Equal(t0.Add(5e9)) {
		t.Errorf("recording-only job after add: %+v", s)
	}
}

func TestRemoveDestination(t *testing.T) {
	r := startedJob(t, false, "rtmp://h/live/one-key-1234", "rtmp://h/live/two-key-5678")
	r2, err := RemoveDestination(r, "demo", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := r2.State.RTMP.Destinations; len(d) != 1 || d[0].URL != "rtmp://h/live/{tw…78}" || !r2.State.RTMP.Running {
		t.Fatalf("after removing 0: %+v", r2.State.RTMP)
	}
	evs := Events("demo", r, r2, t0)
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamDestinationRemoved || *evs[0].Index != 0 || evs[0].Destination.URL != "rtmp://h/live/{on…34}" {
		t.Errorf("events of a removal: %+v", evs)
	}
	if _, err := RemoveDestination(r2, "demo", 1); codeOf(err) != rcerr.NotFound {
		t.Errorf("remove a destination not there: %v, want not_found", err)
	}
	if _, err := RemoveDestination(r2, "demo", 0); codeOf(err) != rcerr.Conflict {
		t.Errorf("remove the last one of a job that only streams: %v, want conflict (stop instead)", err)
	}
	// Recording goes on when the last destination goes.
	rec := startedJob(t, true, "rtmp://h/live/one-key-1234")
	rec2, err := RemoveDestination(rec, "demo", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := rec2.State; s.RTMP.Running || s.RTMP.State != roomcast.StreamingStateStopped || s.RTMP.Reason != ReasonDestinationsRemoved || !s.Recording.Browser.Running {
		t.Errorf("after removing the last of a recording job: %+v", s)
	}
	if rec2.Running() != "recording" {
		t.Errorf("running: %q", rec2.Running())
	}
	// A failed destination moving up after a removal is not a new failure.
	f := startedJob(t, false, "rtmp://h/live/one-key-1234", "rtmp://h/live/two-key-5678", "rtmp://h/live/three-key-9")
	dests := append([]roomcast.Destination(nil), f.State.RTMP.Destinations...)
	dests[2].State = roomcast.DestinationFailed
	f, _ = Report(f, KindComposite, "j1", Progress{Started: true, Destinations: dests}, t0)
	f2, _ := RemoveDestination(f, "demo", 1)
	if evs := Events("demo", f, f2, t0); len(evs) != 1 || evs[0].Event != roomcast.EventBeamDestinationRemoved {
		t.Errorf("events of removing before a failed one: %v", names(evs))
	}
}
