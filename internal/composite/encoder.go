package composite

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
)

// EncoderConfig is what the one encode produces.
type EncoderConfig struct {
	Width, Height int
	FrameRate     int           // default 30
	GOP           time.Duration // keyframe interval; default 2 s
	// Recording, when set, is a fragmented MP4 path written alongside the
	// stream (a fragment per keyframe: a killed worker loses at most one GOP).
	Recording string
	// Epoch is the wall-clock instant output time 0 stands for; zero means
	// when the arguments are built (just before ffmpeg starts).
	Epoch time.Time
}

// videoBitrate picks a bitrate for the size: ~2.5 Mbit/s at 720p.
func videoBitrate(w, h int) int {
	px := w * h
	switch {
	case px <= 640*360:
		return 1_000_000
	case px <= 960*540:
		return 1_600_000
	case px <= 1280*720:
		return 2_500_000
	default:
		return 4_500_000
	}
}

// encoderArgs builds ffmpeg's arguments: X display and sink monitor in, H.264
// (main, zerolatency, fixed GOP) and AAC 48 kHz out, as MPEG-TS on stdout
// and, when recording, a fragmented MP4 too (tee: still one encode). No
// secrets are in these arguments: destinations are Go's business.
//
// Lip sync: both inputs are stamped with the wall clock when they were
// captured (x11grab when it grabs, pulse at read time less the source's
// latency), and -copyts keeps those stamps, shifted only by one common
// epoch. Without it ffmpeg starts each input at 0 on its own first packet,
// and the sound then ran early by however much later than the first frame
// the first audio arrived: 170–430 ms, different every job. The sound is
// then held back by captureAudioLead.
func encoderArgs(display string, c EncoderConfig) []string {
	if c.FrameRate == 0 {
		c.FrameRate = 30
	}
	if c.GOP == 0 {
		c.GOP = 2 * time.Second
	}
	if c.Epoch.IsZero() {
		c.Epoch = time.Now()
	}
	epoch := strconv.FormatFloat(float64(c.Epoch.UnixMicro())/1e6, 'f', 6, 64)
	audioEpoch := strconv.FormatFloat(float64(c.Epoch.Add(-captureAudioLead).UnixMicro())/1e6, 'f', 6, 64)
	gop := strconv.Itoa(int(c.GOP.Seconds() * float64(c.FrameRate)))
	br := videoBitrate(c.Width, c.Height)
	out := "[f=mpegts]pipe:1"
	if c.Recording != "" {
		out += "|[f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1:avoid_negative_ts=make_zero:onfail=ignore]" + c.Recording
	}
	return []string{
		"-hide_banner", "-loglevel", "warning", "-nostdin",
		"-copyts",
		"-thread_queue_size", "512", "-use_wallclock_as_timestamps", "1", "-f", "x11grab", "-draw_mouse", "0",
		"-video_size", fmt.Sprintf("%dx%d", c.Width, c.Height), "-framerate", strconv.Itoa(c.FrameRate), "-i", display + ".0",
		"-thread_queue_size", "512", "-f", "pulse", "-sample_rate", "48000", "-channels", "2", "-fragment_size", "3840",
		"-i", sinkName + ".monitor",
		"-map", "0:v", "-map", "1:a",
		"-filter:v", "setpts=PTS-" + epoch + "/TB", "-filter:a", "asetpts=PTS-" + audioEpoch + "/TB",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main", "-pix_fmt", "yuv420p",
		"-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
		"-b:v", strconv.Itoa(br), "-maxrate", strconv.Itoa(br), "-bufsize", strconv.Itoa(2 * br),
		"-x264-params", "repeat-headers=1",
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
		"-flags", "+global_header",
		"-f", "tee", out,
	}
}

// EncoderArgs returns the worker's ffmpeg arguments for display and c, for
// tools that reproduce its encode (cmd/beambench's naive baseline).
func EncoderArgs(display string, c EncoderConfig) []string { return encoderArgs(display, c) }

// captureAudioLead is how much earlier than the picture the sound reaches
// ffmpeg when Chromium plays both in sync: a frame goes through Chromium's
// compositor, the X server and the next x11grab tick before it is stamped,
// the sound only through PulseAudio's ~30 ms. Measured end to end at
// 640x360 once Chromium's own A/V sync has settled (test/fidelity_test.go,
// docs/BENCHMARKS.md): 48–151 ms from one job to the next (steady within a
// job), 100 on average.
const captureAudioLead = 100 * time.Millisecond

// Encoder is the running ffmpeg.
type Encoder struct {
	cmd    *exec.Cmd
	Stream io.ReadCloser // MPEG-TS
	Done   chan struct{} // closed when ffmpeg exited
	err    error
}

// StartEncoder runs ffmpeg on the sandbox's display and sink.
func StartEncoder(sb *Sandbox, c EncoderConfig, log *slog.Logger) (*Encoder, error) {
	cmd := child("ffmpeg", encoderArgs(sb.Display, c)...)
	cmd.Env = sb.Env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("composite: start ffmpeg: %w", err)
	}
	e := &Encoder{cmd: cmd, Stream: stdout, Done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Warn("ffmpeg", "line", logging.Redact(sc.Text()))
		}
	}()
	go func() {
		e.err = cmd.Wait()
		close(e.Done)
	}()
	return e, nil
}

// Stop asks ffmpeg to finish (SIGINT: it flushes the encoder and writes the
// outputs' trailers), and kills it after grace.
func (e *Encoder) Stop(grace time.Duration) error {
	e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.Done:
	case <-time.After(grace):
		syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.Done
	}
	return e.err
}

// Err is ffmpeg's exit error once Done is closed.
func (e *Encoder) Err() error { return e.err }
