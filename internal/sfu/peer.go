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

// Signaler delivers server messages to a peer's client. Calls must not block
// nor close a peer or the SFU: the SFU calls them from its own goroutines,
// which Close waits for.
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
	// AudioOnly: the peer receives the others' sound only.
	AudioOnly bool
}

// Peer is one participant's connection to the SFU.
type Peer struct {
	id       string
	identity string
	role     room.Role
	perms    room.Permissions
	noVideo  bool // receives sound only (JoinRequest.AudioOnly)
	sfu      *SFU
	room     *Room // set by SFU.enter
	pc       *webrtc.PeerConnection
	sig      Signaler
	log      *slog.Logger

	kickCh    chan struct{}   // tracks or publish slots changed; coalesced
	connected chan struct{}   // the transport came up (ICE and DTLS); coalesced
	events    chan negotiated // answers and candidates, in arrival order
	done      chan struct{}   // closed under mu
	closeOnce sync.Once
	err       error          // why the peer ended; set before done is closed
	wg        sync.WaitGroup // the peer's goroutines (hold); Close waits for them

	mu           sync.Mutex // guards the fields below and the closing of done
	audio, video bool       // enabled flags shown to others
	screen       bool       // sharing the screen (shown to others)
	wantAudio    bool       // publish slots asked for
	wantVideo    bool
	wantScreen   bool
	screenRecv   *webrtc.RTPReceiver // the screen slot's receiver, once it exists
	screenTrack  *forwardTrack       // what arrives on it, once something has

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
		id:        newID(),
		identity:  req.Identity,
		role:      req.Role,
		perms:     req.Role.Permissions(),
		noVideo:   req.AudioOnly,
		sfu:       s,
		pc:        pc,
		sig:       sig,
		kickCh:    make(chan struct{}, 1),
		connected: make(chan struct{}, 1),
		events:    make(chan negotiated, 32),
		done:      make(chan struct{}),
		neg:       newNegotiation(),
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
		switch st {
		case webrtc.PeerConnectionStateConnected:
			select {
			case p.connected <- struct{}{}:
			default:
			}
		case webrtc.PeerConnectionStateFailed:
			p.Close()
		}
	})
	r, err := s.enter(req.Room, p)
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	p.spawn(p.run)
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
	return PeerInfo{ID: p.id, Identity: p.identity, Role: string(p.role), Audio: p.audio, Video: p.video, Screen: p.screen}
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

// ShareScreen starts or stops the peer's screen share. The first start
// asks for a slot of its own (a second video transceiver; the next offer
// carries it); what arrives there is forwarded as a screen track while the
// share is on. A stop takes it from the others at once and ends its file
// in a track recording; the client keeps the slot and sends a later share
// on it again, which a track recording then writes to a new file.
func (p *Peer) ShareScreen(on bool) error {
	if !p.perms.Publish {
		return rcerr.New(rcerr.PermissionDenied, "role %q may not share a screen", p.role)
	}
	p.mu.Lock()
	p.screen = on
	p.wantScreen = p.wantScreen || on
	t := p.screenTrack
	p.mu.Unlock()
	if t != nil {
		tap := p.room.sfu.tap(p.room.name)
		if on {
			p.room.addTrack(t)
			if tap != nil {
				t.attach(tap)
			}
		} else {
			p.room.removeTrack(t)
			if tap != nil {
				t.detach(tap)
			}
		}
	}
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

// Close removes the peer from its room, closes its connection and waits
// for the peer's goroutines, which end with the connection. It is
// idempotent; it must not be called from those goroutines (run ends the
// peer with end instead).
func (p *Peer) Close() {
	p.end(nil)
	p.wg.Wait()
}

// end closes the peer for reason err (nil: an ordinary close); only the first
// call counts. It does not wait for the peer's goroutines, so they may call
// it. It takes the peer off the SFU's WaitGroup, which SFU.enter put it on.
func (p *Peer) end(err error) {
	p.closeOnce.Do(func() {
		defer p.sfu.wg.Done()
		p.mu.Lock()
		p.err = err
		close(p.done) // no hold succeeds after this
		p.mu.Unlock()
		p.room.remove(p)
		if err := p.pc.Close(); err != nil {
			p.log.Debug("close peer connection", "err", err)
		}
		p.log.Info("peer left")
	})
}

// hold counts n goroutines (or timers) that Close and SFU.Close must wait
// for, each given back with release, unless the peer has ended: then it
// returns false and nothing may start. Until it ends the peer itself is
// counted in the SFU's WaitGroup (SFU.enter), so this never adds to it from
// zero while SFU.Close waits.
func (p *Peer) hold(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
	}
	p.wg.Add(n)
	p.sfu.wg.Add(n)
	return true
}

// release gives back one hold.
func (p *Peer) release() {
	p.sfu.wg.Done()
	p.wg.Done()
}

// held runs fn under a hold taken for it, and gives the hold back.
func (p *Peer) held(fn func()) {
	defer p.release()
	fn()
}

// spawn runs fn on a goroutine of the peer's, unless the peer has ended
// (SFU.Close may end it while it joins).
func (p *Peer) spawn(fn func()) {
	if p.hold(1) {
		go p.held(fn)
	}
}

// onTrack starts forwarding a track the client published: its forwarding
// loop and report reader are the peer's goroutines, ended by its
// connection's close. An ended peer's track is not forwarded.
func (p *Peer) onTrack(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	p.mu.Lock()
	screen := receiver == p.screenRecv
	p.mu.Unlock()
	t, err := newForwardTrack(p, remote, screen)
	if err != nil {
		p.log.Warn("cannot forward track", "err", err)
		return
	}
	t.levelID = audioLevelID(receiver)
	if !p.hold(2) {
		return
	}
	p.mu.Lock()
	sharing := p.screen
	if screen {
		p.screenTrack = t
	}
	p.mu.Unlock()
	if !screen || sharing {
		p.room.addTrack(t)
	}
	if tap := p.room.sfu.tap(p.room.name); tap != nil {
		t.attach(tap)
	}
	go p.held(func() { t.readReports(receiver) })
	go p.held(t.run)
}
