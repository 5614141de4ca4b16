// Package rtcclient is a Go client of roomcast's signaling protocol over
// pion. Tests, benchmarks and tools use it to join rooms as real WebRTC peers.
package rtcclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Peer is a peer as the server describes it.
type Peer struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Role     string `json:"role"`
	Audio    bool   `json:"audio"`
	Video    bool   `json:"video"`
}

// Error is an error message from the server.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// message is any server message.
type message struct {
	Type      string                   `json:"type"`
	ID        json.RawMessage          `json:"id"`
	Self      Peer                     `json:"self"`
	Peers     []Peer                   `json:"peers"`
	Peer      Peer                     `json:"peer"`
	SDP       string                   `json:"sdp"`
	Candidate *webrtc.ICECandidateInit `json:"candidate"`
	Code      string                   `json:"code"`
	Message   string                   `json:"message"`
	URL       string                   `json:"url"` // redirect
}

// Options configure Dial.
type Options struct {
	URL   string // ws://host:port/rtc
	Room  string
	Token string
	// Receive "audio" receives the others' sound only; empty, everything.
	Receive string
	// OnTrack is called for every remote track, on its own goroutine.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// OnMessage, when set, sees every server message type (for tests).
	OnMessage func(typ string)
}

// Client is one joined peer.
type Client struct {
	opts   Options
	ws     *websocket.Conn
	url    string // the server joined, after redirects
	hops   int    // redirects followed
	pc     *webrtc.PeerConnection
	self   Peer
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	peers   map[string]Peer
	pending map[int64]chan error
	queued  []webrtc.ICECandidateInit
	err     error
	nextID  atomic.Int64
	closing sync.Once
	started atomic.Bool
}

// newAPI returns a pion API with loopback-friendly settings.
func newAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetPrflxAcceptanceMinWait(0)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Dial connects, joins the room and returns once the server said joined.
// A refused join returns the server's *Error.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	api, err := newAPI()
	if err != nil {
		return nil, fmt.Errorf("rtcclient: api: %w", err)
	}
	ws, url, hops, joined, err := dialJoin(ctx, opts)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("rtcclient: peer connection: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: opts, ws: ws, url: url, hops: hops, pc: pc, cancel: cancel, done: make(chan struct{}),
		self: joined.Self, peers: map[string]Peer{}, pending: map[int64]chan error{}}
	for _, p := range joined.Peers {
		c.peers[p.ID] = p
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.send(runCtx, map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
		}
	})
	if opts.OnTrack != nil {
		pc.OnTrack(opts.OnTrack)
	}
	c.started.Store(true)
	go c.readLoop(runCtx)
	return c, nil
}

// maxRedirects bounds the servers a join is sent on to.
const maxRedirects = 4

// dialJoin connects and joins, following the servers' redirects to the
// room's server; it returns the socket, the server's URL and the joined
// message.
func dialJoin(ctx context.Context, opts Options) (*websocket.Conn, string, int, message, error) {
	url := opts.URL
	for hops := 0; hops <= maxRedirects; hops++ {
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			return nil, "", hops, message{}, fmt.Errorf("rtcclient: dial %s: %w", url, err)
		}
		ws.SetReadLimit(1 << 20)
		m, err := join(ctx, ws, opts)
		if err == nil && m.Type == "redirect" {
			ws.Close(websocket.StatusNormalClosure, "redirected")
			url = m.URL
			continue
		}
		if err != nil {
			ws.CloseNow()
			return nil, "", hops, m, err
		}
		return ws, url, hops, m, nil
	}
	return nil, "", maxRedirects, message{}, fmt.Errorf("rtcclient: join: sent on through more than %d servers", maxRedirects)
}

// join sends the join on ws and reads the answer: joined, or a redirect.
func join(ctx context.Context, ws *websocket.Conn, opts Options) (message, error) {
	req := map[string]any{"type": "join", "v": 1, "room": opts.Room, "token": opts.Token}
	if opts.Receive != "" {
		req["receive"] = opts.Receive
	}
	b, _ := json.Marshal(req)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return message{}, fmt.Errorf("rtcclient: join: %w", err)
	}
	var m message
	_, b, err := ws.Read(ctx)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return m, fmt.Errorf("rtcclient: join: %w", err)
	}
	switch m.Type {
	case "joined", "redirect":
		return m, nil
	case "error":
		return m, &Error{Code: m.Code, Message: m.Message}
	}
	return m, fmt.Errorf("rtcclient: join: unexpected %q", m.Type)
}

// Server returns the signaling URL of the server the client joined on,
// and how many redirects led there.
func (c *Client) Server() (string, int) { return c.url, c.hops }

// Self returns this client's peer as the server sees it.
func (c *Client) Self() Peer { return c.self }

// PC returns the client's peer connection.
func (c *Client) PC() *webrtc.PeerConnection { return c.pc }

// Peers returns the visible peers the client knows of.
func (c *Client) Peers() map[string]Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Peer, len(c.peers))
	for k, v := range c.peers {
		out[k] = v
	}
	return out
}

// Done is closed when the session ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns what ended the session, if anything.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Publish sends tracks: they get send-only transceivers, and the server's
// next offer carries the receive slots they go out on.
func (c *Client) Publish(ctx context.Context, tracks ...webrtc.TrackLocal) error {
	var audio, video bool
	for _, t := range tracks {
		if _, err := c.pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			return fmt.Errorf("rtcclient: add track: %w", err)
		}
		audio = audio || t.Kind() == webrtc.RTPCodecTypeAudio
		video = video || t.Kind() == webrtc.RTPCodecTypeVideo
	}
	return c.Request(ctx, map[string]any{"type": "publish", "audio": audio, "video": video})
}

// Request sends a message with a fresh request id and waits for ok or error.
func (c *Client) Request(ctx context.Context, msg map[string]any) error {
	id := c.nextID.Add(1)
	ch := make(chan error, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	msg["id"] = id
	if err := c.send(ctx, msg); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errors.Join(errors.New("rtcclient: session ended"), c.Err())
	}
}

// Close leaves the room, releases everything and waits for the client's
// goroutines to end. It is idempotent.
func (c *Client) Close() error {
	c.shutdown()
	if c.started.Load() {
		<-c.done
	}
	return nil
}

func (c *Client) shutdown() {
	c.closing.Do(func() {
		c.ws.Close(websocket.StatusNormalClosure, "leave")
		c.cancel()
		c.pc.Close()
	})
}
