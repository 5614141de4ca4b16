package composite

import (
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
)

// encodePictures runs ffmpeg's lavfi source through the encoder's rate
// cap and its H.264 output, and returns each encoded picture's
// time (s) and whether it is a keyframe.
func encodePictures(t *testing.T, source string) (times []float64, keys []bool) {
	t.Helper()
	out := t.TempDir() + "/out.ts"
	c := EncoderConfig{Width: 160, Height: 90, FrameRate: 30, GOP: 2 * time.Second}
	args := slices.Concat([]string{"-v", "error", "-f", "lavfi", "-i", source, "-filter_complex", "[0:v]" + atMost(30) + "[v]", "-map", "[v]"},
		h264Output(c), []string{"-f", "mpegts", out})
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		pts, flags, _ := strings.Cut(line, ",")
		v, err := strconv.ParseFloat(pts, 64)
		if err != nil {
			t.Fatalf("ffprobe line %q: %v", line, err)
		}
		times, keys = append(times, v), append(keys, strings.HasPrefix(flags, "K"))
	}
	return times, keys
}

// The output keeps each picture at its own time: a 30 fps source whose
// every tenth picture comes 16 ms early (two in one frame's time, then
// none in the next) loses none and moves none, where a 30 fps grid lost
// one of each pair or moved it by a frame.
func TestPicturesKeepTheirTimes(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	times, _ := encodePictures(t, "testsrc2=s=160x90:r=30:d=4,settb=1/90000,setpts='if(eq(mod(N,10),5),PTS-0.016/TB,PTS)'")
	if len(times) != 120 {
		t.Fatalf("%d pictures of 120", len(times))
	}
	for i, got := range times {
		want := float64(i) / 30
		if i%10 == 5 {
			want -= 0.016
		}
		if d := got - times[0] - want; math.Abs(d) > 0.0005 {
			t.Fatalf("picture %d at %.4fs, want %.4fs", i, got-times[0], want)
		}
	}
}

// A page that animates at 60 Hz is encoded at 30 pictures a second, and a
// keyframe comes every 0.2 s over the first 2.5 s, then every 2 s.
func TestPictureRateIsCappedAndKeyframesTimed(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	times, keys := encodePictures(t, "testsrc2=s=160x90:r=60:d=7")
	if n := len(times); n < 208 || n > 212 {
		t.Errorf("%d pictures in 7 s of a 60 fps source, want 30 a second (210)", n)
	}
	var at []string
	for i, k := range keys {
		if k {
			at = append(at, strconv.FormatFloat(times[i]-times[0], 'f', 1, 64))
		}
	}
	if got, want := strings.Join(at, " "), "0.0 0.2 0.4 0.6 0.8 1.0 1.2 1.4 1.6 1.8 2.0 2.2 2.4 4.4 6.4"; got != want {
		t.Errorf("keyframes at %s s, want %s", got, want)
	}
}
