package composite

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Finalize remuxes a fragmented MP4 (possibly cut short by a crash) into a
// plain MP4 with its index at the front, removes the fragmented file and
// returns the duration of what was recorded. The recording starts with its
// first picture and ends with its last: sound captured before it (the
// audio input opens before the first frame is grabbed) or after it (the
// audio input drains last) is cut, so the file is as long as the time from
// its first frame to the stop.
func Finalize(part, out string) (time.Duration, error) {
	var from float64
	sp := spans(part)
	if v, ok := sp["video"]; ok {
		from = v.start - sp.first()
	}
	if err := remux(part, out, from, 0); err != nil {
		return 0, err
	}
	sp = spans(out)
	if v, a := sp["video"], sp["audio"]; v.dur > 0 && a.start+a.dur > v.start+v.dur+0.05 {
		tmp := out + ".tmp.mp4"
		if err := remux(out, tmp, 0, v.start+v.dur); err != nil {
			os.Remove(tmp)
			return 0, err
		}
		if err := os.Rename(tmp, out); err != nil {
			return 0, err
		}
	}
	d, err := Probe(out)
	if err != nil {
		return 0, err
	}
	os.Remove(part)
	return d, nil
}

// remux copies in to out (index at the front), from seconds into in (0:
// the start) and for at most length seconds (0: to the end).
func remux(in, out string, from, length float64) error {
	args := []string{"-hide_banner", "-v", "error", "-y"}
	if from > 0.02 {
		args = append(args, "-ss", strconv.FormatFloat(from, 'f', 3, 64))
	}
	args = append(args, "-i", in, "-map", "0", "-c", "copy")
	if length > 0 {
		args = append(args, "-t", strconv.FormatFloat(length, 'f', 3, 64))
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", append(args, "-movflags", "+faststart", out)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("remux %s: %w: %s", in, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// span is where a stream starts and how long it lasts, in seconds.
type span struct{ start, dur float64 }

// streamSpans are a file's first video and first audio stream spans.
type streamSpans map[string]span

// first is the earliest start of any stream (0 without streams).
func (s streamSpans) first() float64 {
	f := math.Inf(1)
	for _, v := range s {
		f = min(f, v.start)
	}
	if math.IsInf(f, 1) {
		return 0
	}
	return f
}

// spans reads a media file's streams with ffprobe (empty on error); a
// duration ffprobe cannot tell is 0.
func spans(path string) streamSpans {
	out := streamSpans{}
	b, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time,duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		return out
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		if _, seen := out[f[0]]; seen {
			continue
		}
		start, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		dur, _ := strconv.ParseFloat(f[2], 64)
		out[f[0]] = span{start, dur}
	}
	return out
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

// hasVideo says whether the file at path has a picture (an audio-only
// job's has none; a missing file neither).
func hasVideo(path string) bool {
	_, ok := spans(path)["video"]
	return ok
}
