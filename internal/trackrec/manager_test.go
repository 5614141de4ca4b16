package trackrec

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type fakeTapper struct{ taps map[string]sfu.Tap }

func (f fakeTapper) SetTap(room string, t sfu.Tap) func() {
	f.taps[room] = t
	return func() { delete(f.taps, room) }
}

// State changes arrive late and out of step with local calls: a session
// ends only for a newer state without it, or for a stop naming it.
func TestManagerEndsOnlyTheSessionAsked(t *testing.T) {
	recs, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tap := fakeTapper{taps: map[string]sfu.Tap{}}
	m := NewManager(tap, recs, slog.New(slog.DiscardHandler))
	if _, err := m.Start("r", "s2", 10); err != nil {
		t.Fatal(err)
	}
	m.Want("r", "", 9) // a revision from before s2 started
	m.Stop("r", "s1")  // a stop for an older session
	if got := m.Sessions()["r"]; got != "s2" || tap.taps["r"] == nil {
		t.Fatalf("session = %q (tap set: %v), want s2 still recording", got, tap.taps["r"] != nil)
	}
	m.Want("r", "", 11) // a newer revision without it
	m.Close()           // waits for the background finish
	if len(m.Sessions()) != 0 || tap.taps["r"] != nil {
		t.Fatalf("sessions %v after a newer state without s2", m.Sessions())
	}
	list, _ := recs.List("r")
	if len(list) != 1 || list[0].Status != roomcast.RecordingPhaseReady || list[0].Kind != roomcast.RecordingKindTracks {
		t.Errorf("recordings = %+v, want one ready tracks recording", list)
	}
}
