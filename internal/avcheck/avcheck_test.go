package avcheck

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
)

// makeClip encodes a 640x360 30 fps H.264 + AAC MP4 with ffmpeg: a moving
// test pattern that turns white for 100 ms every second from t = 1 s, and a
// -12 dBFS 1 kHz beep of 100 ms whose start is offset seconds after each
// flash's (the pattern keeps moving, faint, under the flash). vf is appended to the video chain (e.g. a freeze).
func makeClip(t *testing.T, seconds int, offset float64, vf string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mp4")
	video := "testsrc2=s=640x360:r=30:d=" + fmt.Sprint(seconds) +
		",lutyuv=y='val*0.3+180':enable='gte(t,0.5)*lt(mod(t,1),0.1)'"
	if vf != "" {
		video += "," + vf
	}
	beep := fmt.Sprintf("0.25*sin(2*PI*1000*t)*gte(t,0.5)*lt(mod(t-%.3f,1),0.1)", offset)
	audio := fmt.Sprintf("aevalsrc='%s|%s':s=48000:d=%d", beep, beep, seconds) // stereo, as the beam's output
	cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30",
		"-c:a", "aac", "-b:a", "128k", "-shortest", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func analyze(t *testing.T, file string) *Analysis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := Analyze(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestOffsetOfKnownClips proves the pairing on files whose answer is known:
// the median offset must read what was put in within 10 ms, with a spread
// of at most one audio window or two.
func TestOffsetOfKnownClips(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	for _, offset := range []float64{0.060, -0.040, 0} {
		t.Run(fmt.Sprintf("%+.0fms", offset*1000), func(t *testing.T) {
			a := analyze(t, makeClip(t, 8, offset, ""))
			flashes, beeps := a.Flashes(), a.Beeps()
			off := Offsets(flashes, beeps, 0.5)
			if len(flashes) != 7 || len(off) != 7 {
				t.Fatalf("found %d flashes %v and beeps %v (%d paired), want 7 flashes, each with its beep", len(flashes), flashes, beeps, len(off))
			}
			med, spread := Percentile(off, 50), Percentile(off, 90)-Percentile(off, 10)
			t.Logf("offsets %v: median %.1f ms, p10-p90 %.1f ms", off, med*1000, spread*1000)
			if math.Abs(med-offset) > 0.010 || spread > 0.011 {
				t.Errorf("median offset %.1f ms (spread %.1f ms), want %.0f ms", med*1000, spread*1000, offset*1000)
			}
			if lvl := a.ToneLevel(); lvl < -13 || lvl > -11 {
				t.Errorf("tone level %.1f dBFS, want -12", lvl)
			}
			if f := a.Freezes(2, 8, 0.2); len(f) != 0 {
				t.Errorf("freezes %v in a clip that never freezes", f)
			}
			if fps := float64(len(a.Distinct(2, 7))) / 5; fps < 29 || fps > 30.5 {
				t.Errorf("distinct frames per second %.1f, want 30", fps)
			}
		})
	}
}

// TestFreezeIsFound: frame 150 looped (12 frames of it in all) is a 400 ms
// freeze at 5 s.
func TestFreezeIsFound(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	a := analyze(t, makeClip(t, 8, 0, "loop=loop=12:size=1:start=150,setpts=N/30/TB"))
	f := a.Freezes(2, 8, 0.2)
	if len(f) != 1 || math.Abs(f[0].At-5) > 0.05 || math.Abs(f[0].Duration-0.4) > 0.02 {
		t.Fatalf("freezes %+v, want one of 400 ms at 5 s", f)
	}
}

// TestSilenceHasNoBeeps: a silent file reads as silent, with no beeps.
func TestSilenceHasNoBeeps(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	out := filepath.Join(t.TempDir(), "silent.mp4")
	b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:d=3",
		"-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-c:v", "libx264", "-c:a", "aac", "-shortest", out).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	a := analyze(t, out)
	if len(a.Audio) == 0 {
		t.Fatal("no audio windows read from a file with an audio stream")
	}
	if lvl, beeps := a.LoudLevel(), a.Beeps(); lvl > -80 || beeps != nil {
		t.Errorf("silent file: loud level %.1f dB, beeps %v", lvl, beeps)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{5, 1, 4, 2, 3}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {50, 3}, {100, 5}, {25, 2}, {90, 4.6}} {
		if got := Percentile(v, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile of nothing is not NaN")
	}
}

// Lags follow one path's latency from its first event, across a missed
// one.
func TestLagsFollowOnePath(t *testing.T) {
	// A beep a second, the third missed, arriving 20 ms later from the
	// fourth on, and one 10 ms early.
	got := Lags([]float64{0.50, 1.50, 3.52, 4.52, 5.49})
	want := []float64{0, 0, 0.02, 0.02, -0.01}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatalf("Lags = %v, want %v", got, want)
		}
	}
	if got := Lags(nil); len(got) != 0 {
		t.Errorf("Lags(nil) = %v, want none", got)
	}
}
