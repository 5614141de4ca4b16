package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumFlags are what Debian's Chromium needs as root on a closed network,
// with fake camera and mic and audio that plays without a gesture.
var chromiumFlags = append([]chromedp.ExecAllocatorOption{chromedp.Flag("autoplay-policy", "no-user-gesture-required")}, strictFlags...)

// strictFlags are the same with the browser's default autoplay policy: sound
// plays only in a page the user has interacted with, as for real people.
var strictFlags = []chromedp.ExecAllocatorOption{
	chromedp.ExecPath("chromium"),
	chromedp.Flag("headless", "new"),
	chromedp.NoSandbox,
	chromedp.DisableGPU,
	chromedp.NoFirstRun,
	chromedp.NoDefaultBrowserCheck,
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-dev-shm-usage", true),
	chromedp.Flag("use-fake-ui-for-media-stream", true),
	chromedp.Flag("use-fake-device-for-media-stream", true),
	chromedp.Flag("allow-loopback-in-peer-connection", true),
	chromedp.Flag("disable-background-timer-throttling", true),
	chromedp.Flag("disable-renderer-backgrounding", true),
	chromedp.Flag("disable-backgrounding-occluded-windows", true),
	chromedp.WindowSize(1280, 720),
}

// newBrowser starts one Chromium for the test; pages are its tabs.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	return newBrowserWith(t, chromiumFlags)
}

func newBrowserWith(t testing.TB, flags []chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	need(t, "chromium")
	actx, cancel := chromedp.NewExecAllocator(context.Background(), flags...)
	t.Cleanup(cancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	// The first action on the browser context starts Chromium; it must not
	// run under a timeout, which would end the browser with it.
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[chromedp.Void]("1")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// newPage opens a tab with a 1280x720 viewport at url.
func newPage(t testing.TB, browser context.Context, url string) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720), chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate %s: %v", url, err)
	}
	return ctx
}

// eval runs JavaScript in the page, awaiting a returned promise, and decodes
// the result into out.
func eval(t testing.TB, page context.Context, js string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %q: %v", js, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("eval %q: decode %s: %v", js, raw, err)
	}
}

// waitJS polls a JavaScript boolean expression until it is true.
func waitJS(t testing.TB, page context.Context, timeout time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		eval(t, page, "!!("+expr+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var state any
			eval(t, page, "JSON.stringify({roomcast: window.roomcast && {joined: window.roomcast.joined, error: window.roomcast.error}, body: document.body.innerText.slice(0, 300)})", &state)
			t.Fatalf("timed out after %v waiting for %s; page: %v", timeout, expr, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mediaStats counts the remote video tracks with decoded frames and the
// remote audio tracks with received samples, from the page's getStats.
type mediaStats struct {
	Video int `json:"video"`
	Audio int `json:"audio"`
}

const statsJS = `(async () => {
  const pc = window.roomcast && window.roomcast.client && window.roomcast.client.pc;
  const r = {video: 0, audio: 0};
  if (!pc) return r;
  (await pc.getStats()).forEach(s => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video' && s.framesDecoded > 0) r.video++;
    if (s.kind === 'audio' && s.totalSamplesReceived > 0) r.audio++;
  });
  return r;
})()`

// rtpDetailJS describes a page's receiving side, for failure messages.
const rtpDetailJS = `(async () => {
  const pc = window.roomcast && window.roomcast.client && window.roomcast.client.pc;
  if (!pc) return 'no peer connection';
  const out = [];
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'video')
      out.push(JSON.stringify({mid: s.mid, ssrc: s.ssrc, track: s.trackIdentifier, packets: s.packetsReceived,
        lost: s.packetsLost, frames: s.framesReceived, decoded: s.framesDecoded, keyframes: s.keyFramesDecoded,
        pli: s.pliCount, nack: s.nackCount}));
  });
  for (const t of pc.getTransceivers())
    out.push(JSON.stringify({mid: t.mid, dir: t.direction, cur: t.currentDirection, recvTrack: t.receiver.track && t.receiver.track.id, kind: t.receiver.track && t.receiver.track.kind}));
  out.push('signaling ' + pc.signalingState + ', connection ' + pc.connectionState);
  const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
  for (const m of sdp.split('\nm=').slice(1))
    out.push('m=' + m.split('\n').filter(l => /^(audio|video)|a=(mid|ssrc:\d+ msid|ssrc-group|sendrecv|recvonly|sendonly|inactive|extmap:\d+ urn:ietf:params:rtp-hdrext:sdes:mid)/.test(l)).join(' | '));
  return out.join('\n');
})()`

func stats(t testing.TB, page context.Context) mediaStats {
	t.Helper()
	var s mediaStats
	eval(t, page, statsJS, &s)
	return s
}

// waitMedia waits until the page decodes video and audio from n peers and
// returns how long that took.
func waitMedia(t testing.TB, page context.Context, n int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		s := stats(t, page)
		if s.Video >= n && s.Audio >= n {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			var detail string
			eval(t, page, rtpDetailJS, &detail)
			t.Fatalf("after %v the page decodes %+v, want %d of each; inbound RTP and transceivers:\n%s", timeout, s, n, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resize sets the page's viewport.
func resize(t testing.TB, page context.Context, w, h int64) {
	t.Helper()
	if err := chromedp.Do(page, chromedp.EmulateViewport(w, h)); err != nil {
		t.Fatalf("resize to %dx%d: %v", w, h, err)
	}
}

// screenshot saves the page as PNG under the artifacts dir and returns it.
func screenshot(t testing.TB, page context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(page, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, name+".png", png)
	return png
}

// saveArtifact keeps b as name under $ROOMCAST_ARTIFACTS (default: a
// roomcast-artifacts folder in the temp dir), for a person to look at.
func saveArtifact(t testing.TB, name string, b []byte) {
	t.Helper()
	dir := os.Getenv("ROOMCAST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "roomcast-artifacts")
	}
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err == nil {
		t.Logf("saved %s", path)
	}
}
