package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/api"
	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// testLimits are short enough for a test to wait them out.
var testLimits = limits{Header: time.Second, Read: 300 * time.Millisecond, Write: 2 * time.Second, Idle: 300 * time.Millisecond}

// serveTest serves h with lim on a loopback port until the test ends and
// returns the address.
func serveTest(t *testing.T, h http.Handler, lim limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, lim)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// TestFinding5IdleConnectionsAreClosed: a keep-alive connection that sends
// no further request is closed after the idle limit.
func TestFinding5IdleConnectionsAreClosed(t *testing.T) {
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }), testLimits)
	c, br := testkit.Dial(t, addr)
	fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: roomcast\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	if !testkit.Closed(br) {
		t.Error("an idle keep-alive connection is still open after 3 s")
	}
	if defaultLimits.Idle <= 0 || defaultLimits.Idle > 5*time.Minute {
		t.Errorf("serve's idle limit is %v", defaultLimits.Idle)
	}
}

// TestFinding5SlowBodyIsCutOff: an authorized client sending its body a
// byte a second gets 400 with an error body once the read limit passes, and
// the connection is closed.
func TestFinding5SlowBodyIsCutOff(t *testing.T) {
	signer, _ := auth.NewSigner([]byte("app-test-secret-0123456789"))
	mgmt, _ := signer.ManagementToken(time.Hour)
	mux := http.NewServeMux()
	api.New(nil, api.RoomsFunc(func(string) bool { return false }), signer, slog.New(slog.DiscardHandler)).Register(mux)
	_, br := testkit.SlowPost(t, serveTest(t, mux, testLimits), "/v1/rooms/R/beam/start", "Authorization: Bearer "+mgmt+"\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within 3 s: %v", err)
	}
	var e roomcast.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusBadRequest ||
		e.Code != "invalid_argument" || !strings.Contains(e.Message, "in time") {
		t.Errorf("got %d %+v (%v); want 400 invalid_argument saying the body did not arrive in time", resp.StatusCode, e, err)
	}
	if !testkit.Closed(br) {
		t.Error("the connection is still open 3 s after the answer")
	}
}

// TestReadLimitSparesHandlersPastTheBody: a handler that has read the
// whole body (or had none) may run past the read limit without its request
// being cancelled; net/http lifts the deadline when it starts waiting for
// the next request in the background.
func TestReadLimitSparesHandlersPastTheBody(t *testing.T) {
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(3 * testLimits.Read): // a stop waiting for its worker
			fmt.Fprintf(w, "read %s", b)
		}
	}), testLimits)
	for _, body := range []string{`{"a":1}`, ""} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "read "+body {
			t.Errorf("body %q: got %d %q", body, resp.StatusCode, b)
		}
	}
}

// TestFinding7UDPBindsToTheAddrHost: serve with --addr 127.0.0.1:... binds
// the media socket to 127.0.0.1, not every interface; without a host (or
// with an unspecified one) it still binds all of them.
func TestFinding7UDPBindsToTheAddrHost(t *testing.T) {
	cfg := config.Default()
	cfg.Addr, cfg.RTCUDPPort, cfg.DataDir, cfg.WorkerSlots = "127.0.0.1:0", 0, t.TempDir(), 0
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run starts and at once shuts down: the ordered cleanup
	t.Cleanup(func() { a.Run(ctx) })
	if ip := a.sfu.UDPAddr().(*net.UDPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("with --addr %s the media socket is on %s", cfg.Addr, a.sfu.UDPAddr())
	}
	for _, tt := range []struct{ addr, want string }{
		{":7880", ":7882"},
		{"0.0.0.0:7880", ":7882"},
		{"[::]:7880", ":7882"},
		{"127.0.0.1:7880", "127.0.0.1:7882"},
		{"192.0.2.7:7880", "192.0.2.7:7882"},
		{"localhost:7880", "localhost:7882"},
	} {
		if got := mediaAddr(tt.addr, 7882); got != tt.want {
			t.Errorf("mediaAddr(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
