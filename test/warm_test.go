package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Issue 15: the warm sandbox serves a job of any resolution. One at a
// time, a 640x360 and then a 1280x720 recording each find a warm sandbox
// (the second one the refill the first job prepared), and each recording
// is at its size and shows the publisher's camera, not a corner of a
// larger page or a blank screen. Each job enters the meeting app the warm
// sandbox has loaded and waiting (standby) instead of loading the page.
// The start delays are logged.
func TestWarmSandboxServesAnyResolution(t *testing.T) {
	s := startServer(t, "--prewarm=true")
	beamRoom(t, s, "warm")
	c := client(t, s)
	seen := map[string]bool{}
	for i, res := range []roomcast.Resolution{{Width: 640, Height: 360}, {Width: 1280, Height: 720}} {
		want := i + 1
		testkit.WaitFor(t, 60*time.Second, "a warm sandbox ready", func() bool {
			return strings.Count(s.Logs(), "warm sandbox ready") >= want
		})
		t0 := time.Now()
		if _, err := c.StartRTMPOrRecording(context.Background(), "warm", roomcast.StartParams{Record: true, Resolution: &res}); err != nil {
			t.Fatal(err)
		}
		st := waitBeam(t, c, "warm", 30*time.Second, "recording started", func(st roomcast.BeamState) bool {
			return st.Recording.Browser.State == roomcast.RecordingStateStarted
		})
		t.Logf("%dx%d: API call → state started %v", res.Width, res.Height, st.Recording.Browser.StartedAt.Sub(t0).Round(time.Millisecond))
		if n := strings.Count(s.Logs(), "using a warm sandbox"); n != want {
			t.Errorf("%dx%d: %d jobs used a warm sandbox, want %d", res.Width, res.Height, n, want)
		}
		if n := strings.Count(s.Logs(), "entered the meeting app on standby"); n != want {
			t.Errorf("%dx%d: %d jobs entered the meeting app waiting on standby, want %d (the page was loaded instead)", res.Width, res.Height, n, want)
		}
		time.Sleep(4 * time.Second) // the recording's length
		if _, err := c.StopRTMPAndRecording(context.Background(), "warm"); err != nil {
			t.Fatal(err)
		}
		var rec roomcast.Recording
		testkit.WaitFor(t, 30*time.Second, "the recording ready", func() bool {
			recs, err := c.Recordings(context.Background(), "warm")
			for _, r := range recs {
				if err == nil && !seen[r.ID] && r.Status == roomcast.RecordingPhaseReady {
					rec = r
					return true
				}
			}
			return false
		})
		seen[rec.ID] = true
		file := download(t, s, rec)
		p, err := testkit.FFprobe(file)
		if err != nil {
			t.Fatal(err)
		}
		if codec, w, h := p.Stream("video"); codec != "h264" || w != res.Width || h != res.Height {
			t.Errorf("recording video = %s %dx%d, want h264 %dx%d", codec, w, h, res.Width, res.Height)
		}
		img := frameAt(t, file, rec.Duration/2)
		if g := greenShare(img); g < 0.3 {
			t.Errorf("%dx%d: the mid-way frame is %.0f%% green; the publisher's fake camera fills the page", res.Width, res.Height, 100*g)
		}
	}
}
