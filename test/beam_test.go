package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// beamRoom is a room with one publishing host page (Chromium's fake camera:
// a green background with a moving shape) for the beam to capture.
func beamRoom(t *testing.T, s *server, room string) {
	t.Helper()
	need(t, "Xvfb", "pulseaudio", "ffmpeg")
	browser := newBrowser(t)
	host := joinPage(t, s, browser, room, "presenter", "host")
	waitJS(t, host, 15*time.Second, "window.roomcast.joined === true")
}

func client(t *testing.T, s *server) *roomcast.Client {
	return roomcast.NewClient(s.URL, s.token(t, "--management"))
}

func waitBeam(t *testing.T, c *roomcast.Client, room string, timeout time.Duration, what string, cond func(roomcast.BeamState) bool) roomcast.BeamState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.BeamState(context.Background(), room)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; state %+v (err %v)", timeout, what, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBeamStreamsToThreeAndRecords is the product's main path: one start,
// three destinations (two rtmp://, one rtmps:// through a TLS proxy in front
// of the same nginx) with H.264 640x360 + AAC, and a recording that plays,
// lasts as long as the job ran and shows the publisher's video.
func TestBeamStreamsToThreeAndRecords(t *testing.T) {
	ingest := testkit.StartRTMP(t)
	tlsIngest := testkit.StartTLSProxy(t, ingest.Addr())
	// The server's worker trusts the proxy's test CA as its system roots
	// (Go on Linux reads SSL_CERT_FILE); no production option is involved.
	t.Setenv("SSL_CERT_FILE", tlsIngest.CAFile)
	hooks := newHookReceiver(t)
	s := startServer(t, "--webhook-url", hooks.URL)
	hooks.secret = []byte(strings.TrimSpace(readFile(t, filepath.Join(s.data, "secret"))))
	beamRoom(t, s, "show")
	c := client(t, s)
	keys := []string{"key-one-" + secretKey, "key-two-" + secretKey, "key-three-" + secretKey}
	params := roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}
	params.RTMPURLs = []string{ingest.URL(keys[0]), ingest.URL(keys[1]), tlsIngest.URL(keys[2])}
	wantURLs := []string{ // as the state shows them: keys redacted
		"rtmp://" + ingest.Addr() + "/live/{ke…b3}",
		"rtmp://" + ingest.Addr() + "/live/{ke…b3}",
		"rtmps://" + tlsIngest.Addr() + "/live/{ke…b3}",
	}
	if _, err := c.StartRTMPOrRecording(context.Background(), "show", params); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "show", 30*time.Second, "streaming and recording started", func(st roomcast.BeamState) bool {
		return st.RTMP.State == roomcast.StreamingStateStarted && st.Recording.Browser.State == roomcast.RecordingStateStarted &&
			allDestinations(st, roomcast.DestinationStarted)
	})
	ranFrom := time.Now()
	if len(st.RTMP.Destinations) != len(wantURLs) {
		t.Fatalf("state has %d destinations, want %d: %+v", len(st.RTMP.Destinations), len(wantURLs), st.RTMP.Destinations)
	}
	for i, d := range st.RTMP.Destinations {
		if d.URL != wantURLs[i] || strings.Contains(d.URL, secretKey) {
			t.Errorf("destination %d URL in the state = %q, want %q", i, d.URL, wantURLs[i])
		}
	}
	if n := tlsIngest.Handshakes(); n < 1 {
		t.Errorf("the rtmps destination is started but the TLS proxy completed %d handshakes", n)
	}
	// Each key is read back from nginx itself: the rtmps one only got
	// there through TLS.
	for _, k := range keys {
		p, err := testkit.FFprobe(ingest.URL(k))
		if err != nil {
			t.Fatalf("destination %s: %v", k[:8], err)
		}
		if codec, w, h := p.Stream("video"); codec != "h264" || w != 640 || h != 360 {
			t.Errorf("destination %s video = %s %dx%d, want h264 640x360", k[:8], codec, w, h)
		}
		if codec, _, _ := p.Stream("audio"); codec != "aac" {
			t.Errorf("destination %s audio = %q, want aac", k[:8], codec)
		}
	}
	assertNoSecretInProcesses(t, secretKey)
	// /metrics has each destination sending, by its redacted URL only.
	metrics := string(httpGet(t, s.URL+"/metrics"))
	if strings.Contains(metrics, secretKey) {
		t.Error("/metrics carries a stream key")
	}
	for i := range wantURLs {
		sel := fmt.Sprintf(`destination="%d"`, i)
		frames, started := -1.0, -1.0
		for _, l := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(l, "roomcast_destination_frames_sent_total{") && strings.Contains(l, sel) {
				frames, _ = metricValue(l, "roomcast_destination_frames_sent_total")
			}
			if strings.HasPrefix(l, "roomcast_destination_state{") && strings.Contains(l, sel) && strings.Contains(l, `state="started"`) {
				started, _ = metricValue(l, "roomcast_destination_state")
			}
		}
		if frames <= 0 || started != 1 {
			t.Errorf("/metrics destination %d: %v frames sent, started %v; want frames and started 1", i, frames, started)
		}
	}
	if v, ok := metricValue(metrics, "roomcast_job_start_delay_seconds_count"); !ok || v != 1 {
		t.Errorf("/metrics roomcast_job_start_delay_seconds_count = %v (found %v), want 1", v, ok)
	}
	frames, _ := metricValue(metrics, "roomcast_encoder_frames_total")
	speed, _ := metricValue(metrics, "roomcast_encoder_speed")
	fps, _ := metricValue(metrics, "roomcast_encoder_fps")
	t.Logf("/metrics encoder: %v frames, %v fps, speed %v", frames, fps, speed)
	if frames <= 0 || speed < 0.5 || fps <= 0 {
		t.Errorf("/metrics encoder: %v frames, %v fps, speed %v; want it encoding in realtime", frames, fps, speed)
	}
	// Let the recording run to a known length, then stop.
	time.Sleep(time.Until(ranFrom.Add(6 * time.Second)))
	stopAt := time.Now()
	st, err := c.StopRTMPAndRecording(context.Background(), "show")
	if err != nil {
		t.Fatal(err)
	}
	ran := stopAt.Sub(*st.Recording.Browser.StartedAt)
	t.Logf("stop answered in %v", time.Since(stopAt))
	if st.RTMP.State != roomcast.StreamingStateStopped || st.Recording.Browser.State != roomcast.RecordingStateStopped {
		t.Errorf("after stop: %+v", st)
	}
	rec := waitRecording(t, c, "show", 30*time.Second)
	t.Logf("job ran %.2fs; recording %.2fs, %d bytes", ran.Seconds(), rec.Duration, rec.Size)
	if math.Abs(rec.Duration-ran.Seconds()) > 1.0 {
		t.Errorf("recording lasts %.2fs; the job ran %.2fs", rec.Duration, ran.Seconds())
	}
	file := download(t, s, rec)
	p, err := testkit.FFprobe(file)
	if err != nil {
		t.Fatal(err)
	}
	if codec, w, h := p.Stream("video"); codec != "h264" || w != 640 || h != 360 {
		t.Errorf("recording video = %s %dx%d", codec, w, h)
	}
	if codec, _, _ := p.Stream("audio"); codec != "aac" {
		t.Errorf("recording audio = %q", codec)
	}
	img := frameAt(t, file, rec.Duration/2)
	if v := lumaVariance(img); v < 50 {
		t.Errorf("mid-way frame is nearly uniform (luma variance %.0f): black or blank", v)
	}
	if g := greenShare(img); g < 0.3 {
		t.Errorf("mid-way frame is %.0f%% green; the publisher's fake camera is mostly green", 100*g)
	}
	if strings.Contains(s.Logs(), secretKey) {
		t.Error("the server log carries a stream key")
	}
	// The backend heard about it: started, stopped, recording ready.
	evs := hooks.wait(t, 3, 20*time.Second)
	if evs[0].Event != roomcast.EventBeamStarted || evs[1].Event != roomcast.EventBeamStopped || evs[2].Event != roomcast.EventRecordingReady {
		t.Errorf("webhook events %s, %s, %s", evs[0].Event, evs[1].Event, evs[2].Event)
	}
	if r := evs[2].Recording; r == nil || r.ID != rec.ID || r.Size != rec.Size || len(r.Files) == 0 {
		t.Errorf("recording.ready carries %+v, want the recording %s", r, rec.ID)
	}
	t.Logf("start delay reported by beam.started: %d ms", evs[0].StartDelayMs)
}

func allDestinations(st roomcast.BeamState, want roomcast.DestinationState) bool {
	for _, d := range st.RTMP.Destinations {
		if d.State != want {
			return false
		}
	}
	return len(st.RTMP.Destinations) > 0
}

func waitRecording(t *testing.T, c *roomcast.Client, room string, timeout time.Duration) roomcast.Recording {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs, err := c.Recordings(context.Background(), room)
		if err == nil && len(recs) > 0 && recs[0].Status == "ready" {
			return recs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready recording after %v: %+v (err %v)", timeout, recs, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// download fetches the recording's mp4 (an audio-only job's m4a) through
// the API.
func download(t *testing.T, s *server, rec roomcast.Recording) string {
	t.Helper()
	var name string
	for _, f := range rec.Files {
		if strings.HasSuffix(f.Name, ".mp4") || strings.HasSuffix(f.Name, ".m4a") {
			name = f.Name
		}
	}
	if name == "" {
		t.Fatalf("recording has no mp4 or m4a: %+v", rec.Files)
	}
	status, body := api(t, s, "GET", "/v1/recordings/"+rec.ID+"/files/"+name, s.token(t, "--management"), "")
	if status != 200 {
		t.Fatalf("download: %d", status)
	}
	path := filepath.Join(t.TempDir(), name)
	os.WriteFile(path, []byte(body), 0o644)
	return path
}

// frameAt extracts one frame at sec seconds.
func frameAt(t *testing.T, file string, sec float64) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "frame.png")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(sec, 'f', 2, 64), "-i", file,
		"-frames:v", "1", "-y", out).CombinedOutput(); err != nil {
		t.Fatalf("extract frame: %v: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("ROOMCAST_ARTIFACTS"); dir != "" {
		b, _ := os.ReadFile(out)
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("recording-frame-%.0fs.png", sec)), b, 0o644)
	}
	return img
}

// greenShare is the share of pixels where green clearly dominates.
func greenShare(img image.Image) float64 {
	b := img.Bounds()
	var green, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if g > r+r/2 && g > bl+bl/2 && g > 0x3000 {
				green++
			}
			n++
		}
	}
	return green / n
}

// assertNoSecretInProcesses checks every process's command line.
func assertNoSecretInProcesses(t *testing.T, secret string) {
	t.Helper()
	out, err := exec.Command("ps", "-eo", "args").Output()
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	if strings.Contains(string(out), secret) {
		t.Errorf("a stream key is visible in ps output")
	}
}

// A worker killed mid-recording leaves a file that plays up to its last
// seconds; the restarted worker finalizes and lists it.
func TestKilledWorkerRecordingIsRecovered(t *testing.T) {
	s := startServer(t)
	beamRoom(t, s, "crash")
	c := client(t, s)
	if _, err := c.StartRTMPOrRecording(context.Background(), "crash", roomcast.StartParams{Record: true,
		Resolution: &roomcast.Resolution{Width: 640, Height: 360}}); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "crash", 30*time.Second, "recording started", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	time.Sleep(6 * time.Second)
	s.kill()

	parts, _ := filepath.Glob(filepath.Join(s.data, "recordings", "*", "composite.part.mp4"))
	if len(parts) != 1 {
		t.Fatalf("want one leftover fragmented recording, found %v", parts)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", parts[0], "-f", "null", "-").CombinedOutput(); err != nil {
		t.Fatalf("the leftover recording does not decode: %v: %s", err, out)
	}
	p, err := testkit.FFprobe(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if codec, _, _ := p.Stream("video"); codec != "h264" {
		t.Errorf("leftover has no h264 video: %+v", p)
	}

	restarted := startServer(t, "--data", s.data)
	rec := waitRecording(t, client(t, restarted), "crash", 30*time.Second)
	// Up to its last complete fragment (2 s GOP) of the ~6 s that ran.
	if rec.Duration < 3 || rec.Duration > 9 {
		t.Errorf("recovered recording lasts %.2fs; about 6 s ran before the kill", rec.Duration)
	}
	t.Logf("recovered recording: %.2fs, %d bytes", rec.Duration, rec.Size)
	if _, err := testkit.FFprobe(download(t, restarted, rec)); err != nil {
		t.Errorf("recovered recording does not probe: %v", err)
	}
}

// Jobs end on their own: at the maximum duration, and when the room has had
// nobody publishing for a while. The state says why; the recording is kept.
func TestBeamStopsOnItsOwn(t *testing.T) {
	s := startServer(t, "--max-duration", "8s", "--empty-timeout", "2s", "--prewarm=true")
	need(t, "Xvfb", "pulseaudio", "ffmpeg")
	browser := newBrowser(t)
	host := joinPage(t, s, browser, "auto", "presenter", "host")
	waitJS(t, host, 15*time.Second, "window.roomcast.joined === true")
	c := client(t, s)
	params := roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}
	// More than the server's --max-duration is refused, naming the field.
	over := params
	over.MaxDuration = 9
	if _, err := c.StartRTMPOrRecording(context.Background(), "auto", over); err == nil || !strings.Contains(err.Error(), "maxDuration") {
		t.Fatalf("start with maxDuration over the server's cap: %v; want invalid_argument naming maxDuration", err)
	}
	// The start's own maxDuration, shorter than the server's, wins.
	short := params
	short.MaxDuration = 5
	if _, err := c.StartRTMPOrRecording(context.Background(), "auto", short); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "auto", 40*time.Second, "stopped at the maximum duration", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStopped
	})
	if !strings.Contains(st.Recording.Browser.Reason, "maximum duration of 5s") {
		t.Errorf("reason %q, want the start's maximum duration of 5s", st.Recording.Browser.Reason)
	}
	waitRecording(t, c, "auto", 30*time.Second)

	// The presenter leaves: the room empties and the next job ends.
	if _, err := c.StartRTMPOrRecording(context.Background(), "auto", params); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "auto", 30*time.Second, "started", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	eval(t, host, `(window.roomcast.client.actions.leave(), true)`, new(bool))
	st = waitBeam(t, c, "auto", 20*time.Second, "stopped when the room emptied", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStopped
	})
	if !strings.Contains(st.Recording.Browser.Reason, "nobody publishing for 2s") {
		t.Errorf("reason %q, want the room-empty policy", st.Recording.Browser.Reason)
	}
	// The jobs after the first found a warm sandbox at their resolution.
	if !strings.Contains(s.Logs(), "using a warm sandbox") {
		t.Error("no job used a warm sandbox")
	}
	// A stop on request says so.
	if _, err := c.StartRTMPOrRecording(context.Background(), "auto", params); err != nil {
		t.Fatal(err)
	}
	st, err := c.StopRTMPAndRecording(context.Background(), "auto")
	if err != nil || st.Recording.Browser.Reason != "stopped on request" {
		t.Errorf("stop on request: reason %q, err %v", st.Recording.Browser.Reason, err)
	}
}

// hookReceiver is a backend's webhook endpoint that checks signatures.
type hookReceiver struct {
	URL    string
	secret []byte
	mu     sync.Mutex
	events []roomcast.Event
	raw    []string // the bodies as sent
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := roomcast.VerifyWebhook(h.secret, r.Header.Get(roomcast.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("webhook signature: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if strings.Contains(string(body), secretKey) {
			t.Errorf("a webhook carries a stream key")
		}
		var ev roomcast.Event
		json.Unmarshal(body, &ev)
		h.events = append(h.events, ev)
		h.raw = append(h.raw, string(body))
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// all returns the events received so far.
func (h *hookReceiver) all() []roomcast.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]roomcast.Event(nil), h.events...)
}

// bodies returns the bodies received so far.
func (h *hookReceiver) bodies() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.raw...)
}

func (h *hookReceiver) wait(t *testing.T, n int, timeout time.Duration) []roomcast.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := h.all()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d webhook events after %v, want %d: %+v", len(evs), timeout, n, evs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
