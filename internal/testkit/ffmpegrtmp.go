package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FFmpegRTMP is ffmpeg's own RTMP server (-listen 1): it takes one
// publish on live/<key> and copies it into an FLV file, then exits. A
// second implementation besides nginx-rtmp, with its own quirks.
type FFmpegRTMP struct {
	Port int
	Key  string
	dir  string
	runs int
	cmd  *exec.Cmd
}

// StartFFmpegRTMP listens for a publish of key on a free port.
func StartFFmpegRTMP(t testing.TB, key string) *FFmpegRTMP {
	t.Helper()
	Need(t, "ffmpeg", "ffprobe")
	s := &FFmpegRTMP{Port: FreePort(t), Key: key, dir: t.TempDir()}
	s.Start(t)
	t.Cleanup(s.Kill)
	return s
}

// Start (re)starts the listener; each run writes a new file.
func (s *FFmpegRTMP) Start(t testing.TB) {
	t.Helper()
	s.runs++
	s.cmd = exec.Command("ffmpeg", "-nostdin", "-loglevel", "info", "-listen", "1", "-i", s.URL(),
		"-c", "copy", "-flush_packets", "1", "-f", "flv", "-y", s.File())
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(s.File() + ".log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg -listen: %v", err)
	}
	// Not a test connection: ffmpeg would take it as the publish.
	deadline := time.Now().Add(10 * time.Second)
	for !listening(s.Port) {
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg -listen did not listen on %s within 10s", s.Addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listening reads /proc/net/tcp for a socket in LISTEN state on port.
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// Kill stops ffmpeg at once (by pid).
func (s *FFmpegRTMP) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Addr is the listener's host:port.
func (s *FFmpegRTMP) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is the publish URL.
func (s *FFmpegRTMP) URL() string { return "rtmp://" + s.Addr() + "/live/" + s.Key }

// Log is what the current run of ffmpeg printed.
func (s *FFmpegRTMP) Log() string {
	b, _ := os.ReadFile(s.File() + ".log")
	return string(b)
}

// File is the FLV the current run writes.
func (s *FFmpegRTMP) File() string { return filepath.Join(s.dir, fmt.Sprintf("run%d.flv", s.runs)) }
