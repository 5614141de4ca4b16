package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// TestLiveMonitorTellsQuietFromLost: the live monitor compares the job's
// output with what the room's SFU receives. While the publisher beeps the
// output's sound is ok; when the beam's own audio sink is muted (the
// pipeline loses the sound the room has) it turns lost and beam.warning
// fires with that health; unmuted it is ok again; when the publisher goes
// silent it is quiet, which is no warning.
func TestLiveMonitorTellsQuietFromLost(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "pactl", "ffmpeg", "chromium")
	fx := beepFixtures(t, 24, 14)
	hooks := newHookReceiver(t)
	s := startServer(t, "--webhook-url", hooks.URL)
	hooks.secret = []byte(strings.TrimSpace(readFile(t, filepath.Join(s.data, "secret"))))
	pub := joinPublisher(t, s, "mon", "speaker", true, true)
	sending := make(chan struct{})
	go func() { defer close(sending); pub.send(t, fx, 24*time.Second) }()
	c := client(t, s)
	params := roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}
	if _, err := c.StartRTMPOrRecording(context.Background(), "mon", params); err != nil {
		t.Fatal(err)
	}
	health := func(what string, audio roomcast.AudioHealth) roomcast.Health {
		t.Helper()
		st := waitBeam(t, c, "mon", 10*time.Second, what, func(st roomcast.BeamState) bool {
			return st.Health != nil && st.Health.Audio == audio
		})
		t.Logf("%s: %+v (%.1fs after the publisher started)", what, *st.Health, time.Since(pub.firstSent).Seconds())
		return *st.Health
	}
	health("the room beeps, the output carries it", roomcast.AudioOK)

	sink := pulseOf(t, s)
	pactl(t, sink, "set-sink-mute", "beam", "1")
	lost := health("the beam's sink muted", roomcast.AudioLost)
	if lost.Video != roomcast.VideoOK {
		t.Errorf("video health %s while the picture moves", lost.Video)
	}
	warn := waitEvent(t, hooks, roomcast.EventBeamWarning, 10*time.Second)
	if warn.Health == nil || warn.Health.Audio != roomcast.AudioLost || warn.Room != "mon" {
		t.Errorf("beam.warning = %+v, want the room's health with audio lost", warn)
	}
	pactl(t, sink, "set-sink-mute", "beam", "0")
	health("unmuted", roomcast.AudioOK)

	// The beeps end 14 s into the publisher's media: the room is quiet.
	deadline := pub.firstSent.Add(14 * time.Second)
	time.Sleep(time.Until(deadline))
	health("the publisher went silent", roomcast.AudioQuiet)
	for _, e := range hooks.all() {
		if e.Event == roomcast.EventBeamWarning && e.Health != nil && e.Health.Audio == roomcast.AudioQuiet {
			t.Errorf("a quiet room raised a warning: %+v", e)
		}
	}
	if _, err := c.StopRTMPAndRecording(context.Background(), "mon"); err != nil {
		t.Fatal(err)
	}
	<-sending
}

// pulseOf finds the running job's PulseAudio socket under the server's
// data dir (jobs/<job id>/run/pulse.sock).
func pulseOf(t *testing.T, s *server) string {
	t.Helper()
	socks, _ := filepath.Glob(filepath.Join(s.data, "jobs", "*", "run", "pulse.sock"))
	if len(socks) != 1 {
		t.Fatalf("found %d job audio servers (%v), want 1", len(socks), socks)
	}
	return socks[0]
}

func pactl(t *testing.T, sock string, args ...string) {
	t.Helper()
	cmd := exec.Command("pactl", append([]string{"--server", "unix:" + sock}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pactl %v: %v\n%s", args, err, out)
	}
}

// waitEvent waits for the first webhook event named name.
func waitEvent(t *testing.T, h *hookReceiver, name string, timeout time.Duration) roomcast.Event {
	t.Helper()
	var found roomcast.Event
	testkit.WaitFor(t, timeout, "a "+name+" webhook", func() bool {
		for _, e := range h.all() {
			if e.Event == name {
				found = e
				return true
			}
		}
		return false
	})
	return found
}
