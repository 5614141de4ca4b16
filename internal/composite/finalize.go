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
// returns the duration of what was recorded. The recording starts with its
// first picture: sound captured before it (the audio input opens before
// the first frame is grabbed) is cut, so the file is as long as the time
// from its first frame to the stop.
func Finalize(part, out string) (time.Duration, error) {
	var stderr bytes.Buffer
	args := []string{"-hide_banner", "-v", "error", "-y"}
	if lead := videoLead(part); lead > 0.02 {
		args = append(args, "-ss", strconv.FormatFloat(lead, 'f', 3, 64))
	}
	args = append(args, "-i", part, "-map", "0", "-c", "copy", "-movflags", "+faststart", out)
	cmd := exec.Command("ffmpeg", args...)
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

// videoLead is how long after the file's start its first video frame comes
// (0 when unknown or without video).
func videoLead(path string) float64 {
	b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		return 0
	}
	first, video := 1e9, -1.0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		kind, start, _ := strings.Cut(line, ",")
		v, err := strconv.ParseFloat(start, 64)
		if err != nil {
			continue
		}
		first = min(first, v)
		if kind == "video" && video < 0 {
			video = v
		}
	}
	if video < 0 {
		return 0
	}
	return video - first
}
