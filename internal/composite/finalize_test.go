package composite

import (
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/roomcast/roomcast/internal/testkit"
)

// TestFinalizeCutsToThePicture: a fragmented recording whose sound goes on
// 1 s after its last frame becomes a file as long as its pictures. (The cut
// at the start is checked end to end: test/fidelity_test.go asserts the
// recording's length against the job's.)
func TestFinalizeCutsToThePicture(t *testing.T) {
	testkit.Need(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	part, out := filepath.Join(dir, partName), filepath.Join(dir, recordingName)
	b, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=4",
		"-f", "lavfi", "-i", "sine=r=48000:d=5", "-c:v", "libx264", "-g", "30", "-c:a", "aac",
		"-movflags", "+frag_keyframe+empty_moov+default_base_moof", part).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	d, err := Finalize(part, out)
	if err != nil {
		t.Fatal(err)
	}
	sp := spans(out)
	v, a := sp["video"], sp["audio"]
	t.Logf("finalized: %v; video %+v, audio %+v", d, v, a)
	if math.Abs(d.Seconds()-4) > 0.1 || a.start+a.dur > v.start+v.dur+0.06 {
		t.Errorf("finalized %v with video %+v and audio %+v; want 4 s, sound no longer than the picture", d, v, a)
	}
}
