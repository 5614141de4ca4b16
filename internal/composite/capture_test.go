package composite

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/avcheck"
	"github.com/roomcast/roomcast/internal/testkit"
)

// capturePage shows the synthetic source full screen and plays its sound
// through an <audio> element, as the meeting app plays a peer: the capture
// path (Chromium → Xvfb + PulseAudio → ffmpeg) with no WebRTC in between.
const capturePage = `<!doctype html><html><body style="margin:0;background:#000;overflow:hidden">
<video id="v" autoplay muted playsinline style="width:100vw;height:100vh;object-fit:cover;display:block"></video>
<audio id="a" autoplay></audio>
<script>%s</script>
<script>
(async () => {
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  document.getElementById('v').srcObject = new MediaStream(s.getVideoTracks());
  const a = document.getElementById('a');
  a.srcObject = new MediaStream(s.getAudioTracks());
  await a.play();
  window.roomcast = {joined: true};
})();
</script></body></html>`

// TestCaptureKeepsSync: what Chromium shows and plays reaches the encoded
// file in sync: each flash has its beep within ±40 ms (p10-p90 ≤ 30 ms),
// the tone keeps its level, the picture never freezes.
func TestCaptureKeepsSync(t *testing.T) {
	testkit.Need(t, "Xvfb", "pulseaudio", "ffmpeg", "ffprobe", "chromium")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, capturePage, avcheck.SourceJS)
	}))
	defer srv.Close()
	sb, err := StartSandbox(context.Background(), t.TempDir(), 640, 360, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	br, err := LaunchBrowser(sb, 640, 360, BrowserOptions{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	if err := br.Join(context.Background(), srv.URL, quiet); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "capture.mp4")
	enc, err := StartEncoder(sb, EncoderConfig{Width: 640, Height: 360, Recording: file}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	go drain(enc.Stream)
	for i := 0; i < 3; i++ {
		time.Sleep(5 * time.Second)
		for _, what := range []string{"sink-inputs", "source-outputs", "sinks"} {
			c := exec.Command("pactl", "list", what)
			c.Env = sb.Env
			out, _ := c.CombinedOutput()
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "atency") || strings.Contains(l, "application.name") || strings.Contains(l, "Sample Spec") {
					t.Logf("%s: %s", what, strings.TrimSpace(l))
				}
			}
		}
	}
	enc.Stop(10 * time.Second)

	a, err := avcheck.Analyze(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	off := avcheck.Offsets(a.Flashes(), a.Beeps(), 0.5)
	med, spread := avcheck.Percentile(off, 50), avcheck.Percentile(off, 90)-avcheck.Percentile(off, 10)
	t.Logf("tone %.1f dBFS; %d pairs; offsets %v; median %+.1f ms, p10-p90 %.1f ms", a.ToneLevel(), len(off), off, med*1000, spread*1000)
	if lvl := a.ToneLevel(); lvl < -15 || lvl > -9 {
		t.Errorf("tone %.1f dBFS, want -12 ±3", lvl)
	}
	if len(off) < 12 || math.Abs(med) > 0.040 || spread > 0.030 {
		t.Errorf("%d flashes paired, offset median %+.1f ms, p10-p90 %.1f ms", len(off), med*1000, spread*1000)
	}
	if f := a.Freezes(a.Frames[0].T+2, a.Frames[len(a.Frames)-1].T, 0.2); len(f) > 0 {
		t.Errorf("freezes %+v", f)
	}
}

func drain(r interface{ Read([]byte) (int, error) }) {
	b := make([]byte, 64<<10)
	for {
		if _, err := r.Read(b); err != nil {
			return
		}
	}
}
