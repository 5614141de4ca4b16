package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// A screen share from the meeting app (its Share screen button; the
// test's getDisplayMedia gives a green canvas) is a second video track of
// alice's: it takes the composite's stage in the grid layout, both
// cameras in the strip below, until she stops it and the grid comes back;
// the others see her sharing; track recording records it as kind screen,
// a file of its own showing the screen, and a second share as another.
func TestScreenShareTakesTheStage(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium", "nginx")
	ingest := testkit.StartRTMP(t)
	s := startServer(t)
	browser := newBrowser(t)
	alice := syntheticPerson(t, s, browser, "share", "alice", "#ff0000")
	bob := syntheticPerson(t, s, browser, "share", "bob", "#0000ff")
	c := client(t, s)
	ctx := testContext(t, 2*time.Minute)
	if _, err := c.StartTrackRecording(ctx, "share"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartRTMPOrRecording(ctx, "share", roomcast.StartParams{RTMPURLs: []string{ingest.URL("share-" + secretKey)},
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "share", 40*time.Second, "streaming", func(st roomcast.BeamState) bool {
		return st.RTMP.Running && allDestinations(st, roomcast.DestinationStarted)
	})
	grid := []spot{{0.25, 0.5, "red|blue"}, {0.75, 0.5, "red|blue"}}
	waitPicture(t, c, "share", "both cameras in the grid", 20*time.Second, grid)

	press(t, alice, "#share-screen")
	shared := time.Now()
	waitJS(t, alice, 10*time.Second, "!!window.roomcast.client.store.getState().localTracks.screen && document.querySelector('#share-screen').textContent === 'Stop sharing'")
	onStage := []spot{{0.5, 0.2, "green"}, {0.5, 0.5, "green"}, {0.25, 0.9, "red|blue"}, {0.75, 0.9, "red|blue"}}
	waitPicture(t, c, "share", "the screen on the stage, the cameras below", 15*time.Second, onStage)
	t.Logf("the screen took the stage %v after alice pressed Share screen", time.Since(shared).Round(100*time.Millisecond))
	waitJS(t, bob, 10*time.Second, `Object.values(window.roomcast.client.store.getState().peers).some(p => p.identity === 'alice' && p.screen) &&
		Object.values(window.roomcast.client.store.getState().tracks).some(t => t.source === 'screen')`)
	time.Sleep(3 * time.Second) // some seconds of the screen in the track recording

	press(t, alice, "#share-screen")
	waitPicture(t, c, "share", "the grid again after the share stopped", 15*time.Second, grid)
	waitJS(t, bob, 10*time.Second, `!Object.values(window.roomcast.client.store.getState().tracks).some(t => t.source === 'screen')`)

	// A second share goes out on the same slot (no renegotiation) and is
	// a file of its own in the track recording.
	press(t, alice, "#share-screen")
	waitPicture(t, c, "share", "the screen on the stage again", 15*time.Second, onStage)
	time.Sleep(2 * time.Second) // some seconds of the second share
	press(t, alice, "#share-screen")
	waitPicture(t, c, "share", "the grid after the second share", 15*time.Second, grid)

	if _, err := c.StopRTMPAndRecording(ctx, "share"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StopTrackRecording(ctx, "share"); err != nil {
		t.Fatal(err)
	}
	rec := onlyRecording(t, c, "share", roomcast.RecordingKindTracks)
	dir := t.TempDir()
	man := downloadRecording(t, s, rec, dir)
	var kinds []string
	screens := 0
	for _, tr := range man.Tracks {
		kinds = append(kinds, tr.Identity+":"+tr.Kind)
		if tr.Kind != "screen" {
			continue
		}
		screens++
		if tr.Identity != "alice" || tr.File == "" {
			t.Errorf("screen track %+v: want alice's, with a file", tr)
			continue
		}
		img := frameAt(t, filepath.Join(dir, tr.File), 1)
		if got := colorAt(img, 0.5, 0.5); got != "green" {
			t.Errorf("the screen track's file shows %s at its centre, want the green screen", got)
		}
	}
	t.Logf("track recording: %v", kinds)
	if screens != 2 || len(man.Tracks) != 6 {
		t.Errorf("track recording has %v; want alice's and bob's audio and video and two screen shares", kinds)
	}
}

// press clicks the button at sel on page.
func press(t *testing.T, page context.Context, sel string) {
	t.Helper()
	var ok bool
	eval(t, page, "(document.querySelector('"+sel+"').click(), true)", &ok)
}
