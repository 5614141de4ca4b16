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
}

// Options configure Dial.
type Options struct {
	URL   string // ws://host:port/rtc
	Room  string
	Token string
	// OnTrack is called for every remote track, on its own goroutine.
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// OnMessage, when set, sees every server message type (for tests).
	OnMessage func(typ string)
}

// Client is one joined peer.
type Client struct {
	opts   Options
	ws     *websocket.Conn
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
	ws, _, err := websocket.Dial(ctx, opts.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("rtcclient: dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("rtcclient: peer connection: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &Client{opts: opts, ws: ws, pc: pc, cancel: cancel, done: make(chan struct{}),
		peers: map[string]Peer{}, pending: map[int64]chan error{}}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			c.send(runCtx, map[string]any{"type": "candidate", "candidate": cand.ToJSON()})
		}
	})
	if opts.OnTrack != nil {
		pc.OnTrack(opts.OnTrack)
	}
	if err := c.join(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.started.Store(true)
	go c.readLoop(runCtx)
	return c, nil
}

func (c *Client) join(ctx context.Context) error {
	if err := c.send(ctx, map[string]any{"type": "join", "v": 1, "room": c.opts.Room, "token": c.opts.Token}); err != nil {
		return err
	}
	var m message
	if err := c.read(ctx, &m); err != nil {
		return fmt.Errorf("rtcclient: join: %w", err)
	}
	switch m.Type {
	case "joined":
		c.self = m.Self
		for _, p := range m.Peers {
			c.peers[p.ID] = p
		}
		return nil
	case "error":
		return &Error{Code: m.Code, Message: m.Message}
	}
	return fmt.Errorf("rtcclient: join: unexpected %q", m.Type)
}

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
