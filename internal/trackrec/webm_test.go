package trackrec

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A VP8 keyframe header (RFC 6386 §9.1) for 64x48, followed by padding:
// enough for the writer to open the file.
var keyframe64x48 = append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 64, 0, 48, 0}, make([]byte, 32)...)

// Two WebM files written at once share nothing: each gets its own
// duration (ebml-go's default segment info is one shared value it writes
// durations into; run with -race, the old code also reported a race).
func TestWebMFilesWrittenAtOnceKeepTheirOwnDuration(t *testing.T) {
	dir := t.TempDir()
	lengths := []time.Duration{time.Second, 3 * time.Second}
	var wg sync.WaitGroup
	for i, d := range lengths {
		wg.Go(func() {
			f := newWebMFile(filepath.Join(dir, strconv.Itoa(i)+".webm"))
			for pts := time.Duration(0); pts <= d; pts += 100 * time.Millisecond {
				if err := f.writeFrame(pts, true, keyframe64x48); err != nil {
					t.Error(err)
					return
				}
			}
			if err := f.close(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed: durations not read back")
	}
	for i, d := range lengths {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
			filepath.Join(dir, strconv.Itoa(i)+".webm")).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if diff := got - d.Seconds(); diff < -0.15 || diff > 0.15 {
			t.Errorf("file %d: duration %.3f s, want %.1f s", i, got, d.Seconds())
		}
	}
}
