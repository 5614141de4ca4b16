package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// The host changes a live job from the meeting app's panel as the API
// would: the layout (the picture follows), a destination added (it
// receives; its key shows nowhere on the page) and removed; a refused
// add says why in the panel.
func TestHostChangesTheLiveJobFromThePanel(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium", "nginx")
	ingest := testkit.StartRTMP(t)
	s := startServer(t)
	browser := newBrowser(t)
	host := syntheticPersonAs(t, s, browser, "panel", "alice", "host", "#ff0000")
	syntheticPerson(t, s, browser, "panel", "bob", "#0000ff")
	c := client(t, s)
	a, b := ingest.URL("panel-a-"+secretKey), ingest.URL("panel-b-"+secretKey)
	if err := chromedp.Do(host,
		chromedp.Click(chromedp.CSS("#beam-toggle")),
		chromedp.SendKeys(chromedp.CSS("#rtmp-1"), a),
		chromedp.SetValue(chromedp.CSS("#resolution"), "640x360"),
		chromedp.Click(chromedp.CSS("#beam-start")),
	); err != nil {
		t.Fatalf("start from the panel: %v", err)
	}
	st := waitBeam(t, c, "panel", 40*time.Second, "streaming to A", func(st roomcast.BeamState) bool {
		return st.RTMP.Running && allDestinations(st, roomcast.DestinationStarted)
	})
	if st.Layout != roomcast.LayoutGrid {
		t.Errorf("layout %q, want the panel's default grid", st.Layout)
	}
	waitPicture(t, c, "panel", "the grid", 20*time.Second, []spot{{0.25, 0.5, "red|blue"}, {0.75, 0.5, "red|blue"}})

	// The layout, live.
	var ok bool
	eval(t, host, `(() => { const l = document.querySelector('#layout'); l.value = 'single-speaker'; l.dispatchEvent(new Event('change')); return true; })()`, &ok)
	waitBeam(t, c, "panel", 10*time.Second, "single-speaker", func(st roomcast.BeamState) bool { return st.Layout == roomcast.LayoutSingleSpeaker })
	waitPicture(t, c, "panel", "one person filling the picture", 10*time.Second, []spot{{0.1, 0.5, "red|blue"}, {0.5, 0.5, "red|blue"}, {0.9, 0.5, "red|blue"}})

	// A destination added, then removed.
	waitJS(t, host, 5*time.Second, `!document.querySelector('#add-destination').hidden`)
	if err := chromedp.Do(host, chromedp.SendKeys(chromedp.CSS("#rtmp-add"), b), chromedp.Click(chromedp.CSS("#add-url"))); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "panel", 15*time.Second, "streaming to A and B", func(st roomcast.BeamState) bool {
		return len(st.RTMP.Destinations) == 2 && allDestinations(st, roomcast.DestinationStarted)
	})
	probeURL(t, b)
	waitJS(t, host, 5*time.Second, `document.querySelectorAll('#destinations li').length === 2 && document.querySelector('#rtmp-add').value === ''`)
	var text string
	eval(t, host, `document.body.innerText + document.body.innerHTML`, &text)
	if strings.Contains(text, secretKey) {
		t.Error("the page shows a stream key")
	}
	screenshot(t, host, "host-panel-two-destinations")
	if err := chromedp.Do(host, chromedp.Click(chromedp.CSS(`#destinations button[data-remove="1"]`))); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "panel", 10*time.Second, "A only", func(st roomcast.BeamState) bool {
		return len(st.RTMP.Destinations) == 1 && st.RTMP.Running
	})
	// A refused add (the same URL again) says why in the panel.
	if err := chromedp.Do(host, chromedp.SendKeys(chromedp.CSS("#rtmp-add"), a), chromedp.Click(chromedp.CSS("#add-url"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, host, 5*time.Second, `!document.querySelector('#beam-error').hidden && document.querySelector('#beam-error').textContent.includes('url')`)
	if _, err := c.StopRTMPAndRecording(testContext(t, 30*time.Second), "panel"); err != nil {
		t.Fatal(err)
	}
}

// probeURL fails unless the ingest serves target's stream (within 10 s).
func probeURL(t *testing.T, target string) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) { // poll interval
		var p testkit.Probe
		if p, err = testkit.FFprobe(target); err == nil {
			if codec, _, _ := p.Stream("video"); codec == "h264" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ingest does not serve the added destination: %v", err)
		}
	}
}
