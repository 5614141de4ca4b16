// Package composite is the beam worker's media pipeline: a private virtual
// display and audio sink per job, Chromium showing the meeting's clean view
// on them, one ffmpeg encoding what it sees and hears, a Go fan-out of that
// one stream to every RTMP(S) destination, and a crash-safe recording.
package composite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// sinkName is the PulseAudio null sink Chromium plays into; ffmpeg records
// its monitor.
const sinkName = "beam"

// Sandbox is one job's virtual display (Xvfb) and audio server (PulseAudio
// with a null sink), isolated from other jobs on the machine.
type Sandbox struct {
	Display string   // e.g. ":3"
	Env     []string // DISPLAY, PULSE_SERVER, HOME, XDG_RUNTIME_DIR for children
	dir     string
	runDir  string // sockets outside dir, when dir's path is too long for them
	procs   []*exec.Cmd
	log     *slog.Logger
}

// StartSandbox starts Xvfb at w x h and a PulseAudio server under dir.
func StartSandbox(ctx context.Context, dir string, w, h int, log *slog.Logger) (*Sandbox, error) {
	return startSandbox(ctx, dir, w, h, true, log)
}

// startSandbox is StartSandbox; awake keeps the sink awake with silence
// (for the picture's sync: see startPulse).
func startSandbox(ctx context.Context, dir string, w, h int, awake bool, log *slog.Logger) (*Sandbox, error) {
	s := &Sandbox{dir: dir, log: log}
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("composite: sandbox dir: %w", err)
		}
	}
	if len(filepath.Join(run, "pulse.sock")) > maxSocketPath {
		// A Unix socket's path must fit in 108 bytes: a deep --data dir
		// gets its sockets in a short directory of its own.
		short, err := os.MkdirTemp("", "roomcast-run-")
		if err != nil {
			return nil, fmt.Errorf("composite: sandbox dir: %w", err)
		}
		run, s.runDir = short, short
	}
	if err := s.startXvfb(ctx, w, h); err != nil {
		s.Close()
		return nil, err
	}
	sock := filepath.Join(run, "pulse.sock")
	s.Env = []string{"DISPLAY=" + s.Display, "PULSE_SERVER=unix:" + sock, "HOME=" + home, "XDG_RUNTIME_DIR=" + run,
		"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	if err := s.startPulse(ctx, sock, awake); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// child prepares a process that dies with the worker (Pdeathsig), so a
// killed worker leaves no orphans holding displays or files.
func child(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// maxSocketPath is the longest socket path used (sun_path is 108 bytes).
const maxSocketPath = 100

// startLimit is how long Xvfb and PulseAudio may take to start: a few
// hundred milliseconds normally, over 10 s seen on a loaded 2-core machine
// with another sandbox starting at once.
const startLimit = 20 * time.Second

// startXvfb lets Xvfb pick a free display number and report it (-displayfd).
func (s *Sandbox) startXvfb(ctx context.Context, w, h int) error {
	r, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := child("Xvfb", "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", w, h), "-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{wr}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return fmt.Errorf("composite: start Xvfb: %w", err)
	}
	wr.Close()
	s.procs = append(s.procs, cmd)
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(r).ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case n := <-line:
		if n == "" {
			return errors.New("composite: Xvfb exited before reporting its display")
		}
		s.Display = ":" + n
		return nil
	case <-time.After(startLimit):
		return fmt.Errorf("composite: Xvfb did not start within %v", startLimit)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sandbox) startPulse(ctx context.Context, sock string, awake bool) error {
	cmd := child("pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
		"--log-target=stderr", "--log-level=error",
		"-L", "module-native-protocol-unix socket="+sock+" auth-anonymous=1",
		"-L", "module-null-sink sink_name="+sinkName+" rate=48000 channels=2 sink_properties=device.description=roomcast-beam",
		"-L", "module-always-sink")
	cmd.Env = s.Env
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("composite: start pulseaudio: %w", err)
	}
	s.procs = append(s.procs, cmd)
	deadline := time.Now().Add(startLimit)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("composite: pulseaudio did not open its socket within %v", startLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !awake {
		return nil
	}
	// A client writing silence keeps the sink awake: an idle sink makes
	// ffmpeg's first audio arrive 1–2 s late (docs/notes: media pipeline).
	pacat := child("pacat", "-p", "--latency-msec=30", "--rate=48000", "--channels=2", "--format=s16le", "--device="+sinkName)
	pacat.Env = s.Env
	zr, zw, err := os.Pipe()
	if err != nil {
		return err
	}
	pacat.Stdin = zr
	err = pacat.Start()
	zr.Close()
	if err != nil {
		zw.Close()
		return fmt.Errorf("composite: start pacat: %w", err)
	}
	go func() { // an endless stream of zeros, paced by pacat's reads
		defer zw.Close()
		buf := make([]byte, 3840)
		for {
			if _, err := zw.Write(buf); err != nil {
				return
			}
		}
	}()
	s.procs = append(s.procs, pacat)
	s.wakeSink(ctx, "sink-inputs")
	return nil
}

// wakeSink makes the null sink take pacat's low latency at once. Until
// woken, a new null sink sleeps in 2 s blocks: a recording of its monitor
// opened in the first one (a cold job's encoder) got its first sound only
// at its end, and ffmpeg, opening its inputs one after the other, sent
// nothing before it (the first picture at the ingest ~1.9 s later). A
// suspend and resume once pacat plays reschedules the sink (~30 ms).
// Should it fail, the sink wakes on its own by then. It waits for a client
// of the kind given first: "sink-inputs" (pacat playing) or, in a sandbox
// kept without pacat (audio-only), "source-outputs" (the encoder reading
// the monitor: its first sound came 2.2 s after the API call, 1.5 s after
// the page had joined).
func (s *Sandbox) wakeSink(ctx context.Context, clients string) {
	pactl := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "pactl", args...)
		cmd.Env = s.Env
		return cmd.Output()
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		out, err := pactl("list", "short", clients)
		if err == nil && len(bytes.TrimSpace(out)) > 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.log.Warn("the audio sink has no "+clients+" to wake it for; its first sound may come late", "err", err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, on := range []string{"1", "0"} {
		if _, err := pactl("suspend-sink", sinkName, on); err != nil {
			s.log.Warn("wake the audio sink", "err", err)
			return
		}
	}
}

// Close stops the sandbox's processes and removes its files.
func (s *Sandbox) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		stop(s.procs[i], 2*time.Second)
	}
	os.RemoveAll(s.dir)
	if s.runDir != "" {
		os.RemoveAll(s.runDir)
	}
}

// stop ends a process group politely, then by force.
func stop(cmd *exec.Cmd, grace time.Duration) {
	if cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}
