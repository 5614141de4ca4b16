package signal

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/sfu"
)

const (
	// joinTimeout bounds the wait for the first message.
	joinTimeout = 10 * time.Second
	// writeTimeout bounds one write to a client.
	writeTimeout = 10 * time.Second
	// outQueue is how many messages may wait for a slow client before it is
	// disconnected; the SFU never blocks on a client.
	outQueue = 256
)

// Handler accepts signaling WebSockets.
type Handler struct {
	sfu    *sfu.SFU
	signer *auth.Signer
	log    *slog.Logger
	beam   *beamSide // nil: no streaming/recording control
	router Router    // nil: every room is on this server

	members members // joined sessions by room

	byIP    sockets // open sockets by remote address
	byToken sockets // joined sessions by token
}

// NewHandler returns a Handler that joins peers to s after checking their
// tokens with signer. beams, when set, lets peers with the start/stop
// permission start and stop streaming and recording, and sends every peer
// the room's state on join.
func NewHandler(s *sfu.SFU, signer *auth.Signer, beams Beams, log *slog.Logger) *Handler {
	h := &Handler{sfu: s, signer: signer, log: log}
	if beams != nil {
		h.beam = &beamSide{beams: beams}
	}
	return h
}

// ServeHTTP upgrades to a WebSocket and runs one peer's session. A remote
// address with maxSocketsPerIP sockets open is refused (429) before the
// upgrade.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	if !h.byIP.acquire(ip, maxSocketsPerIP) {
		h.log.Warn("signaling connection refused: too many from one address", "remote", ip)
		refuseHTTP(w, rcerr.New(rcerr.ResourceExhausted, "too many signaling connections from your address (at most %d)", maxSocketsPerIP))
		return
	}
	defer h.byIP.release(ip)
	ws, err := websocket.Accept(w, r, h.acceptOptions())
	if err != nil {
		h.log.Debug("websocket accept", "err", err)
		return
	}
	ws.SetReadLimit(MaxMessageSize)
	h.session(r, ws)
}

// session runs one peer on ws: the join, its pumps and its end.
func (h *Handler) session(r *http.Request, ws *websocket.Conn) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c := &conn{ws: ws, out: make(chan any, outQueue), log: h.log, fail: cancel}
	req, release, err := h.admit(ctx, c)
	if err != nil {
		c.closeWithError(ctx, err)
		return
	}
	defer release()
	if !h.route(ctx, c, req.Room) {
		return
	}
	peer, others, err := h.sfu.Join(req, c)
	if err != nil {
		c.closeWithError(ctx, rcerr.Wrap(rcerr.Unavailable, err, "server is shutting down"))
		return
	}
	defer peer.Close()
	c.log = h.log.With("room", req.Room, "peer", peer.ID())
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx) })
	wg.Go(func() { c.watch(ctx, peer) })
	c.open(joinedMsg{Type: "joined", V: Version, Self: peer.Info(), Peers: others})
	defer h.members.enter(req.Room, c)()
	if h.beam != nil {
		h.beam.sendCurrent(ctx, req.Room, c)
	}
	c.readLoop(ctx, func(m *ClientMessage) { h.handle(ctx, r, c, peer, req, m) })
	cancel()
	wg.Wait()
	ws.Close(websocket.StatusNormalClosure, "bye")
}

// readJoin reads and checks the first message, which must be a join with a
// valid token for the room it names; it returns the request and the token.
func (h *Handler) readJoin(ctx context.Context, c *conn) (sfu.JoinRequest, string, error) {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return sfu.JoinRequest{}, "", rcerr.Wrap(rcerr.InvalidArgument, err, "expected a join message within 10 s")
	}
	m, err := Decode(b)
	if err != nil {
		return sfu.JoinRequest{}, "", err
	}
	if m.Type != TypeJoin {
		return sfu.JoinRequest{}, "", rcerr.New(rcerr.InvalidArgument, "the first message must be join, got %q", m.Type)
	}
	claims, err := h.signer.VerifyJoin(m.Token, m.Room)
	if err != nil {
		return sfu.JoinRequest{}, "", err
	}
	return sfu.JoinRequest{Room: m.Room, Identity: claims.Identity(), Role: claims.Role, AudioOnly: m.Receive == "audio"}, m.Token, nil
}

// conn is one client's socket; it implements sfu.Signaler.
type conn struct {
	ws   *websocket.Conn
	out  chan any
	log  *slog.Logger
	fail context.CancelFunc // ends the session

	mu       sync.Mutex
	joined   bool   // the joined message is queued
	early    []any  // messages from the SFU before that
	stateRev uint64 // revision of the last beam state sent
	dropped  bool   // the queue overflowed and the session is ending
}

// open queues the joined message and then whatever the SFU sent before it, so
// the client always sees joined first.
func (c *conn) open(joined joinedMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.push(joined)
	for _, m := range c.early {
		c.push(m)
	}
	c.early, c.joined = nil, true
}

// readLoop handles the client's messages until it leaves or the session
// ends. Each invalid message is answered with an error; the
// maxInvalidMessages-th ends the session.
func (c *conn) readLoop(ctx context.Context, handle func(*ClientMessage)) {
	invalid := 0
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil || ctx.Err() != nil {
			return
		}
		m, err := Decode(b)
		if err != nil {
			c.sendError(0, err)
			if invalid++; invalid == maxInvalidMessages {
				c.fatal(rcerr.New(rcerr.InvalidArgument, "%d invalid messages; closing the connection", invalid))
				awaitClose(ctx)
				return
			}
			continue
		}
		if m.Type == TypeLeave {
			return
		}
		handle(m)
	}
}

func (h *Handler) handle(ctx context.Context, r *http.Request, c *conn, peer *sfu.Peer, req sfu.JoinRequest, m *ClientMessage) {
	switch m.Type {
	case TypeBeamStart, TypeBeamStop, TypeTracksStart, TypeTracksStop, TypeBeamLayout, TypeBeamAddURL, TypeBeamRemoveURL:
		if h.beam == nil {
			c.sendError(m.ID, rcerr.New(rcerr.Unavailable, "streaming and recording are not enabled on this server"))
			return
		}
		h.beam.request(ctx, c, req.Room, req.Role, m)
	case TypePublish:
		c.answer(m.ID, peer.Publish(deref(m.Audio), deref(m.Video)))
	case TypeAnswer:
		peer.Answer(m.SDP)
	case TypeCandidate:
		peer.AddCandidate(*m.Candidate)
	case TypeMedia:
		peer.SetMedia(*m.Audio, *m.Video)
	case TypeScreen:
		c.answer(m.ID, peer.ShareScreen(*m.On))
	case TypeJoin:
		c.sendError(m.ID, rcerr.New(rcerr.InvalidArgument, "already joined"))
	}
}

func deref(b *bool) bool { return b != nil && *b }

// answer replies to request id: ok, or err.
func (c *conn) answer(id int64, err error) {
	if err != nil {
		c.sendError(id, err)
		return
	}
	c.send(okMsg{Type: "ok", ID: id})
}

func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.out:
			if cm, ok := m.(closeMsg); ok {
				c.closeNow(cm)
				return
			}
			if err := c.write(ctx, m); err != nil {
				c.log.Debug("signal write", "err", err)
				c.fail()
				return
			}
		}
	}
}

func (c *conn) write(ctx context.Context, m any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// send queues m without blocking; before the session is open it waits in
// early.
func (c *conn) send(m any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.joined {
		c.early = append(c.early, m)
		return
	}
	c.push(m)
}

// push queues m; a client too slow to keep up is dropped rather than letting
// it block the SFU, and warned about once. The send never blocks, so holding
// c.mu (as every caller does) is fine.
func (c *conn) push(m any) {
	select {
	case c.out <- m:
	default:
		if !c.dropped {
			c.dropped = true
			c.log.Warn("signal queue full; disconnecting slow client")
		}
		c.fail()
	}
}

func (c *conn) sendError(id int64, err error) {
	code, msg := rcerr.Public(err)
	c.log.Info("request refused", "code", string(code), "err", err)
	c.send(errorMsg{Type: "error", ID: id, Code: code, Message: msg})
}

// closeWithError tells the client why it is refused and closes the socket.
func (c *conn) closeWithError(ctx context.Context, err error) {
	code, msg := rcerr.Public(err)
	c.log.Info("join refused", "code", string(code), "err", err)
	if werr := c.write(ctx, errorMsg{Type: "error", Code: code, Message: msg}); werr != nil && !errors.Is(werr, context.Canceled) {
		c.log.Debug("signal write", "err", werr)
	}
	c.ws.Close(websocket.StatusPolicyViolation, string(code))
}

func (c *conn) Offer(sdp string) { c.send(sdpMsg{Type: "offer", SDP: sdp}) }
func (c *conn) Candidate(cand webrtc.ICECandidateInit) {
	c.send(candidateMsg{Type: "candidate", Candidate: cand})
}
func (c *conn) PeerJoined(p sfu.PeerInfo)  { c.send(peerMsg{Type: "peer-joined", Peer: p}) }
func (c *conn) PeerUpdated(p sfu.PeerInfo) { c.send(peerMsg{Type: "peer-updated", Peer: p}) }
func (c *conn) PeerLeft(id string)         { c.send(peerLeftMsg{Type: "peer-left", ID: id}) }
