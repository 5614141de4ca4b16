package composite

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// progress keeps the last report of a running job.
type progress struct {
	mu   sync.Mutex
	last jobs.Progress
}

func (p *progress) report(pr jobs.Progress) {
	p.mu.Lock()
	p.last = pr
	p.mu.Unlock()
}

func (p *progress) dests() []roomcast.Destination {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]roomcast.Destination(nil), p.last.Destinations...)
}

func (p *progress) waitDest(t *testing.T, i int, want roomcast.DestinationState, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if d := p.dests(); len(d) > i && d[i].State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("destination %d not %s after %v: %+v", i, want, timeout, p.dests())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The encode-once pipeline without a browser (the display is black): one
// good destination, one where nothing listens. The dead one retries while
// the good one streams; nginx killed for 5 s and restarted is reconnected.
func TestFanoutReconnects(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio", "ffmpeg", "nginx")
	ingest := testkit.StartRTMP(t)
	dead := testkit.FreePort(t)
	sb, err := StartSandbox(context.Background(), t.TempDir(), 640, 360, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	job := jobs.Job{ID: "t", Room: "r", Params: roomcast.StartParams{RTMPURLs: []string{
		ingest.URL("good-stream-key"), "rtmp://127.0.0.1:" + itoa(dead) + "/live/dead-stream-key",
	}}}
	r := &Runner{Log: quiet, NoPrewarm: true, Destinations: DestinationOptions{MaxBackoff: time.Second}}
	var p progress
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan jobs.Outcome, 1)
	go func() {
		done <- r.stream(ctx, sb, outputsConfig{encoder: EncoderConfig{Width: 640, Height: 360}}, job, p.report, nil, quiet)
	}()

	p.waitDest(t, 0, roomcast.DestinationStarted, 20*time.Second)
	p.waitDest(t, 1, roomcast.DestinationReconnecting, 10*time.Second)
	if d := p.dests()[1]; d.Error == nil || d.URL != "rtmp://127.0.0.1:"+itoa(dead)+"/live/{de…ey}" {
		t.Errorf("dead destination = %+v; want an error and a redacted URL", d)
	}
	probeOK(t, ingest.URL("good-stream-key"))

	ingest.Kill()
	p.waitDest(t, 0, roomcast.DestinationReconnecting, 10*time.Second)
	time.Sleep(5 * time.Second) // the ingest is down for 5 s
	ingest.Start(t)
	p.waitDest(t, 0, roomcast.DestinationStarted, 15*time.Second)
	probeOK(t, ingest.URL("good-stream-key"))

	cancel()
	if out := <-done; out.Failed() {
		t.Errorf("stream ended with %v", out)
	}
	if d := p.dests(); d[0].State != roomcast.DestinationStopped {
		t.Errorf("after stop: %+v", d)
	}
}

// probeOK reads url as a viewer would and checks its streams. A server may
// take a moment after the publish is accepted before it serves the stream
// to readers (gortmplib's relay under load): the probe is retried for 10 s.
func probeOK(t *testing.T, url string) {
	t.Helper()
	var p testkit.Probe
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) { // poll interval
		if p, err = testkit.FFprobe(url); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if codec, w, h := p.Stream("video"); codec != "h264" || w != 640 || h != 360 {
		t.Errorf("%s: video %s %dx%d", url, codec, w, h)
	}
	if codec, _, _ := p.Stream("audio"); codec != "aac" {
		t.Errorf("%s: audio %q", url, codec)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
