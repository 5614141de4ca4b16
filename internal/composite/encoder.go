package composite

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
)

// EncoderConfig is what the one encode produces.
type EncoderConfig struct {
	Width, Height int
	FrameRate     int           // default 30
	GOP           time.Duration // keyframe interval; default 2 s
	// Epoch is the wall-clock instant output time 0 stands for; zero means
	// when the arguments are built (just before ffmpeg starts).
	Epoch time.Time
	// Monitor adds the live monitor's taps: 2 pictures a second (64x36,
	// signalstats) to fd 3 and the sound's level every half second (astats)
	// to fd 4, both as ffmpeg's metadata print lines.
	Monitor bool
	// AudioOnly encodes the sink's sound alone: no display grab, no video
	// encode (fd 3 stays silent).
	AudioOnly bool
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
// (main, zerolatency, fixed GOP, constant frame rate) and AAC 48 kHz out,
// as MPEG-TS on stdout: one encode that every sink (destinations and the
// recording) takes from the fan-out. No secrets are in these arguments:
// destinations are Go's business.
//
// Lip sync: both inputs are stamped with the wall clock when ffmpeg reads
// them (-use_wallclock_as_timestamps: x11grab reads as it grabs, pulse a
// 20 ms fragment as it fills), and -copyts keeps those stamps, shifted only
// by one common epoch. Without it ffmpeg started each input at 0 on its own
// first packet, and the sound ran early by however much later than the
// first frame the first audio arrived: 170–430 ms, different every job.
// (pulse's own stamps, read time less its reported latency, settled only
// after seconds: the first 3–6 s of a job were off by up to 300 ms.)
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
	// Each stamp is taken at the end of what it captured, so each input's
	// epoch is moved by as much: a sound fragment is read once full (its
	// first sample is a fragment older); a grab shows what appeared since
	// the grab before (half a grab interval earlier, on average). With the
	// sound's alone, 8 jobs' A/V medians averaged −18 ms (−37…+1).
	at := func(offset float64) string {
		return strconv.FormatFloat(float64(c.Epoch.UnixMicro())/1e6+offset, 'f', 6, 64)
	}
	grabRate := 2 * c.FrameRate // see dedupe
	epoch := at(0.5 / float64(grabRate))
	var progress []string
	if c.Monitor {
		progress = []string{"-progress", "pipe:5"}
	}
	head := slices.Concat(progress, []string{"-hide_banner", "-loglevel", "warning", "-nostdin", "-copyts"})
	if c.AudioOnly {
		// Sound alone needs no lip sync: it is read in 100 ms fragments,
		// a fifth of the wakeups. The fast AAC coder takes ~40 % less CPU
		// than the default two-loop search, which is most of this job's
		// encode.
		return slices.Concat(head, pulseInput(audioOnlyFragment),
			[]string{"-filter_complex", audioGraph("[0:a]", at(audioOnlyFragment.Seconds()), c.Monitor), "-map", "[a]"}, aacOutput, []string{"-aac_coder", "fast"}, tsOutput)
	}
	// Neither input is probed (-probesize 32 -analyzeduration 0; the grab's
	// rate is given, -fpsprobesize 0): the first frame comes ~90 ms sooner.
	grab := []string{"-thread_queue_size", "512", "-use_wallclock_as_timestamps", "1", "-probesize", "32", "-analyzeduration", "0", "-fpsprobesize", "0", "-f", "x11grab", "-draw_mouse", "0",
		"-video_size", fmt.Sprintf("%dx%d", c.Width, c.Height), "-framerate", strconv.Itoa(grabRate), "-i", display + ".0"}
	// The picture and the sound are filtered in graphs of their own. In
	// one graph, ffmpeg fed it for its oldest output, which was often the
	// monitor's (a 0.5 s window of sound, a 2 fps picture), and held the
	// other input until that one had enough: the stream reached the
	// fan-out 300–550 ms after capture, in bursts, instead of ~100 ms.
	graphs := []string{"-filter_complex", videoGraph(epoch, c.FrameRate, c.Monitor), "-filter_complex", audioGraph("[1:a]", at(soundFragment.Seconds()), c.Monitor), "-map", "[v]", "-map", "[a]"}
	return slices.Concat(head, grab, pulseInput(soundFragment), graphs, h264Output(c), aacOutput, tsOutput)
}

// h264Output encodes the picture: H.264 main at the size's bitrate, each
// picture at its own time (videoGraph) on a 90 kHz clock, a keyframe by
// time (keyframes). x264's own keyframe interval is twice the GOP's
// pictures at the full rate, so it never comes before the timed one.
func h264Output(c EncoderConfig) []string {
	keyint := strconv.Itoa(int(2 * c.GOP.Seconds() * float64(c.FrameRate)))
	br := videoBitrate(c.Width, c.Height)
	return []string{"-fps_mode", "vfr", "-r", strconv.Itoa(c.FrameRate), "-enc_time_base", "1:90000",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main", "-pix_fmt", "yuv420p",
		"-g", keyint, "-keyint_min", keyint, "-sc_threshold", "0", "-force_key_frames", keyframes(c.GOP),
		"-b:v", strconv.Itoa(br), "-maxrate", strconv.Itoa(br), "-bufsize", strconv.Itoa(2 * br),
		"-x264-params", "repeat-headers=1"}
}

// keyframes makes a keyframe every 0.2 s over the encoder's first 2.5 s,
// then one a GOP, by time: the picture's rate varies (videoGraph), so -g,
// which counts pictures, only bounds it. The early ones: the encoder starts
// while the page joins (0.5–1.2 s), and the stream begins at the first
// keyframe after the page has joined (Fanout.open), so it waits at most
// 0.2 s for one instead of up to a GOP (a slower join waits for the
// regular GOP). Over 5 s, the keyframes left the stream's first seconds
// short of bits: CI counted 28.4–28.9 distinct frames/s of 30.
func keyframes(gop time.Duration) string {
	// (less a millisecond: a picture 2 s after the last keyframe counts,
	// whatever the sum's rounding)
	return "expr:if(lt(t,2.5),gte(t,n_forced*0.2),gte(t-prev_forced_t," + strconv.FormatFloat(gop.Seconds(), 'f', -1, 64) + "-0.001))"
}

// aacOutput encodes the sound: AAC-LC 48 kHz stereo.
var aacOutput = []string{"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-flags", "+global_header"}

// tsOutput is the MPEG-TS on stdout: pts = time since the epoch, no muxer
// offset; each AAC frame in a PES of its own (by default the muxer
// gathered ~8, holding the sound back up to ~200 ms behind the picture it
// sent), and no muxing delay: by default (0.7 s) the sound reached the
// fan-out ~340 ms after it was captured, in bursts every ~0.55 s, and the
// first frame ~0.5 s after ffmpeg started; with none, ~85 ms and ~0.18 s
// (a job's first sound at the ingest came 0.4–0.6 s after its first
// picture).
var tsOutput = []string{"-f", "mpegts", "-mpegts_copyts", "1", "-pes_payload_size", "0", "-muxdelay", "0", "pipe:1"}

// The sink's monitor is read in fragments this long: short beside a
// picture (its sync), long for sound alone (encoderArgs).
const (
	soundFragment     = 20 * time.Millisecond
	audioOnlyFragment = 100 * time.Millisecond
)

// pulseInput is the sink's monitor as ffmpeg's input, read in fragments
// that long (of 48 kHz stereo s16: 3840 bytes for 20 ms) and stamped with
// the wall clock as it is read.
func pulseInput(fragment time.Duration) []string {
	size := int(fragment*48000/time.Second) * 2 * 2
	return []string{"-thread_queue_size", "512", "-use_wallclock_as_timestamps", "1", "-probesize", "32", "-analyzeduration", "0", "-f", "pulse",
		"-sample_rate", "48000", "-channels", "2", "-fragment_size", strconv.Itoa(size), "-i", sinkName + ".monitor"}
}

// dedupe drops a grab identical to the one before it (at most two in a
// row, so a still picture keeps flowing). The display is grabbed at twice
// the output rate: each picture the page presents is seen at least once,
// time-stamped within half an output frame of when it appeared. Grabbed at
// the output rate, the grab and the page's own 30 fps drifted across each
// other, and where they lined up a presented picture was missed and its
// neighbour repeated (28.1–29.9 distinct fps of 30 over a 30 s job on a
// loaded 2-core machine).
const dedupe = "mpdecimate=hi=1:lo=1:frac=0:max=2"

// atMost keeps at most rate pictures a second, on average over any
// second, and lets two through at once (the page presents two in one
// frame's time, then none in the next: those are both kept). A page that
// animates at the display's 60 Hz is encoded at rate, not twice the bits
// and the CPU. Registers: 0 the pictures that may pass now (a token
// bucket, full at 2), 1 the time of the picture before.
func atMost(rate int) string {
	r := strconv.Itoa(rate)
	return "select='st(0,if(eq(n,0),2,min(2,ld(0)+(t-ld(1))*" + r + ")));st(1,t);" +
		"if(gte(ld(0),1),st(0,ld(0)-1)+1,0)'"
}

// videoGraph shifts the picture by the epoch to [v] and, for the
// monitor, splits off a small picture (cheap: 64x36 at 2 fps) printed to
// fd 3.
//
// Each picture the page presented keeps the time it was grabbed (the
// output's rate varies, -fps_mode vfr; at most rate a second, atMost), so
// none is lost to a frame grid and none moved by up to half a frame to
// fit one. On a 30 fps grid (each picture on the frame nearest its time,
// or the next when another took that) 720p jobs kept 27.3–29.95 distinct
// pictures a second of the 30 sent, and each picture's time was off by up
// to half a frame; kept at their grab times, 29.1–29.97, and off by at most
// half a grab interval (docs/BENCHMARKS.md, sixth sync section). Left to
// -fps_mode cfr, ffmpeg let a picture drift up to 1.1 frames from its time
// before it dropped or repeated one.
func videoGraph(epoch string, rate int, monitor bool) string {
	v := "[0:v]" + dedupe + ",setpts=PTS-" + epoch + "/TB," + atMost(rate)
	if !monitor {
		return v + "[v]"
	}
	return v + ",split=2[v][vm];[vm]fps=2,scale=64:36,signalstats,metadata=mode=print:file=/dev/fd/3:direct=1,nullsink"
}

// audioGraph shifts the sound (input in) by the epoch to [a] and, for the
// monitor, prints its level over 0.5 s windows to fd 4.
func audioGraph(in, epoch string, monitor bool) string {
	a := in + "asetpts=PTS-" + epoch + "/TB"
	if !monitor {
		return a + "[a]"
	}
	return a + ",asplit=2[a][am];[am]asetnsamples=n=24000:p=0,astats=metadata=1:reset=1," +
		"ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=/dev/fd/4:direct=1,anullsink"
}

// EncoderArgs returns the worker's ffmpeg arguments for display and c, for
// tools that reproduce its encode (cmd/beambench's naive baseline).
func EncoderArgs(display string, c EncoderConfig) []string { return encoderArgs(display, c) }

// Encoder is the running ffmpeg.
type Encoder struct {
	cmd    *exec.Cmd
	Stream io.ReadCloser // MPEG-TS
	// Pictures and Levels are the monitor's taps (with Monitor set): ffmpeg
	// metadata print lines, until ffmpeg exits; Progress is its -progress
	// key=value blocks (frames, fps, speed, dropped frames) twice a second.
	Pictures, Levels, Progress io.ReadCloser
	// Epoch is the wall-clock instant the stream's time 0 stands for: a
	// frame with pts p was captured at Epoch + p.
	Epoch time.Time
	Done  chan struct{} // closed when ffmpeg exited
	err   error

	progress atomic.Pointer[EncoderProgress]
}

// StartEncoder runs ffmpeg on the sandbox's display and sink.
func StartEncoder(sb *Sandbox, c EncoderConfig, log *slog.Logger) (*Encoder, error) {
	if c.Epoch.IsZero() {
		c.Epoch = time.Now()
	}
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
	e := &Encoder{cmd: cmd, Stream: stdout, Done: make(chan struct{}), Epoch: c.Epoch}
	var taps []*os.File // the child's ends, closed here once it has them
	if c.Monitor {
		for _, r := range []*io.ReadCloser{&e.Pictures, &e.Levels, &e.Progress} {
			pr, pw, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			*r = pr
			taps = append(taps, pw)
		}
		cmd.ExtraFiles = taps
	}
	err = cmd.Start()
	for _, f := range taps {
		f.Close()
	}
	if err != nil {
		if c.Monitor {
			e.Pictures.Close()
			e.Levels.Close()
			e.Progress.Close()
		}
		return nil, fmt.Errorf("composite: start ffmpeg: %w", err)
	}
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

// EncoderProgress is ffmpeg's own account of the encode (-progress).
type EncoderProgress struct {
	Frames, Dropped, Duplicated uint64  // frames encoded; captured frames it dropped and repeated to keep the frame rate
	FPS                         float64 // frames encoded per second, lately
	Speed                       float64 // encode time / wall time: 1 is realtime, less falls behind
}

// readProgress keeps the latest -progress block in e until the pipe ends.
func (e *Encoder) readProgress() {
	sc := bufio.NewScanner(e.Progress)
	var p EncoderProgress
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "frame":
			p.Frames, _ = strconv.ParseUint(v, 10, 64)
		case "fps":
			p.FPS, _ = strconv.ParseFloat(v, 64)
		case "drop_frames":
			p.Dropped, _ = strconv.ParseUint(v, 10, 64)
		case "dup_frames":
			p.Duplicated, _ = strconv.ParseUint(v, 10, 64)
		case "speed":
			p.Speed, _ = strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		case "progress": // the block's last line
			latest := p
			e.progress.Store(&latest)
		}
	}
}

// LatestProgress is the last -progress block (ok false before the first).
func (e *Encoder) LatestProgress() (EncoderProgress, bool) {
	p := e.progress.Load()
	if p == nil {
		return EncoderProgress{}, false
	}
	return *p, true
}

// Err is ffmpeg's exit error once Done is closed.
func (e *Encoder) Err() error { return e.err }

// running says whether ffmpeg has not exited yet.
func (e *Encoder) running() bool {
	select {
	case <-e.Done:
		return false
	default:
		return true
	}
}
