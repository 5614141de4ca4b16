package e2e

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func meetURL(s *server, room, token string) string {
	return s.URL + "/meet/" + url.PathEscape(room) + "?token=" + url.QueryEscape(token)
}

// joinPage opens the meeting app as identity and clicks Join.
func joinPage(t testing.TB, s *server, browser context.Context, room, identity, role string) context.Context {
	t.Helper()
	page := newPage(t, browser, meetURL(s, room, s.joinToken(t, room, identity, role)))
	clickJoin(t, page)
	return page
}

func TestMeetingPeersSeeAndHearEachOther(t *testing.T) {
	s := startServer(t)
	browser := newBrowser(t)

	alice := joinPage(t, s, browser, "demo", "alice", "host")
	bob := joinPage(t, s, browser, "demo", "bob", "guest")
	for name, page := range map[string]context.Context{"alice": alice, "bob": bob} {
		waitJS(t, page, 15*time.Second, "window.roomcast.joined === true")
		d := waitMedia(t, page, 1, 15*time.Second)
		t.Logf("%s decodes the other peer's video and audio (%v after joined)", name, d)
	}

	// A third peer joining late gets both existing peers within 3 s.
	carol := joinPage(t, s, browser, "demo", "carol", "guest")
	d := waitMedia(t, carol, 2, 10*time.Second)
	t.Logf("late joiner decodes both peers %v after clicking join", d)
	if d > 3*time.Second {
		t.Errorf("late joiner took %v to decode both peers, want within 3 s", d)
	}
	// The earlier peers get the newcomer too, and everyone sees everyone's
	// name on a tile.
	for _, page := range []context.Context{alice, bob, carol} {
		waitMedia(t, page, 2, 15*time.Second)
		waitJS(t, page, 5*time.Second, `(() => {
			const names = [...document.querySelectorAll('.tile .name')].map(e => e.textContent);
			return ['alice', 'bob', 'carol'].every(n => names.some(x => x.includes(n)));
		})()`)
	}
	screenshot(t, alice, "meeting-host-1280x720")

	// Muting the mic shows on the others' tile of that peer.
	if err := chromedp.Do(bob, chromedp.Click(chromedp.CSS("#toggle-mic"))); err != nil {
		t.Fatalf("mute: %v", err)
	}
	waitJS(t, alice, 5*time.Second, `[...document.querySelectorAll('.tile')].some(t =>
		t.querySelector('.name').textContent === 'bob' && t.classList.contains('no-audio'))`)
	waitJS(t, bob, 5*time.Second, `document.querySelector('#toggle-mic').getAttribute('aria-pressed') === 'true'`)
	resize(t, carol, 640, 360)
	screenshot(t, carol, "meeting-guest-640x360")

	// Leaving removes the tile from the others.
	if err := chromedp.Do(carol, chromedp.Click(chromedp.CSS("#leave"))); err != nil {
		t.Fatalf("leave: %v", err)
	}
	waitJS(t, alice, 10*time.Second, `![...document.querySelectorAll('.tile .name')].some(e => e.textContent.includes('carol'))`)
}

// TestMeetingPlaysSoundWithoutAClick: in a browser with the default autoplay
// policy, a guest who clicked Join hears the host with no further click:
// the host's <audio> plays unmuted (its <video> is muted, pictures only),
// nothing is waiting for a gesture, and the sound played is not silence.
func TestMeetingPlaysSoundWithoutAClick(t *testing.T) {
	s := startServer(t)
	browser := newBrowserWith(t, strictFlags)
	joinPage(t, s, browser, "talk", "alice", "host")
	bob := joinPage(t, s, browser, "talk", "bob", "guest")
	waitMedia(t, bob, 1, 15*time.Second)
	waitJS(t, bob, 10*time.Second, `(() => {
		const tile = [...document.querySelectorAll('.tile')].find(t => t.querySelector('.name').textContent === 'alice');
		if (!tile) return false;
		const a = tile.querySelector('audio'), v = tile.querySelector('video');
		return a.srcObject && a.srcObject.getAudioTracks().length === 1 && !a.muted && !a.paused && a.volume > 0 &&
			v.muted && window.roomcast.audioBlocked === 0;
	})()`)
	// Chromium's fake mic beeps: over 3 s the played sound has energy and a
	// level well above silence.
	const levelJS = `(async () => {
		let energy = 0, level = 0;
		(await window.roomcast.client.pc.getStats()).forEach(s => {
			if (s.type === 'inbound-rtp' && s.kind === 'audio') { energy += s.totalAudioEnergy || 0; level = Math.max(level, s.audioLevel || 0); }
		});
		return {energy, level};
	})()`
	var first, peak struct{ Energy, Level float64 }
	eval(t, bob, levelJS, &first)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		var now struct{ Energy, Level float64 }
		eval(t, bob, levelJS, &now)
		peak.Energy, peak.Level = now.Energy, max(peak.Level, now.Level)
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("bob plays alice at peak level %.3f, energy +%.4f in 3 s", peak.Level, peak.Energy-first.Energy)
	if peak.Energy-first.Energy <= 0 || peak.Level < 0.05 {
		t.Errorf("the sound bob's page plays is silent: peak level %.3f, energy +%.4f", peak.Level, peak.Energy-first.Energy)
	}
}

func TestBeamViewJoinsWithoutInteraction(t *testing.T) {
	s := startServer(t)
	browser := newBrowser(t)
	joinPage(t, s, browser, "show", "alice", "host")
	joinPage(t, s, browser, "show", "bob", "guest")

	beam := newPage(t, browser, meetURL(s, "show", s.joinToken(t, "show", "beam-bot", "beam")))
	waitJS(t, beam, 20*time.Second, "window.roomcast.joined === true")
	waitMedia(t, beam, 2, 10*time.Second)

	// The clean view: no controls, no lobby, no own tile, one tile per visible peer.
	var ui struct {
		Controls int      `json:"controls"`
		Tiles    int      `json:"tiles"`
		Names    []string `json:"names"`
		Beam     bool     `json:"beam"`
	}
	eval(t, beam, `(() => {
		const visible = el => el && el.offsetParent !== null;
		const controls = ['#join', '#leave', '#toggle-mic', '#toggle-cam', '#participants']
			.map(q => document.querySelector(q)).filter(visible).length
			+ [...document.querySelectorAll('button, input')].filter(visible).length;
		const tiles = [...document.querySelectorAll('.tile')].filter(visible);
		return {controls, tiles: tiles.length, names: tiles.map(t => (t.querySelector('.name') || {}).textContent || ''),
			beam: document.body.classList.contains('beam')};
	})()`, &ui)
	if ui.Controls != 0 || ui.Tiles != 2 || !ui.Beam {
		t.Errorf("beam view = %+v; want no controls, 2 tiles, body.beam", ui)
	}
	for _, n := range ui.Names {
		if strings.Contains(n, "beam-bot") {
			t.Errorf("beam view shows its own tile %q", n)
		}
	}
	// The screenshot is mostly video, not a blank page.
	img, err := png.Decode(bytes.NewReader(screenshot(t, beam, "beam-view-1280x720")))
	if err != nil {
		t.Fatal(err)
	}
	if v := lumaVariance(img); v < 100 {
		t.Errorf("beam view screenshot is nearly uniform (luma variance %.0f)", v)
	}
}

func TestMeetingRefusesBadTokens(t *testing.T) {
	s := startServer(t)
	browser := newBrowser(t)
	other := startServer(t) // another secret: its tokens are forgeries here
	tests := []struct{ name, token, code string }{
		{"bad signature", other.joinToken(t, "demo", "mallory", "host"), "unauthenticated"},
		{"expired", s.token(t, "--room", "demo", "--identity", "late", "--ttl", "-1m"), "unauthenticated"},
		{"wrong room", s.joinToken(t, "elsewhere", "bob", "host"), "permission_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := newPage(t, browser, meetURL(s, "demo", tt.token))
			chromedp.Do(page, chromedp.Click(chromedp.CSS("#join")))
			waitJS(t, page, 10*time.Second, "window.roomcast.error && window.roomcast.error.code === '"+tt.code+"'")
			var text string
			eval(t, page, "document.body.innerText", &text)
			var msg string
			eval(t, page, "window.roomcast.error.message", &msg)
			if !strings.Contains(text, msg) {
				t.Errorf("page does not show the error %q; text: %q", msg, text)
			}
		})
	}
}

func TestViewerCannotPublishFromBrowser(t *testing.T) {
	s := startServer(t)
	browser := newBrowser(t)
	host := joinPage(t, s, browser, "class", "teacher", "host")
	viewer := joinPage(t, s, browser, "class", "student", "viewer")
	waitJS(t, viewer, 15*time.Second, "window.roomcast.joined === true")
	var code string
	eval(t, viewer, `window.roomcast.client.actions.publish({audio: true, video: true})
		.then(() => 'published', e => e.code)`, &code)
	if code != "permission_denied" {
		t.Errorf("viewer publish: got %q, want permission_denied", code)
	}
	// The host sees the viewer in the list but receives no media from them.
	waitJS(t, host, 10*time.Second, `document.querySelector('#participants').innerText.includes('student')`)
	if s := stats(t, host); s.Video != 0 || s.Audio != 0 {
		t.Errorf("host receives media %+v from a viewer", s)
	}
}

// lumaVariance is the variance of the image's luma, sampled on a grid.
func lumaVariance(img image.Image) float64 {
	b := img.Bounds()
	var sum, sumSq, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			sum += l
			sumSq += l * l
			n++
		}
	}
	mean := sum / n
	return sumSq/n - mean*mean
}
