// Package e2e holds end-to-end tests that run the real roomcast binary and
// drive Debian's Chromium against it. They are skipped with -short; locally a
// missing tool skips with the reason, with CI=true it fails.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/testkit"
)

// binary is the roomcast binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "roomcast-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "roomcast")
		args := []string{"build", "-o", binary}
		if os.Getenv("ROOMCAST_E2E_RACE") == "1" {
			// make test runs the worker and control plane tests again on a
			// race-built binary; a race report fails the test (raceFree).
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "../cmd/roomcast")...).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build roomcast: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// need skips (locally) or fails (CI=true) when a tool is missing, and skips
// in -short mode.
func need(t testing.TB, tools ...string) {
	t.Helper()
	testkit.Need(t, tools...)
}

// server is a running `roomcast serve` child process.
type server struct {
	URL  string // http://127.0.0.1:port
	NATS string // host:port of the embedded NATS with --nats-listen
	data string
	cmd  *exec.Cmd

	mu     sync.Mutex
	logs   strings.Builder
	killed bool
}

// startServer runs roomcast serve on free ports and waits for /healthz.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	s := &server{data: t.TempDir()}
	for i, a := range extra {
		if a == "--data" && i+1 < len(extra) {
			s.data = extra[i+1] // the caller's data dir (flags: the last one wins)
		}
	}
	// No warm sandbox unless a test asks (--prewarm=true): an idle Chromium
	// starting in the background would only compete with the test for CPU.
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--rtc-udp-port", "0", "--prewarm=false",
		"--data", s.data, "--log-format", "json", "--log-level", "debug"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "ROOMCAST_SECRET=")
	return s.start(t, cmd)
}

// start runs cmd, a `roomcast serve` that logs JSON, until the test ends,
// and waits for its /healthz.
func (s *server) start(t testing.TB, cmd *exec.Cmd) *server {
	t.Helper()
	s.cmd = cmd
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan [2]string, 1)
	go s.scan(stderr, addr)
	t.Cleanup(func() {
		s.stop(t)
		raceFree(t, "roomcast serve", s.Logs())
		if t.Failed() {
			t.Logf("server %s log tail:\n%s", s.URL, tail(s.Logs(), 60))
		}
	})
	select {
	case a := <-addr:
		s.URL, s.NATS = "http://"+a[0], a[1]
	case <-time.After(20 * time.Second):
		t.Fatalf("roomcast serve did not report its address; log:\n%s", s.Logs())
	}
	testkit.WaitFor(t, 10*time.Second, "healthz", func() bool {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

// scan keeps the log and reports the address from the "listening" line.
func (s *server) scan(r interface{ Read([]byte) (int, error) }, addr chan<- [2]string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.logs.WriteString(line + "\n")
		s.mu.Unlock()
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
			NATS string `json:"nats"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			select {
			case addr <- [2]string{rec.Addr, rec.NATS}:
			default:
			}
		}
	}
}

// raceFree fails t when a race-built process reported a data race.
func raceFree(t testing.TB, what, logs string) {
	t.Helper()
	if i := strings.Index(logs, "WARNING: DATA RACE"); i >= 0 {
		// The first report whole, from its head (the two accesses and
		// where their goroutines began), not the log's last lines.
		report := logs[i:]
		if end := strings.Index(report, "\n=================="); end >= 0 {
			report = report[:end]
		}
		lines := strings.Split(report, "\n")
		t.Errorf("%s reported a data race:\n%s", what, strings.Join(lines[:min(len(lines), 150)], "\n"))
	}
}

// Logs returns everything the server has logged so far.
func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// kill ends the server with SIGKILL, as a crash or the OOM killer would.
func (s *server) kill() {
	s.killed = true
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// stop sends SIGTERM, waits, and kills by pid if the server hangs.
func (s *server) stop(t testing.TB) {
	if s.killed {
		return
	}
	defer func() { s.killed = true }() // stopped: the cleanup's stop is a no-op
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("roomcast serve exited with %v; log tail:\n%s", err, tail(s.Logs(), 20))
		}
	case <-time.After(stopLimit()):
		// SIGQUIT makes the Go runtime print every goroutine: what hangs.
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
		t.Errorf("roomcast serve did not stop within %v of SIGTERM; its goroutines in roomcast code:\n%s", stopLimit(), ownFrames(s.Logs()))
	}
}

// stopLimit is how long a server may take to stop: 10 s, 30 s when it is
// built with the race detector (which runs it several times slower; the
// track recorder's last flush was seen taking over 10 s there).
func stopLimit() time.Duration {
	if os.Getenv("ROOMCAST_E2E_RACE") == "1" {
		return 30 * time.Second
	}
	return 10 * time.Second
}

// ownFrames keeps the goroutine headers and roomcast's own frames of a Go
// stack dump (at most 120 lines).
func ownFrames(dump string) string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "goroutine ") || strings.Contains(l, "roomcast/roomcast/internal/") || strings.Contains(l, "roomcast/roomcast/cmd/") ||
			strings.Contains(l, "samplebuilder") {
			out = append(out, l)
		}
	}
	return strings.Join(out[max(0, len(out)-120):], "\n")
}

// token runs `roomcast token` against the server's data dir.
func (s *server) token(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"token", "--data", s.data}, args...)...)
	cmd.Env = append(os.Environ(), "ROOMCAST_SECRET=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("roomcast token %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func (s *server) joinToken(t testing.TB, room, identity, role string) string {
	return s.token(t, "--room", room, "--identity", identity, "--role", role)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testContext is a context that ends with the test.
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
