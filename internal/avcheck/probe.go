// Package avcheck measures what a viewer of a recording or a stream gets:
// audio levels, A/V offset, frozen and repeated frames, on the file's own
// timeline. Analyze reads a file back with ffmpeg's signalstats (per-frame
// luma and change) and astats (5 ms audio levels); the methods of Analysis
// find a test source's flashes and beeps and Offsets pairs them.
package avcheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Frame is one decoded video frame.
type Frame struct {
	T      float64 // presentation time, seconds
	YAvg   float64 // mean luma, 0–255
	YDif   float64 // mean absolute luma change from the previous frame
	YRange float64 // YHIGH − YLOW: < 12 is a uniform (blank) frame
}

// Window is one 5 ms window of audio.
type Window struct {
	T   float64 // start, seconds
	RMS float64 // RMS level over all channels, dB relative to full scale; -inf as -120
}

// WindowSeconds is the length of an audio Window.
const WindowSeconds = 0.005

// Analysis is a file's frames and audio windows.
type Analysis struct {
	Frames []Frame
	Audio  []Window
}

// Analyze decodes file (any container ffmpeg reads) and returns its
// per-frame video stats and 5 ms audio levels. A file without video or
// without audio gives an empty slice for it, not an error.
func Analyze(ctx context.Context, file string) (*Analysis, error) {
	if strings.ContainsAny(file, `'\:,;[]=`) {
		return nil, fmt.Errorf("avcheck: %q: file names with filter-graph punctuation are not supported", file)
	}
	var a Analysis
	var err error
	a.Frames, err = videoFrames(ctx, file)
	if err != nil {
		return nil, err
	}
	a.Audio, err = audioWindows(ctx, file)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func videoFrames(ctx context.Context, file string) ([]Frame, error) {
	var out []Frame
	err := probe(ctx, "movie="+file+",signalstats",
		"frame=pts_time:frame_tags=lavfi.signalstats.YAVG,lavfi.signalstats.YDIF,lavfi.signalstats.YLOW,lavfi.signalstats.YHIGH",
		func(kv map[string]string) {
			f := Frame{T: num(kv["pts_time"]), YAvg: num(kv["tag:lavfi.signalstats.YAVG"]), YDif: num(kv["tag:lavfi.signalstats.YDIF"])}
			f.YRange = num(kv["tag:lavfi.signalstats.YHIGH"]) - num(kv["tag:lavfi.signalstats.YLOW"])
			out = append(out, f)
		})
	return out, err
}

func audioWindows(ctx context.Context, file string) ([]Window, error) {
	var out []Window
	err := probe(ctx, "amovie="+file+",aresample=48000,asetnsamples=n=240:p=0,astats=metadata=1:reset=1",
		"frame=pts_time:frame_tags=lavfi.astats.Overall.RMS_level",
		func(kv map[string]string) {
			out = append(out, Window{T: num(kv["pts_time"]), RMS: max(num(kv["tag:lavfi.astats.Overall.RMS_level"]), -120)})
		})
	return out, err
}

// probe runs ffprobe on a lavfi graph and calls row with each frame's
// key=value pairs. A graph whose source has no such stream yields no rows.
func probe(ctx context.Context, graph, entries string, row func(map[string]string)) error {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-f", "lavfi", "-i", graph,
		"-show_entries", entries, "-of", "compact=p=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("avcheck: start ffprobe: %w", err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		kv := map[string]string{}
		for _, field := range strings.Split(sc.Text(), "|") {
			if k, v, ok := strings.Cut(field, "="); ok {
				kv[k] = v
			}
		}
		if _, ok := kv["pts_time"]; ok {
			row(kv)
		}
	}
	if err := cmd.Wait(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No audio stream") || strings.Contains(msg, "No video stream") ||
			strings.Contains(msg, "does not contain any stream") {
			return nil
		}
		return fmt.Errorf("avcheck: ffprobe %s: %w: %s", graph, err, msg)
	}
	return nil
}

// num parses an ffprobe number ("-inf" reads as -inf); "nan" and missing
// values read as 0.
func num(s string) float64 {
	switch s {
	case "", "nan", "N/A":
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return v
}
