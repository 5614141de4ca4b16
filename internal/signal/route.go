package signal

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/roomcast/roomcast/internal/rooms"
)

// Router says which server a room lives on (rooms.Directory): a join for a
// room that lives elsewhere is answered with a redirect there.
type Router interface {
	Locate(ctx context.Context, room string) (rooms.Route, error)
}

// redirectMsg sends the client to the server its room lives on; it joins
// there again with the same message (docs/PROTOCOL.md).
type redirectMsg struct {
	Type string `json:"type"`
	URL  string `json:"url"` // ws(s)://host[:port]/rtc
}

// WithRouter makes h send each join to the room's server.
func (h *Handler) WithRouter(r Router) *Handler {
	h.router = r
	return h
}

// acceptOptions lets a page from any origin connect: the join is
// authorized by the token in its first message, never by a cookie, so the
// Origin check (which guards cookie-authorized sockets) protects nothing
// here, and a peer redirected to its room's server, or entering through a
// load balancer's name, comes from another origin.
func (h *Handler) acceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{InsecureSkipVerify: true}
}

// route answers a join for a room of another server with a redirect; it
// reports whether the join goes on here.
func (h *Handler) route(ctx context.Context, c *conn, room string) bool {
	if h.router == nil {
		return true
	}
	rt, err := h.router.Locate(ctx, room)
	if err != nil {
		c.closeWithError(ctx, err)
		return false
	}
	if rt.Local {
		return true
	}
	c.log.Debug("join redirected to the room's server", "room", room, "server", rt.Owner)
	if err := c.write(ctx, redirectMsg{Type: "redirect", URL: socketURL(rt.URL)}); err != nil {
		c.log.Debug("signal write", "err", err)
	}
	c.ws.Close(websocket.StatusNormalClosure, "redirect")
	return false
}

// Move sends every peer of room on this server to the server at base (its
// public URL): the room lives there now.
func (h *Handler) Move(room, base string) {
	for _, c := range h.members.in(room) {
		c.send(redirectMsg{Type: "redirect", URL: socketURL(base)})
		c.send(closeMsg{reason: "redirect", status: websocket.StatusNormalClosure})
	}
}

// socketURL is the signaling WebSocket of the server at base.
func socketURL(base string) string {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		return base
	}
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path += "/rtc"
	return u.String()
}

// members are the joined peers' connections by room.
type members struct {
	mu    sync.Mutex
	rooms map[string]map[*conn]struct{}
}

func (m *members) enter(room string, c *conn) (leave func()) {
	m.mu.Lock()
	if m.rooms == nil {
		m.rooms = map[string]map[*conn]struct{}{}
	}
	if m.rooms[room] == nil {
		m.rooms[room] = map[*conn]struct{}{}
	}
	m.rooms[room][c] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.rooms[room], c)
		if len(m.rooms[room]) == 0 {
			delete(m.rooms, room)
		}
		m.mu.Unlock()
	}
}

func (m *members) in(room string) []*conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*conn, 0, len(m.rooms[room]))
	for c := range m.rooms[room] {
		out = append(out, c)
	}
	return out
}
