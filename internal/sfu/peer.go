package sfu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
)

// Signaler delivers server messages to a peer's client. Calls must not block:
// the SFU calls them from its own goroutines.
type Signaler interface {
	Offer(sdp string)
	Candidate(c webrtc.ICECandidateInit)
	PeerJoined(p PeerInfo)
	PeerUpdated(p PeerInfo)
	PeerLeft(id string)
}

// JoinRequest is who joins which room.
type JoinRequest struct {
	Room     string
	Identity string
	Role     room.Role
}

// Peer is one participant's connection to the SFU.
type Peer struct {
	id       string
	identity string
	role     room.Role
	perms    room.Permissions
	room     *Room
	pc       *webrtc.PeerConnection
	sig      Signaler
	log      *slog.Logger

	kickCh    chan struct{}   // tracks or publish slots changed; coalesced
	events    chan negotiated // answers and candidates, in arrival order
	done      chan struct{}
	closeOnce sync.Once
	err       error // why the peer ended; set before done is closed

	mu           sync.Mutex // guards the fields below
	audio, video bool       // enabled flags shown to others
	wantAudio    bool       // publish slots asked for
	wantVideo    bool

	neg negotiation // owned by the run goroutine
}

// negotiated is an answer or a remote ICE candidate from the client.
type negotiated struct {
	answer    string
	candidate *webrtc.ICECandidateInit
}

// Join creates a peer connection for req and puts it in its room. It returns
// the peer and the visible peers already there.
func (s *SFU) Join(req JoinRequest, sig Signaler) (*Peer, []PeerInfo, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("sfu: new peer connection: %w", err)
	}
	p := &Peer{
		id:       newID(),
		identity: req.Identity,
		role:     req.Role,
		perms:    req.Role.Permissions(),
		pc:       pc,
		sig:      sig,
		kickCh:   make(chan struct{}, 1),
		events:   make(chan negotiated, 32),
		done:     make(chan struct{}),
		neg:      newNegotiation(),
	}
	p.log = s.log.With("room", req.Room, "peer", p.id)
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			sig.Candidate(c.ToJSON())
		}
	})
	pc.OnTrack(p.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.log.Debug("connection state", "state", st.String())
		if st == webrtc.PeerConnectionStateFailed {
			p.Close()
		}
	})
	r, err := s.enter(req.Room, p)
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	p.room = r
	go p.run()
	others := r.announce(p)
	p.kick()
	p.log.Info("peer joined", "identity", req.Identity, "role", string(req.Role))
	return p, others, nil
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "p_" + hex.EncodeToString(b)
}

// ID returns the peer's id, unique within the server.
func (p *Peer) ID() string { return p.id }

// Done is closed when the peer has left or its connection failed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Err returns why the peer ended once Done is closed: nil when it was
// closed or its connection failed, else the negotiation error, an
// *rcerr.Error whose message the client may be shown (its answer or a
// candidate could not be applied, or renegotiation failed).
func (p *Peer) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Info returns what other peers see of p.
func (p *Peer) Info() PeerInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PeerInfo{ID: p.id, Identity: p.identity, Role: string(p.role), Audio: p.audio, Video: p.video}
}

// Publish asks for send slots for the given kinds; the next offer carries
// them. Roles without publish permission get permission_denied.
func (p *Peer) Publish(audio, video bool) error {
	if !p.perms.Publish {
		return rcerr.New(rcerr.PermissionDenied, "role %q may not publish", p.role)
	}
	if !audio && !video {
		return rcerr.New(rcerr.InvalidArgument, "publish: ask for audio, video or both")
	}
	p.mu.Lock()
	p.wantAudio = p.wantAudio || audio
	p.wantVideo = p.wantVideo || video
	p.audio, p.video = p.audio || audio, p.video || video
	p.mu.Unlock()
	p.room.peerUpdated(p)
	p.kick()
	return nil
}

// SetMedia records the peer's mic and camera enabled flags and tells the others.
func (p *Peer) SetMedia(audio, video bool) {
	p.mu.Lock()
	p.audio, p.video = audio, video
	p.mu.Unlock()
	p.room.peerUpdated(p)
}

// Answer applies the client's answer to the last offer.
func (p *Peer) Answer(sdp string) { p.deliver(negotiated{answer: sdp}) }

// AddCandidate applies a client ICE candidate, queued until an answer is set.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) { p.deliver(negotiated{candidate: &c}) }

func (p *Peer) deliver(n negotiated) {
	select {
	case p.events <- n:
	case <-p.done:
	}
}

// kick asks the run goroutine to bring the peer connection up to date.
func (p *Peer) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

// Close removes the peer from its room and closes its connection. It is
// idempotent.
func (p *Peer) Close() { p.end(nil) }

// end closes the peer for reason err (nil: an ordinary close); only the first
// call counts.
func (p *Peer) end(err error) {
	p.closeOnce.Do(func() {
		p.err = err
		close(p.done)
		p.room.remove(p)
		if err := p.pc.Close(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		p.log.Info("peer left")
	})
}

// onTrack starts forwarding a track the client published.
func (p *Peer) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	t, err := newForwardTrack(p, remote)
	if err != nil {
		p.log.Warn("cannot forward track", "err", err)
		return
	}
	t.levelID = audioLevelID(receiver)
	p.room.addTrack(t)
	if tap := p.room.sfu.tap(p.room.name); tap != nil {
		t.attach(tap)
	}
	go t.readReports(receiver)
	go func() {
		t.forward()
		t.closeSinks()
		p.room.removeTrack(t)
	}()
}
