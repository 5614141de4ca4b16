package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
)

// children are the processes the tool started; stop ends each by pid.
type children struct {
	mu   sync.Mutex
	list []*child
}

// child is a started process; done closes when it has been waited for.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// start runs cmd so that it dies with the tool (Pdeathsig) and remembers it.
func (c *children) start(cmd *exec.Cmd) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, done: make(chan struct{})}
	go func() { ch.err = cmd.Wait(); close(ch.done) }()
	c.mu.Lock()
	c.list = append(c.list, ch)
	c.mu.Unlock()
	return ch, nil
}

// exited reports whether the process has ended.
func (ch *child) exited() bool {
	select {
	case <-ch.done:
		return true
	default:
		return false
	}
}

// stop ends one child: sig first, SIGKILL after grace.
func (c *children) stop(ch *child, sig syscall.Signal, grace time.Duration) {
	c.mu.Lock()
	for i, x := range c.list {
		if x == ch {
			c.list = append(c.list[:i], c.list[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	ch.cmd.Process.Signal(sig)
	select {
	case <-ch.done:
	case <-time.After(grace):
		ch.cmd.Process.Kill()
		<-ch.done
	}
}

// stopAll ends every child still running, newest first.
func (c *children) stopAll() {
	for {
		c.mu.Lock()
		n := len(c.list)
		if n == 0 {
			c.mu.Unlock()
			return
		}
		ch := c.list[n-1]
		c.mu.Unlock()
		c.stop(ch, syscall.SIGTERM, 10*time.Second)
	}
}

// server is the `roomcast serve` child.
type server struct {
	cmd     *exec.Cmd
	child   *child
	URL     string
	logPath string

	mu       sync.Mutex
	events   []logEvent
	warnings []logEvent
}

type logEvent struct {
	at  time.Time
	msg string
}

// startServer runs roomcast serve on free ports with its own data dir and a
// fixed secret, and waits for /healthz.
func startServer(ctx context.Context, kids *children, bin, dir string, prewarm bool) (*server, error) {
	s := &server{logPath: filepath.Join(dir, "server.log")}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--rtc-udp-port", "0",
		"--data", filepath.Join(dir, "data"), "--log-format", "json", "--log-level", "info",
		fmt.Sprintf("--prewarm=%t", prewarm))
	s.cmd.Env = append(os.Environ(), auth.SecretEnv+"="+secret)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if s.child, err = kids.start(s.cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w (build it: go build -o bin/roomcast ./cmd/roomcast)", bin, err)
	}
	addr := make(chan string, 1)
	go s.scan(stderr, logf, addr)
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("roomcast serve did not report its address; see %s", s.logPath)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("roomcast serve /healthz not ok within 10 s; see %s", s.logPath)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// scan copies the JSON log to a file, reports the "listening" address and
// keeps the timestamps of the lines that mark a job's steps.
func (s *server) scan(r io.Reader, w io.WriteCloser, addr chan<- string) {
	defer w.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		w.Write(append(line, '\n'))
		var rec struct {
			Time  time.Time `json:"time"`
			Level string    `json:"level"`
			Msg   string    `json:"msg"`
			Addr  string    `json:"addr"`
			Took  int64     `json:"took"` // ns, on "beam page joined"
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if rec.Level == "WARN" || rec.Level == "ERROR" {
			s.mu.Lock()
			s.warnings = append(s.warnings, logEvent{rec.Time, rec.Msg})
			s.mu.Unlock()
		}
		switch rec.Msg {
		case "listening":
			select {
			case addr <- rec.Addr:
			default:
			}
		case "job started", "beam page joined", "media flowing", "warm sandbox ready":
			s.mu.Lock()
			s.events = append(s.events, logEvent{rec.Time, rec.Msg})
			if rec.Msg == "beam page joined" { // the page load that joined began took earlier
				s.events = append(s.events, logEvent{rec.Time.Add(-time.Duration(rec.Took)), "page load began"})
			}
			s.mu.Unlock()
		}
	}
}

// event is the first log line msg at or after t (zero if none yet).
func (s *server) event(msg string, t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.events {
		if e.msg == msg && !e.at.Before(t) {
			return e.at
		}
	}
	return time.Time{}
}

// warned summarizes the warnings logged from t on ("msg ×n, ...").
func (s *server) warned(t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var order []string
	n := map[string]int{}
	for _, e := range s.warnings {
		if e.at.Before(t) {
			continue
		}
		if n[e.msg] == 0 {
			order = append(order, e.msg)
		}
		n[e.msg]++
	}
	out := ""
	for i, m := range order {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q ×%d", m, n[m])
	}
	return out
}

// Pid is the server's process id.
func (s *server) Pid() int { return s.cmd.Process.Pid }

// hooks is the HTTP endpoint nginx-rtmp calls on every publish (on_publish):
// it records when nginx accepted each stream key.
type hooks struct {
	addr string
	mu   sync.Mutex
	seen map[string][]time.Time
}

func startHooks() (*hooks, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hooks{addr: l.Addr().String(), seen: map[string][]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/on_publish", func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		r.ParseForm()
		h.mu.Lock()
		h.seen[r.Form.Get("name")] = append(h.seen[r.Form.Get("name")], at)
		h.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	go http.Serve(l, mux) // lives as long as the tool
	return h, nil
}

// published waits until nginx reported a publish of key at or after t.
func (h *hooks) published(ctx context.Context, key string, t time.Time, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		for _, at := range h.seen[key] {
			if !at.Before(t) {
				h.mu.Unlock()
				return at, nil
			}
		}
		h.mu.Unlock()
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("nginx saw no publish of %s within %v", key, timeout)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
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
    application live {
      live on;
      record off;
      on_publish http://%[3]s/on_publish;
    }
  }
}
`

// startNginx runs nginx-rtmp on a free port with the on_publish hook and
// returns its host:port.
func startNginx(ctx context.Context, kids *children, dir, hookAddr string) (string, error) {
	dir = filepath.Join(dir, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, port, hookAddr), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("nginx", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf)
	if _, err := kids.start(cmd); err != nil {
		return "", fmt.Errorf("start nginx: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("nginx did not listen on %s within 10 s; see %s/error.log", addr, dir)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
