package signal

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Limits on what one client can hold or make the server do. Each socket
// costs a goroutine pair and, once joined, a peer connection, so neither one
// address nor one token may open them without bound.
const (
	// maxSocketsPerIP bounds the sockets open from one remote address,
	// joined or not; it is checked before the upgrade. It is well above
	// what one machine's meeting tabs open (the e2e tests open about 10
	// from 127.0.0.1), but every client behind one proxy or NAT shares it.
	maxSocketsPerIP = 64
	// maxSocketsPerToken bounds the sessions joined with one token: a few
	// tabs or reconnects overlapping, not hundreds.
	maxSocketsPerToken = 8
	// maxInvalidMessages is how many messages that are not of the protocol
	// a session tolerates; a client of the protocol sends none, so one that
	// sends this many is broken or hostile and is disconnected.
	maxInvalidMessages = 20
)

// sockets counts open sockets by key (a remote address or a token). The
// zero value is ready to use.
type sockets struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more socket for key unless max are open already.
func (s *sockets) acquire(key string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= max {
		return false
	}
	if s.n == nil {
		s.n = map[string]int{}
	}
	s.n[key]++
	return true
}

// release counts one socket of key fewer.
func (s *sockets) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key]--; s.n[key] <= 0 {
		delete(s.n, key)
	}
}

// remoteIP is the address r came from, without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// refuseHTTP answers a request that is not upgraded with err as the REST
// API's error body, {"code","message"}.
func refuseHTTP(w http.ResponseWriter, err error) {
	code, msg := rcerr.Public(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code.HTTPStatus())
	json.NewEncoder(w).Encode(roomcast.Error{Code: string(code), Message: msg})
}

// admit reads the join and holds one of its token's places; release gives
// the place back when the session ends.
func (h *Handler) admit(ctx context.Context, c *conn) (req sfu.JoinRequest, release func(), err error) {
	req, token, err := h.readJoin(ctx, c)
	if err != nil {
		return req, nil, err
	}
	if !h.byToken.acquire(token, maxSocketsPerToken) {
		return req, nil, rcerr.New(rcerr.ResourceExhausted, "this token already has %d connections open; close one first", maxSocketsPerToken)
	}
	return req, func() { h.byToken.release(token) }, nil
}

// closeMsg is queued after a fatal error: the write loop closes the socket
// when it gets there, so what was queued before, and the error, go out first.
type closeMsg struct {
	reason string
	status websocket.StatusCode // 0: StatusPolicyViolation
}

// fatal sends err as an error without an id, which ends the session
// (docs/PROTOCOL.md), and has the socket closed once it is out.
func (c *conn) fatal(err error) {
	code, msg := rcerr.Public(err)
	c.log.Info("session ended by an error", "code", string(code), "err", err)
	c.send(errorMsg{Type: "error", Code: code, Message: msg})
	c.send(closeMsg{reason: string(code)})
}

// closeNow closes the socket at a closeMsg and ends the session.
func (c *conn) closeNow(m closeMsg) {
	status := m.status
	if status == 0 {
		status = websocket.StatusPolicyViolation
	}
	if err := c.ws.Close(status, m.reason); err != nil {
		c.log.Debug("signal close", "err", err)
	}
	c.fail()
}

// watch ends the session when the peer ends. A peer ended by an error (an
// answer that could not be applied) tells the client why first.
func (c *conn) watch(ctx context.Context, peer *sfu.Peer) {
	select {
	case <-peer.Done():
		if err := peer.Err(); err != nil {
			c.fatal(err)
			return
		}
		c.fail()
	case <-ctx.Done():
	}
}

// awaitClose waits, after fatal, for the write loop to close the socket;
// it gives up after writeTimeout, and the session ends anyway.
func awaitClose(ctx context.Context) {
	t := time.NewTimer(writeTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
