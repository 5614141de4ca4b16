package composite

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Finalize remuxes a fragmented MP4 (possibly cut short by a crash) into a
// plain MP4 with its index at the front, removes the fragmented file and
// returns the duration of what was recorded.
func Finalize(part, out string) (time.Duration, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-y", "-i", part,
		"-map", "0", "-c", "copy", "-movflags", "+faststart", out)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("remux %s: %w: %s", part, err, strings.TrimSpace(stderr.String()))
	}
	d, err := Probe(out)
	if err != nil {
		return 0, err
	}
	os.Remove(part)
	return d, nil
}

// Probe returns a media file's duration as ffprobe reads it.
func Probe(path string) (time.Duration, error) {
	b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	sec, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("ffprobe %s: duration %q: %w", path, b, err)
	}
	return time.Duration(sec * float64(time.Second)), nil
}
