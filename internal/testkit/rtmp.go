// Package testkit has test fixtures shared by integration tests: real
// servers (nginx-rtmp) started on free ports and killed by pid.
package testkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RTMPServer is nginx with libnginx-mod-rtmp on a free port, the ingest the
// beam streams to in tests.
type RTMPServer struct {
	Port int
	dir  string
	cmd  *exec.Cmd
}

const nginxConf = `load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:%[2]d;
    chunk_size 4096;
    application live { live on; record off;%[3]s }
  }
}
`

// StartRTMP runs nginx-rtmp for the test (skipped with -short or without nginx,
// failed in CI without it).
func StartRTMP(t testing.TB) *RTMPServer { return StartRTMPNotifying(t, "") }

// StartRTMPNotifying is StartRTMP with nginx-rtmp's on_publish callback set
// to onPublish (an http:// URL; "" for none): nginx POSTs each publish's
// app, name and args there and refuses the publish unless it answers 2xx.
func StartRTMPNotifying(t testing.TB, onPublish string) *RTMPServer {
	t.Helper()
	Need(t, "nginx", "ffprobe")
	s := &RTMPServer{Port: FreePort(t), dir: t.TempDir()}
	notify := ""
	if onPublish != "" {
		notify = " on_publish " + onPublish + "; notify_method post;"
	}
	if err := os.WriteFile(filepath.Join(s.dir, "nginx.conf"), fmt.Appendf(nil, nginxConf, s.dir, s.Port, notify), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Start(t)
	t.Cleanup(s.Kill)
	return s
}

// Start (re)starts nginx.
func (s *RTMPServer) Start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command("nginx", "-e", filepath.Join(s.dir, "error.log"), "-p", s.dir, "-c", filepath.Join(s.dir, "nginx.conf"))
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	waitListening(t, s.Addr(), "nginx")
}

// waitListening waits until something accepts TCP connections on addr.
func waitListening(t testing.TB, addr, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within 10s", what, addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops nginx at once (by pid), as a crash would.
func (s *RTMPServer) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Addr is nginx's host:port.
func (s *RTMPServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// URL is a publish/play URL for stream key on the live app.
func (s *RTMPServer) URL(key string) string { return "rtmp://" + s.Addr() + "/live/" + key }

// Probe is what ffprobe sees of a stream or file.
type Probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		StartTime string `json:"start_time"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Stream returns the first stream of kind (video, audio).
func (p Probe) Stream(kind string) (codec string, w, h int) {
	for _, s := range p.Streams {
		if s.CodecType == kind {
			return s.CodecName, s.Width, s.Height
		}
	}
	return "", 0, 0
}

// StartTime is when the first stream of kind starts, in seconds on the
// file's timeline (-1: no such stream).
func (p Probe) StartTime(kind string) float64 {
	for _, s := range p.Streams {
		if s.CodecType == kind {
			v, err := strconv.ParseFloat(s.StartTime, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// FFprobe reads a stream or file's streams and duration.
func FFprobe(target string) (Probe, error) {
	out, err := exec.Command("ffprobe", "-v", "error", "-rw_timeout", "8000000",
		"-show_entries", "stream=codec_type,codec_name,width,height,start_time:format=duration", "-of", "json", target).Output()
	var p Probe
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return p, fmt.Errorf("ffprobe %s: %w", target, err)
	}
	return p, json.Unmarshal(out, &p)
}

// FreePort returns a TCP port free right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Need skips (locally) or fails (CI=true) when a tool is missing, and skips
// in -short mode.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test; skipped with -short")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI: %v (run make test, which installs it)", tool, err)
			}
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
}
