package composite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Issue 18: one encoder publishes at once to three independent RTMP
// servers (nginx-rtmp, ffmpeg's listen mode, gortmplib's server) and to an
// rtmps front with SNI; each gets H.264 + AAC at the job's size, and each
// is reconnected after it restarts.
func TestIngestInterop(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio", "ffmpeg", "nginx")
	nginx := testkit.StartRTMP(t)
	ff := testkit.StartFFmpegRTMP(t, "ffmpeg-stream-key")
	gos := testkit.StartGoRTMP(t)
	front := testkit.StartTLSProxy(t, nginx.Addr())
	sb, err := StartSandbox(context.Background(), t.TempDir(), 640, 360, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	urls := []string{nginx.URL("nginx-stream-key"), ff.URL(), gos.URL("go-stream-key"),
		"rtmps://localhost:" + itoa(front.Port) + "/live/tls-stream-key"}
	job := jobs.Job{ID: "t", Room: "r", Params: roomcast.StartParams{RTMPURLs: urls}}
	r := &Runner{Log: quiet, NoPrewarm: true, Destinations: DestinationOptions{MaxBackoff: time.Second, RootCAs: front.Pool(t)}}
	var p progress
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan jobs.Outcome, 1)
	go func() {
		done <- r.stream(ctx, sb, outputsConfig{encoder: EncoderConfig{Width: 640, Height: 360}}, job, p.report, nil, quiet)
	}()
	check := func(round string) {
		t.Helper()
		for i := range urls {
			p.waitDest(t, i, roomcast.DestinationStarted, 20*time.Second)
		}
		defer func() {
			if t.Failed() {
				t.Logf("ffmpeg -listen said:\n%s", ff.Log())
			}
		}()
		probeOK(t, nginx.URL("nginx-stream-key"))
		probeOK(t, gos.URL("go-stream-key"))
		probeOK(t, nginx.URL("tls-stream-key"))
		testkit.WaitFor(t, 10*time.Second, "ffmpeg's file to hold H.264 640x360 and AAC", func() bool {
			p, err := testkit.FFprobe(ff.File())
			v, w, h := p.Stream("video")
			a, _, _ := p.Stream("audio")
			return err == nil && v == "h264" && w == 640 && h == 360 && a == "aac"
		})
		if sni := front.ServerNames(); len(sni) == 0 || sni[len(sni)-1] != "localhost" {
			t.Errorf("%s: SNI %v, want localhost", round, sni)
		}
	}
	check("first connection")

	nginx.Kill()
	ff.Kill()
	gos.Kill()
	for i := range urls {
		p.waitDest(t, i, roomcast.DestinationReconnecting, 15*time.Second)
	}
	nginx.Start(t)
	ff.Start(t)
	gos.Start(t)
	check("after the servers restarted")

	cancel()
	if out := <-done; out.Failed() {
		t.Errorf("stream ended with %v", out)
	}
}

// A refused stream key and an untrusted certificate fail their
// destination after a short, bounded retry, with a code saying which; a
// host that cannot be reached keeps being retried with backoff.
func TestDestinationFailuresSayWhatToDo(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio", "ffmpeg", "nginx")
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unknown stream key", http.StatusForbidden)
	}))
	defer refuse.Close()
	nginx := testkit.StartRTMPNotifying(t, refuse.URL+"/on_publish")
	front := testkit.StartTLSProxy(t, testkit.StartRTMP(t).Addr())
	dead := testkit.FreePort(t)
	sb, err := StartSandbox(context.Background(), t.TempDir(), 640, 360, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	const key = "wrong-stream-key-0123"
	job := jobs.Job{ID: "t", Room: "r", Params: roomcast.StartParams{RTMPURLs: []string{
		nginx.URL(key), "rtmps://localhost:" + itoa(front.Port) + "/live/" + key, "rtmp://127.0.0.1:" + itoa(dead) + "/live/" + key,
	}}}
	r := &Runner{Log: quiet, NoPrewarm: true, Destinations: DestinationOptions{MaxBackoff: time.Second}}
	var p progress
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan jobs.Outcome, 1)
	go func() {
		done <- r.stream(ctx, sb, outputsConfig{encoder: EncoderConfig{Width: 640, Height: 360}}, job, p.report, nil, quiet)
	}()
	p.waitDest(t, 0, roomcast.DestinationFailed, 15*time.Second)
	p.waitDest(t, 1, roomcast.DestinationFailed, 15*time.Second)
	p.waitDest(t, 2, roomcast.DestinationReconnecting, 10*time.Second)
	for i, want := range []struct {
		code roomcast.DestinationErrorCode
		says string
	}{
		{"destination_key_rejected", "refused the stream key"},
		{"destination_tls_untrusted", "certificate"},
		{"destination_unreachable", "cannot reach 127.0.0.1:" + itoa(dead)},
	} {
		d := p.dests()[i]
		if d.Error == nil || d.Error.Code != want.code || !strings.Contains(d.Error.Message, want.says) {
			t.Errorf("destination %d: %+v; want code %s saying %q", i, d.Error, want.code, want.says)
		}
		if d.Error != nil && strings.Contains(d.Error.Message, key) {
			t.Errorf("destination %d: the error shows the key: %q", i, d.Error.Message)
		}
	}
	cancel()
	<-done
}
