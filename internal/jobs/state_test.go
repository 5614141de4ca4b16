package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestStartConflicts(t *testing.T) {
	stream := roomcast.StartParams{RTMPURLs: []string{"rtmp://h/live/" + key}}
	record := roomcast.StartParams{Record: true}
	both := roomcast.StartParams{RTMPURLs: stream.RTMPURLs, Record: true}
	tests := []struct {
		name        string
		first, then roomcast.StartParams
		want        string // conflict message part; "" means the second start is accepted
	}{
		{"stream then record", stream, record, "streaming is already running"},
		{"record then stream", record, stream, "recording is already running"},
		{"both then stream", both, stream, "streaming and recording is already running"},
		{"stream then stream", stream, stream, "streaming is already running"},
		{"record then both", record, both, "recording is already running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Start(Record{State: roomcast.NewBeamState()}, "demo", tt.first, "j1", "w1", t0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Start(r, "demo", tt.then, "j2", "w1", t0)
			code, msg := rcerr.Public(err)
			if code != rcerr.Conflict || !strings.Contains(msg, tt.want) || !strings.Contains(msg, "stop it first") {
				t.Errorf("got %s %q, want conflict with %q", code, msg, tt.want)
			}
			// After a stop, anything may start again.
			stopped, ok := Stop(r)
			if !ok {
				t.Fatal("stop reported nothing running")
			}
			if _, err := Start(stopped, "demo", tt.then, "j3", "w1", t0); err != nil {
				t.Errorf("start after stop: %v", err)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	p := roomcast.StartParams{RTMPURLs: []string{"rtmp://h:1935/live/" + key, "rtmps://y/app/" + key + "2"}, Record: true}
	r, err := Start(Record{State: roomcast.NewBeamState()}, "demo", p, "j1", "w1", t0)
	if err != nil {
		t.Fatal(err)
	}
	st := r.State
	// Starting is not running yet (SPEC §8): running means startedAt is set.
	if st.RTMP.Running || st.Recording.Browser.Running || st.RTMP.State != roomcast.StreamingStateStarting || st.Recording.Browser.State != roomcast.RecordingStateStarting {
		t.Fatalf("after start: %+v", st)
	}
	if st.RTMP.Destinations[0].URL != "rtmp://h:1935/live/{k0…48}" || strings.Contains(st.RTMP.Destinations[1].URL, key) {
		t.Errorf("destinations not redacted: %+v", st.RTMP.Destinations)
	}
	if _, err := Claim(r, KindComposite, "other", "w1", t0); !errors.Is(err, ErrStaleJob) {
		t.Errorf("claim of another job: %v", err)
	}
	r, _ = Claim(r, KindComposite, "j1", "w1", t0)
	if reason := Overdue(r, KindComposite, t0.Add(5*time.Second), time.Second, 10*time.Second); reason != "" {
		t.Errorf("claimed and fresh job is overdue: %s", reason)
	}
	now := t0.Add(2 * time.Second)
	dests := []roomcast.Destination{{URL: st.RTMP.Destinations[0].URL, State: roomcast.DestinationStarted},
		{URL: st.RTMP.Destinations[1].URL, State: roomcast.DestinationReconnecting, Error: &roomcast.DestinationError{Code: roomcast.DestinationUnreachable, Message: "connection refused"}}}
	r, err = Report(r, KindComposite, "j1", Progress{Started: true, Destinations: dests}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !r.State.RTMP.Running || r.State.RTMP.State != roomcast.StreamingStateStarted || !r.State.RTMP.StartedAt.Equal(now) ||
		!r.State.Recording.Browser.Running || r.State.Recording.Browser.StartedAt == nil ||
		r.State.Recording.Browser.State != roomcast.RecordingStateStarted || r.State.RTMP.Destinations[1].State != roomcast.DestinationReconnecting {
		t.Errorf("after started report: %+v", r.State)
	}
	if reason := Overdue(r, KindComposite, now.Add(11*time.Second), time.Second, 10*time.Second); !strings.Contains(reason, "worker w1 stopped sending heartbeats") {
		t.Errorf("silent worker: reason %q", reason)
	}
	f, err := Finish(r, KindComposite, "j1", Failed(rcerr.New(rcerr.Unavailable, "chromium exited")))
	if err != nil {
		t.Fatal(err)
	}
	if f.Job != nil || f.State.RTMP.Running || f.State.RTMP.State != roomcast.StreamingStateFailed ||
		f.State.Recording.Browser.Error == nil || f.State.Recording.Browser.Error.Message != "chromium exited" {
		t.Errorf("after failure: %+v", f.State)
	}
	if f.State.RTMP.Destinations[0].State != roomcast.DestinationStopped {
		t.Errorf("destinations not stopped: %+v", f.State.RTMP.Destinations)
	}
	if _, err := Report(f, KindComposite, "j1", Progress{}, now); !errors.Is(err, ErrStaleJob) {
		t.Errorf("report after finish: %v", err)
	}
	if st, ok := Stop(f); ok || st.State.Message != "nothing is running" {
		t.Errorf("stop with nothing running: ok=%v %+v", ok, st.State)
	}
}

func TestStreamingFailsAloneWhileRecordingGoesOn(t *testing.T) {
	p := roomcast.StartParams{RTMPURLs: []string{"rtmp://h/live/" + key}, Record: true}
	r, _ := Start(Record{State: roomcast.NewBeamState()}, "demo", p, "j1", "w1", t0)
	r, _ = Report(r, KindComposite, "j1", Progress{Started: true}, t0)
	r, _ = Report(r, KindComposite, "j1", Progress{RTMPError: &roomcast.Error{Code: "destination", Message: "every destination failed"}}, t0)
	if r.State.RTMP.Running || r.State.RTMP.State != roomcast.StreamingStateFailed || !r.State.Recording.Browser.Running {
		t.Errorf("got %+v; want streaming failed, recording running", r.State)
	}
	if _, err := Start(r, "demo", roomcast.StartParams{RTMPURLs: p.RTMPURLs}, "j2", "w1", t0); err == nil {
		t.Error("start while the recording runs was accepted")
	}
}

func TestUntakenJobIsOverdue(t *testing.T) {
	r, _ := Start(Record{State: roomcast.NewBeamState()}, "demo", roomcast.StartParams{Record: true}, "j1", "w1", t0)
	if reason := Overdue(r, KindComposite, t0.Add(31*time.Second), 30*time.Second, 10*time.Second); !strings.Contains(reason, "worker w1 accepted the job but did not take it within 30s") {
		t.Errorf("reason %q", reason)
	}
}

// TestStartedAtIsTheFirstPicture: a worker that knows when its first picture
// was captured reports that as startedAt, not the time of its report.
func TestStartedAtIsTheFirstPicture(t *testing.T) {
	r, _ := Start(Record{State: roomcast.NewBeamState()}, "demo", roomcast.StartParams{Record: true}, "j1", "w1", t0)
	first := t0.Add(1200 * time.Millisecond)
	r, err := Report(r, KindComposite, "j1", Progress{Started: true, StartedAt: &first}, t0.Add(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if b := r.State.Recording.Browser; !b.Running || b.StartedAt == nil || !b.StartedAt.Equal(first) {
		t.Errorf("recording state %+v, want running since %v", b, first)
	}
}
