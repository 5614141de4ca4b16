package signal

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// serverMsg is any message the server sends, as a test reads it.
type serverMsg struct {
	Type    string `json:"type"`
	ID      int64  `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// newServerWith is newTestServer with configure applied to the HTTP server
// before it starts.
func newServerWith(t *testing.T, configure func(*http.Server)) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sfu.New(sfu.Config{UDPAddr: "127.0.0.1:0"}, log)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := auth.NewSigner([]byte("test-secret-0123456789"))
	hs := httptest.NewUnstartedServer(NewHandler(s, signer, nil, log))
	configure(hs.Config)
	hs.Start()
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &testServer{url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer}
}

// rawDial opens a socket without joining; a refused upgrade returns the
// HTTP response.
func (ts *testServer) rawDial(ctx context.Context, t *testing.T) (*websocket.Conn, *http.Response, error) {
	ws, resp, err := websocket.Dial(ctx, ts.url, nil)
	if err == nil {
		t.Cleanup(func() { ws.CloseNow() })
	}
	return ws, resp, err
}

// rawJoin dials, sends join with token and returns the first message.
func (ts *testServer) rawJoin(ctx context.Context, t *testing.T, roomName, token string) (*websocket.Conn, serverMsg, *http.Response, error) {
	ws, resp, err := ts.rawDial(ctx, t)
	if err != nil {
		return nil, serverMsg{}, resp, err
	}
	send(ctx, ws, map[string]any{"type": "join", "v": 1, "room": roomName, "token": token})
	m, err := next(ctx, ws)
	return ws, m, nil, err
}

func send(ctx context.Context, ws *websocket.Conn, m any) error {
	b, _ := json.Marshal(m)
	return ws.Write(ctx, websocket.MessageText, b)
}

func next(ctx context.Context, ws *websocket.Conn) (serverMsg, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return serverMsg{}, err
	}
	var m serverMsg
	return m, json.Unmarshal(b, &m)
}

// isRefused429 reports whether a dial was refused before the upgrade with
// 429 and the API's error body.
func isRefused429(resp *http.Response) bool {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	var e roomcast.Error
	return json.NewDecoder(resp.Body).Decode(&e) == nil && e.Code == "resource_exhausted"
}

// TestFinding7OneTokenCannotOpen200Sockets: 200 sockets joining at once with
// one token get maxSocketsPerToken sessions; every other one is refused with
// resource_exhausted (an error message, or a 429 when the address is at its
// own limit). A place is free again once one of the sessions ends.
func TestFinding7OneTokenCannotOpen200Sockets(t *testing.T) {
	ts := newTestServer(t)
	tok := ts.token(t, "crowd", "one", room.Guest)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var joined []*websocket.Conn
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			ws, m, resp, err := ts.rawJoin(ctx, t, "crowd", tok)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && m.Type == "joined":
				joined = append(joined, ws)
			case err == nil && m.Type == "error" && m.Code == "resource_exhausted":
			case isRefused429(resp):
			default:
				t.Errorf("a socket got %+v, %v (HTTP %v)", m, err, resp)
			}
		})
	}
	wg.Wait()
	if len(joined) != maxSocketsPerToken {
		t.Fatalf("one token joined %d sessions at once, want %d", len(joined), maxSocketsPerToken)
	}
	joined[0].Close(websocket.StatusNormalClosure, "")
	testkit.WaitFor(t, 5*time.Second, "a place for the token after a session ended", func() bool {
		ws, m, _, err := ts.rawJoin(ctx, t, "crowd", tok)
		if ws != nil {
			defer ws.CloseNow()
		}
		return err == nil && m.Type == "joined"
	})
}

// TestFinding5OneAddressCannotHoldMoreThan64Sockets: sockets from one
// address, joined or not, are limited before the upgrade: the one over the
// limit gets 429 with an error body, and closing one frees a place.
func TestFinding5OneAddressCannotHoldMoreThan64Sockets(t *testing.T) {
	ts := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second) // under joinTimeout: the idle sockets stay open
	defer cancel()
	var open []*websocket.Conn
	for i := range maxSocketsPerIP {
		ws, _, err := ts.rawDial(ctx, t)
		if err != nil {
			t.Fatalf("socket %d: %v", i+1, err)
		}
		open = append(open, ws)
	}
	_, resp, err := ts.rawDial(ctx, t)
	if err == nil || !isRefused429(resp) {
		t.Fatalf("socket %d from one address: err %v, response %v; want 429 resource_exhausted", maxSocketsPerIP+1, err, resp)
	}
	open[0].CloseNow()
	testkit.WaitFor(t, 5*time.Second, "a place for the address after a socket closed", func() bool {
		ws, _, err := ts.rawDial(ctx, t)
		if err == nil {
			ws.CloseNow()
		}
		return err == nil
	})
}

// TestFinding7GarbageMessagesCloseTheSocket: a joined client sending
// garbage gets an error per message until the maxInvalidMessages-th, then a
// fatal error (no id) and the socket is closed with a policy violation.
func TestFinding7GarbageMessagesCloseTheSocket(t *testing.T) {
	ts := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, m, _, err := ts.rawJoin(ctx, t, "garbage", ts.token(t, "garbage", "g", room.Guest))
	if err != nil || m.Type != "joined" {
		t.Fatalf("join: %+v, %v", m, err)
	}
	go func() {
		for range 5000 {
			if ws.Write(ctx, websocket.MessageText, []byte("garbage")) != nil {
				return
			}
		}
	}()
	var errs []serverMsg
	for {
		m, err := next(ctx, ws)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the socket is still open after 5000 invalid messages (%d errors received)", len(errs))
			}
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
				t.Errorf("closed with %v (%v), want a policy violation", s, err)
			}
			break
		}
		if m.Type == "error" {
			errs = append(errs, m)
		}
	}
	if len(errs) != maxInvalidMessages+1 {
		t.Fatalf("got %d error messages, want one per invalid message up to %d and the fatal one", len(errs), maxInvalidMessages)
	}
	if last := errs[len(errs)-1]; last.ID != 0 || last.Code != "invalid_argument" || !strings.Contains(last.Message, "invalid messages") {
		t.Errorf("last message before the close = %+v, want the fatal invalid_argument error", last)
	}
}

// TestFinding7FailedAnswerSendsError: an answer the SFU cannot apply ends
// the session with an error message (no id, invalid_argument, naming the
// answer) before the socket closes, as docs/PROTOCOL.md promises.
func TestFinding7FailedAnswerSendsError(t *testing.T) {
	ts := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, m, _, err := ts.rawJoin(ctx, t, "badsdp", ts.token(t, "badsdp", "h", room.Host))
	if err != nil || m.Type != "joined" {
		t.Fatalf("join: %+v, %v", m, err)
	}
	send(ctx, ws, map[string]any{"type": "publish", "id": 1, "audio": true})
	for m.Type != "offer" {
		if m, err = next(ctx, ws); err != nil {
			t.Fatalf("waiting for the offer: %v", err)
		}
	}
	send(ctx, ws, map[string]any{"type": "answer", "sdp": "v=0\r\nthis is not an answer\r\n"})
	var fatal *serverMsg
	for {
		m, err := next(ctx, ws)
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
				t.Errorf("closed with %v (%v), want a policy violation after the error", s, err)
			}
			break
		}
		if m.Type == "error" {
			fatal = &m
		}
	}
	if fatal == nil || fatal.ID != 0 || fatal.Code != "invalid_argument" || !strings.Contains(fatal.Message, "answer") {
		t.Errorf("before the close the client got error %+v, want invalid_argument about the answer", fatal)
	}
}

// TestServerTimeoutsDoNotEndWebSockets: the HTTP server's read, write and
// idle timeouts (serve sets them, finding 5) are for requests; a session
// outlives them, because net/http clears the deadlines when the upgrade
// hijacks the connection. This pins that for the Handler as served.
func TestServerTimeoutsDoNotEndWebSockets(t *testing.T) {
	const d = 200 * time.Millisecond
	ts := newServerWith(t, func(s *http.Server) { s.ReadTimeout, s.WriteTimeout, s.IdleTimeout = d, d, d })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, m, _, err := ts.rawJoin(ctx, t, "long", ts.token(t, "long", "l", room.Guest))
	if err != nil || m.Type != "joined" {
		t.Fatalf("join: %+v, %v", m, err)
	}
	time.Sleep(3 * d) // past every server timeout; not a readiness wait
	send(ctx, ws, map[string]any{"type": "publish", "id": 7, "video": true})
	for m.Type != "ok" {
		if m, err = next(ctx, ws); err != nil {
			t.Fatalf("after the server's timeouts the session is gone: %v", err)
		}
	}
	if m.ID != 7 {
		t.Errorf("ok for request %d, want 7", m.ID)
	}
}
