package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A new user's first hour, in real Chromium: the dashboard at / (no login:
// the server listens on loopback only) creates a room's links; the host
// link joins the meeting; the room shows up live with its peer; a bad
// destination is refused with the API's message; Start records it (with
// a picture of the output), Stop ends it; the recording
// is listed ready and plays in the page past 2 s; Delete (pressed twice)
// removes it.
func TestDashboardFirstHour(t *testing.T) {
	need(t, "Xvfb", "pulseaudio", "ffmpeg", "chromium")
	s := startServer(t)
	browser := newBrowser(t)
	dash := newPage(t, browser, s.URL+"/")
	waitJS(t, dash, 15*time.Second, "window.dashboard.ready === true && !document.querySelector('#app').hidden")
	if err := chromedp.Do(dash, chromedp.SendKeys(chromedp.CSS("#room-name"), "firsthour"), chromedp.Click(chromedp.CSS("#create-room"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, dash, 10*time.Second, "document.querySelectorAll('#links li').length === 3")
	var hostLink string
	eval(t, dash, "document.querySelector('#links li[data-role=host] code').textContent", &hostLink)
	screenshot(t, dash, "dashboard-links")

	person := newPage(t, browser, hostLink)
	clickJoin(t, person)
	waitJS(t, person, 20*time.Second, "!!window.roomcast.client.store.getState().localTracks.video")
	card := `document.querySelector('.room-card[data-room="firsthour"]')`
	waitJS(t, dash, 10*time.Second, card+` && `+card+`.querySelector('.peers').textContent.includes('host (host)')`)

	// A bad destination is refused with the API's message, naming the field.
	if err := chromedp.Do(dash, chromedp.SendKeys(chromedp.CSS(`.room-card[data-room="firsthour"] .rtmp`), "http://example.com/live/x"),
		chromedp.Click(chromedp.CSS(`.room-card[data-room="firsthour"] .beam-start`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, dash, 10*time.Second, `(() => { const e = `+card+`.querySelector('.error'); return !e.hidden && e.textContent.includes('rtmpURLs[0]'); })()`)
	var ok bool
	eval(t, dash, `(() => { const c = `+card+`; c.querySelector('.rtmp').value = ''; c.querySelector('.resolution').value = '640x360'; return true; })()`, &ok)
	if err := chromedp.Do(dash, chromedp.Click(chromedp.CSS(`.room-card[data-room="firsthour"] .beam-start`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, dash, 40*time.Second, card+`.querySelector('.badges').textContent.includes('REC started')`)
	waitJS(t, dash, 10*time.Second, `(() => { const i = `+card+`.querySelector('.thumb'); return !i.hidden && i.complete && i.naturalWidth === 640; })()`)
	screenshot(t, dash, "dashboard-live")
	time.Sleep(4 * time.Second) // the recording's length
	if err := chromedp.Do(dash, chromedp.Click(chromedp.CSS(`.room-card[data-room="firsthour"] .beam-stop`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, dash, 60*time.Second, `window.dashboard.recordings.some(r => r.room === 'firsthour' && r.status === 'ready')
		&& !!document.querySelector('#recordings tbody tr .play')`)
	if err := chromedp.Do(dash, chromedp.Click(chromedp.CSS("#recordings tbody tr .play"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, dash, 20*time.Second, "document.querySelector('#player').currentTime > 2")
	screenshot(t, dash, "dashboard-playing")

	for range 2 { // Delete, then Really delete?
		if err := chromedp.Do(dash, chromedp.Click(chromedp.CSS("#recordings tbody tr .delete"))); err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, dash, 10*time.Second, "window.dashboard.recordings.length === 0 && !document.querySelector('#no-recordings').hidden")
}
