package jobs

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func names(evs []roomcast.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Event)
	}
	return out
}

func TestEvents(t *testing.T) {
	p := roomcast.StartParams{RTMPURLs: []string{"rtmp://h/live/" + key, "rtmp://h/live/other-key-1234"}, Record: true}
	r0 := Record{State: roomcast.NewBeamState()}
	r1, _ := Start(r0, "demo", p, "j1", "w1", t0)
	if evs := Events("demo", r0, r1, t0); len(evs) != 0 {
		t.Errorf("start request: events %v, want none until media flows", names(evs))
	}
	r2, _ := Report(r1, KindComposite, "j1", Progress{Started: true}, t0.Add(1500*time.Millisecond))
	evs := Events("demo", r1, r2, t0.Add(1500*time.Millisecond))
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamStarted || evs[0].StartDelayMs != 1500 {
		t.Fatalf("started: %+v", evs)
	}
	if evs := Events("demo", r2, r2, t0); len(evs) != 0 {
		t.Errorf("no change: events %v", names(evs))
	}
	dests := append([]roomcast.Destination(nil), r2.State.RTMP.Destinations...)
	dests[1].State, dests[1].Error = roomcast.DestinationFailed, &roomcast.DestinationError{Code: roomcast.DestinationKeyRejected, Message: "refused"}
	r3, _ := Report(r2, KindComposite, "j1", Progress{Started: true, Destinations: dests}, t0)
	evs = Events("demo", r2, r3, t0)
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamDestinationFailed || evs[0].Destination.URL != "rtmp://h/live/{ot…34}" {
		t.Fatalf("destination failed: %+v", evs)
	}
	if e := evs[0]; e.Destination.Error.Code != roomcast.DestinationKeyRejected || e.Error == nil || e.Error.Code != "destination" || e.Error.Message != "refused" {
		t.Errorf("destination failed event: destination error %+v, error %+v; want the destination's code and its message", e.Destination.Error, e.Error)
	}
	stopped, _ := Stop(r3)
	evs = Events("demo", r3, stopped, t0)
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamStopped || evs[0].Reason != ReasonRequest {
		t.Fatalf("stopped: %+v", evs)
	}
	failed, _ := Finish(r3, KindComposite, "j1", Failed(rcerr.New(rcerr.Unavailable, "chromium crashed")))
	evs = Events("demo", r3, failed, t0)
	if len(evs) != 1 || evs[0].Event != roomcast.EventBeamFailed || evs[0].Error.Message != "chromium crashed" {
		t.Fatalf("failed: %+v", evs)
	}
	auto, _ := Finish(r3, KindComposite, "j1", Stopped("the room had nobody publishing for 1m0s"))
	if evs := Events("demo", r3, auto, t0); len(evs) != 1 || evs[0].Reason != "the room had nobody publishing for 1m0s" {
		t.Fatalf("auto stop: %+v", evs)
	}
}

// TestWarningWhenHealthTurnsBad: beam.warning once when the output loses the
// room's sound (with the health), not again while it stays so, not for
// quiet, and the health is gone from the state when the job ends.
func TestWarningWhenHealthTurnsBad(t *testing.T) {
	p := roomcast.StartParams{Record: true}
	r0, _ := Start(Record{State: roomcast.NewBeamState()}, "demo", p, "j1", "w1", t0)
	r1, _ := Report(r0, KindComposite, "j1", Progress{Started: true, Health: &roomcast.Health{Audio: roomcast.AudioOK, Video: roomcast.VideoOK, Since: t0}}, t0)
	steps := []struct {
		audio roomcast.AudioHealth
		video roomcast.VideoHealth
		want  int
	}{
		{roomcast.AudioQuiet, roomcast.VideoOK, 0},
		{roomcast.AudioLost, roomcast.VideoOK, 1},
		{roomcast.AudioLost, roomcast.VideoOK, 0},
		{roomcast.AudioLost, roomcast.VideoFrozen, 1},
		{roomcast.AudioOK, roomcast.VideoOK, 0},
	}
	prev := r1
	for i, s := range steps {
		h := &roomcast.Health{Audio: s.audio, Video: s.video, Since: t0.Add(time.Duration(i) * time.Second)}
		next, err := Report(prev, KindComposite, "j1", Progress{Health: h}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if next.State.Health == nil || *next.State.Health != *h {
			t.Fatalf("step %d: state health %+v, want %+v", i, next.State.Health, h)
		}
		evs := Events("demo", prev, next, t0)
		if len(evs) != s.want || s.want == 1 && (evs[0].Event != roomcast.EventBeamWarning || *evs[0].Health != *h) {
			t.Errorf("step %d (%s/%s): events %+v, want %d beam.warning", i, s.audio, s.video, evs, s.want)
		}
		prev = next
	}
	if end, _ := Finish(prev, KindComposite, "j1", Outcome{}); end.State.Health != nil {
		t.Errorf("health %+v after the job ended", end.State.Health)
	}
}
