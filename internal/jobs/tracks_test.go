package jobs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func TestTrackRecordingTransitions(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Record{State: roomcast.NewBeamState()}
	r.State.RTMP.Running, r.State.RTMP.State = true, roomcast.StreamingStateStarted // streaming runs: track recording is independent of it

	r, err := StartTracks(r, "a", "t1", "srv", now)
	if err != nil || r.State.Recording.Server.Running || r.State.Recording.Server.State != roomcast.RecordingStateStarting {
		t.Fatalf("start: %+v, %v", r.State.Recording.Server, err)
	}
	if _, err := StartTracks(r, "a", "t2", "srv", now); codeOf(err) != rcerr.Conflict {
		t.Fatalf("second start: %v, want conflict", err)
	}
	if why := Overdue(r, KindTracks, now.Add(31*time.Second), 30*time.Second, 10*time.Second); !strings.Contains(why, "srv") || !strings.Contains(why, "did not start") {
		t.Errorf("untaken after 31 s = %q, want the server that did not start it named", why)
	}
	if _, err := Claim(r, KindTracks, "other", "srv", now); !errors.Is(err, ErrStaleJob) {
		t.Fatalf("claim of another session: %v, want ErrStaleJob", err)
	}
	r, _ = Claim(r, KindTracks, "t1", "srv", now)
	if r.Job != nil || r.Tracks.Worker != "srv" {
		t.Fatalf("claimed: job %+v tracks %+v; want only the tracks job claimed", r.Job, r.Tracks)
	}
	r, _ = Report(r, KindTracks, "t1", Progress{Started: true}, now)
	if s := r.State.Recording.Server; !s.Running || s.State != roomcast.RecordingStateStarted || !s.StartedAt.Equal(now) {
		t.Fatalf("started: %+v", s)
	}
	if r.Running() != "streaming" {
		t.Errorf("Running() = %q: track recording must not count for the beam's conflict rule", r.Running())
	}
	if why := Overdue(r, KindTracks, now.Add(5*time.Second), time.Second, 10*time.Second); why != "" {
		t.Errorf("overdue after 5 s of a 10 s silence: %q", why)
	}
	if why := Overdue(r, KindTracks, now.Add(11*time.Second), time.Second, 10*time.Second); !strings.Contains(why, "srv") || !strings.Contains(why, "went silent") {
		t.Errorf("overdue after 11 s = %q, want the silent server named", why)
	}
	r, _ = Report(r, KindTracks, "t1", Progress{}, now.Add(11*time.Second))
	if why := Overdue(r, KindTracks, now.Add(12*time.Second), time.Second, 10*time.Second); why != "" {
		t.Errorf("overdue right after a heartbeat: %q", why)
	}
	r, ok := StopTracks(r, ReasonRequest)
	if s := r.State.Recording.Server; !ok || s.Running || s.State != roomcast.RecordingStateStopped || s.Reason != ReasonRequest || r.Tracks != nil {
		t.Fatalf("stop: ok %v %+v", ok, s)
	}
	if !r.State.RTMP.Running {
		t.Error("stopping track recording stopped streaming")
	}
	if r, ok := StopTracks(r, ReasonRequest); ok || r.State.Message != "track recording is not running" {
		t.Errorf("stop again: ok %v message %q", ok, r.State.Message)
	}
	r, _ = StartTracks(r, "a", "t3", "srv", now)
	if _, err := Finish(r, KindComposite, "t3", Failed(rcerr.New(rcerr.Unavailable, "disk gone"))); !errors.Is(err, ErrStaleJob) {
		t.Errorf("finishing the tracks job as a composite one: %v, want ErrStaleJob", err)
	}
	r, _ = Finish(r, KindTracks, "t3", Failed(rcerr.New(rcerr.Unavailable, "disk gone")))
	if s := r.State.Recording.Server; s.State != roomcast.RecordingStateFailed || s.Error == nil || s.Error.Message != "disk gone" {
		t.Errorf("failed: %+v", s)
	}
}

func codeOf(err error) rcerr.Code {
	code, _ := rcerr.Public(err)
	return code
}
