package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

var smallRecord = roomcast.StartParams{Record: true, Resolution: &roomcast.Resolution{Width: 640, Height: 360}}

// postStart sends a start with a Host header of the caller's choosing.
func postStart(t *testing.T, s *server, room, host string, p roomcast.StartParams) (int, string) {
	t.Helper()
	body, _ := json.Marshal(p)
	req, _ := http.NewRequest("POST", s.URL+"/v1/rooms/"+room+"/beam/start", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+s.token(t, "--management"))
	req.Header.Set("Content-Type", "application/json")
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Issue 13 finding 1: the URL the bot opens comes from the listen address
// (or --public-url), never from the request's Host header. A start with
// Host: 127.0.0.1:1 (nothing listens there) still joins.
func TestFinding1HostHeaderDoesNotSteerTheBot(t *testing.T) {
	need(t, "chromium", "Xvfb", "pulseaudio", "ffmpeg")
	s := startServer(t)
	if code, body := postStart(t, s, "steer", "127.0.0.1:1", smallRecord); code != http.StatusAccepted {
		t.Fatalf("start: %d %s", code, body)
	}
	c := client(t, s)
	st := waitBeam(t, c, "steer", 40*time.Second, "recording started or failed", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted || st.Recording.Browser.State == roomcast.RecordingStateFailed
	})
	if st.Recording.Browser.State != roomcast.RecordingStateStarted {
		t.Fatalf("the bot did not join: %+v", st.Recording.Browser)
	}
	if strings.Contains(s.Logs(), "127.0.0.1:1/") {
		t.Error("the log shows the bot opening the Host header's address")
	}
	if _, err := c.StopRTMPAndRecording(context.Background(), "steer"); err != nil {
		t.Fatal(err)
	}
}

// Issue 13 finding 2: every spelling of an internal address, and a name
// that does not resolve, is a 400 naming meetingURL.
func TestFinding2NumericAndUnicodeHostsAreRefused(t *testing.T) {
	s := startServer(t)
	for _, u := range []string{
		"http://2852039166/", "http://0xa9.0xfe.0xa9.0xfe/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/",
		"http://169.254.43518/", "http://0/", "http://0x0/", "http://[64:ff9b::a9fe:a9fe]/",
		"http://169。254。169。254/", "http://１６９．２５４．１６９．２５４/", "http://127.0.0.1:22/",
		"http://10.0.0.1/", "http://nowhere.invalid/",
	} {
		p := smallRecord
		p.MeetingURL = u
		code, body := postStart(t, s, "probe", "", p)
		if code != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid_argument"`) || !strings.Contains(body, "meetingURL") {
			t.Errorf("%s: %d %s; want 400 invalid_argument naming meetingURL", u, code, body)
		}
	}
}

// lure is a web server on an allowed host that tries to lead the bot
// elsewhere; secret is an internal service it must never reach.
type lure struct {
	url, secretURL string
	secretHits     atomic.Int32
	navigate       atomic.Bool // tells the page to send its main frame away
}

func startLure(t *testing.T, s *server, room string) *lure {
	t.Helper()
	l := &lure{}
	secret := listenOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		l.secretHits.Add(1)
		io.WriteString(w, "internal secret")
	}))
	l.secretURL = "http://" + secret
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	beamPage := "http://0.0.0.0:" + port + "/meet/" + room + "?token=" + url.QueryEscape(s.joinToken(t, room, "stolen", "beam"))
	secretPort := secret[strings.LastIndex(secret, ":")+1:]
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, beamPage, http.StatusFound) })
	mux.HandleFunc("/go", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, l.navigate.Load()) })
	mux.HandleFunc("/frames", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><body style="background:#246">
<iframe src="%[1]s/frame" width=300 height=200></iframe>
<iframe src="http://0x7f000002:%[2]s/hex" width=300 height=200></iframe>
<iframe src="http://0.0.0.0:%[3]s/metrics" width=300 height=200></iframe>
<img src="%[1]s/img">
<script>
window.roomcast = {joined: true};
fetch('%[1]s/fetch').catch(() => {});
setInterval(async () => {
  if ((await (await fetch('/go')).text()) === 'true') location.href = %[4]q;
}, 300);
</script>`, l.secretURL, secretPort, port, "http://0.0.0.0:"+port+"/metrics")
	})
	l.url = "http://" + listenOn(t, "127.0.0.1:0", mux)
	return l
}

func listenOn(t *testing.T, addr string, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// Issue 13 finding 3: a redirect from an allowed host to a refused one
// fails the job; frames, images and fetches of internal addresses are never
// loaded; a main frame that later navigates somewhere refused fails the job
// with a clear error.
func TestFinding3RedirectsAndFramesAreChecked(t *testing.T) {
	need(t, "chromium", "Xvfb", "pulseaudio", "ffmpeg")
	s := startServer(t, "--meeting-hosts", "127.0.0.1")
	l := startLure(t, s, "lured")
	c := client(t, s)
	failed := func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateFailed
	}

	p := smallRecord
	p.MeetingURL = l.url + "/redirect"
	if _, err := c.StartRTMPOrRecording(context.Background(), "lured", p); err != nil {
		t.Fatal(err)
	}
	st := waitBeam(t, c, "lured", 40*time.Second, "the redirect fails the job", func(st roomcast.BeamState) bool {
		return failed(st) || st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	if e := st.Recording.Browser.Error; !failed(st) || e == nil || !strings.Contains(e.Message, "went to http://0.0.0.0:") {
		t.Fatalf("after a redirect to 0.0.0.0: %+v; want failed, saying where the page went", st.Recording.Browser)
	}
	if strings.Contains(st.Recording.Browser.Error.Message, "token") {
		t.Errorf("the error shows the URL's token: %q", st.Recording.Browser.Error.Message)
	}

	p.MeetingURL = l.url + "/frames"
	if _, err := c.StartRTMPOrRecording(context.Background(), "lured", p); err != nil {
		t.Fatal(err)
	}
	waitBeam(t, c, "lured", 40*time.Second, "the page with refused frames records", func(st roomcast.BeamState) bool {
		return st.Recording.Browser.State == roomcast.RecordingStateStarted
	})
	// The page's frames, image and fetch were tried before it reported
	// joined; now its main frame is sent away.
	l.navigate.Store(true)
	st = waitBeam(t, c, "lured", 20*time.Second, "the navigation fails the job", failed)
	if e := st.Recording.Browser.Error; e == nil || !strings.Contains(e.Message, "went to http://0.0.0.0:") {
		t.Errorf("after navigating to 0.0.0.0: %+v; want a clear error", st.Recording.Browser)
	}
	if n := l.secretHits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests from the bot", n)
	}
}
