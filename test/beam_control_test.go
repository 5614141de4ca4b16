package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/roomcast/roomcast/internal/testkit"
)

// secretKey is a stream key that must never show up outside the job.
const secretKey = "sk-live-2f9c41d7e8a6b3"

// A host starts streaming and recording from the meeting app; every peer,
// including one joining later, sees the state change through the SDK store.
// The only worker takes jobs and never starts them, so the job stays
// "starting" until stopped: the test is about the control plane, not the
// media.
func TestHostStartsFromMeetingAppPeersSeeState(t *testing.T) {
	s := startServer(t, "--worker-slots", "0", "--nats-listen", "127.0.0.1:0")
	startFakeWorkers(t, "nats://"+s.NATS, 1, "--data", s.data, "--never-start")
	mgmt := s.token(t, "--management")
	testkit.WaitFor(t, 10*time.Second, "the worker listed", func() bool { return len(workers(t, s, mgmt)) == 1 })
	browser := newBrowser(t)
	host := joinPage(t, s, browser, "live", "alice", "host")
	guest := joinPage(t, s, browser, "live", "bob", "guest")
	waitJS(t, guest, 15*time.Second, "window.roomcast.joined === true")

	// The guest records every recording state the store tells it about.
	var ok bool
	eval(t, guest, `(async () => {
		const sdk = await import('/sdk/roomcast.js');
		window.seen = [];
		window.seenServer = [];
		window.roomcast.client.store.subscribe(r => {
			window.seen.push(r.browser.state);
			window.seenServer.push(r.server.state);
		}, sdk.selectRecordingState);
		return true;
	})()`, &ok)

	// Only the host sees the Stream / Record control.
	var guestHasControl bool
	eval(t, guest, `!document.querySelector('#beam-toggle').hidden`, &guestHasControl)
	if guestHasControl {
		t.Error("a guest sees the Stream / Record control")
	}
	rtmpURL := "rtmp://127.0.0.1:1935/live/" + secretKey
	if err := chromedp.Do(host,
		chromedp.Click(chromedp.CSS("#beam-toggle")),
		chromedp.SendKeys(chromedp.CSS("#rtmp-1"), rtmpURL),
		chromedp.Click(chromedp.CSS("#record")),
		chromedp.Click(chromedp.CSS("#beam-start")),
	); err != nil {
		t.Fatalf("start from the panel: %v", err)
	}
	waitJS(t, guest, 10*time.Second, `window.seen.includes('starting')`)
	waitJS(t, guest, 5*time.Second, `document.querySelector('#beam-status').innerText.includes('LIVE starting')
		&& document.querySelector('#beam-status').innerText.includes('REC starting')`)
	waitJS(t, host, 5*time.Second, `document.querySelector('#destinations').innerText.includes('rtmp://127.0.0.1:1935/live/{sk…b3}')`)
	screenshot(t, host, "host-beam-panel-1280x720")

	// Starting again is a conflict the SDK reports with its code.
	var code string
	eval(t, host, `window.roomcast.client.actions.startRTMPOrRecording({record: true}).then(() => 'ok', e => e.code)`, &code)
	if code != "conflict" {
		t.Errorf("second start from the host: %q, want conflict", code)
	}
	// A guest may not start or stop.
	eval(t, guest, `window.roomcast.client.actions.stopRTMPAndRecording().then(() => 'ok', e => e.code)`, &code)
	if code != "permission_denied" {
		t.Errorf("guest stop: %q, want permission_denied", code)
	}

	// A peer joining now gets the current state on join: starting, so not
	// yet running and without startedAt (SPEC §8).
	late := joinPage(t, s, browser, "live", "carol", "viewer")
	waitJS(t, late, 10*time.Second, `(() => {
		const b = window.roomcast.client.store.getState().beam;
		return b.rtmp.state === 'starting' && b.recording.browser.state === 'starting' &&
			b.recording.browser.running === false && b.rtmp.startedAt === undefined;
	})()`)

	// Stop stops both, for everyone.
	if err := chromedp.Do(host, chromedp.Click(chromedp.CSS("#beam-stop"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, guest, 10*time.Second, `window.seen.includes('stopped')`)
	waitJS(t, late, 10*time.Second, `window.roomcast.client.store.getState().beam.rtmp.state === 'stopped'`)

	// SFU track recording: the host's own buttons, state pushed to everyone,
	// independent of the beam.
	if err := chromedp.Do(host, chromedp.Click(chromedp.CSS("#tracks-start"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, guest, 10*time.Second, `window.seenServer.includes('started')`)
	waitJS(t, late, 5*time.Second, `document.querySelector('#beam-status').innerText.includes('TRACKS started')`)
	waitJS(t, host, 5*time.Second, `document.querySelector('#tracks-stop').disabled === false`)
	screenshot(t, host, "host-tracks-recording-1280x720")
	eval(t, guest, `window.roomcast.client.actions.stopTrackRecording().then(() => 'ok', e => e.code)`, &code)
	if code != "permission_denied" {
		t.Errorf("guest stops track recording: %q, want permission_denied", code)
	}
	eval(t, host, `window.roomcast.client.actions.startTrackRecording().then(() => 'ok', e => e.code)`, &code)
	if code != "conflict" {
		t.Errorf("second track recording start: %q, want conflict", code)
	}
	if err := chromedp.Do(host, chromedp.Click(chromedp.CSS("#tracks-stop"))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, guest, 10*time.Second, `window.seenServer.includes('stopped')`)

	for name, page := range map[string]context.Context{"host": host, "guest": guest, "late": late} {
		var text string
		eval(t, page, `document.body.innerText + JSON.stringify(window.roomcast.client.store.getState().beam)`, &text)
		if strings.Contains(text, secretKey) {
			t.Errorf("the %s page shows the stream key outside the input", name)
		}
	}
	if strings.Contains(s.Logs(), secretKey) {
		t.Errorf("the server log carries the stream key")
	}
}
