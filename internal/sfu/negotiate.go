package sfu

import (
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/rcerr"
)

// negotiation is the offer/answer state of one peer, owned by its run
// goroutine so no lock is held across pion calls.
type negotiation struct {
	senders    map[string]*webrtc.RTPSender // by forwarded track id
	audioSlot  bool                         // recvonly transceivers added for publishing
	videoSlot  bool
	screenSlot bool
	awaiting   bool                      // an offer is out, no answer yet
	pending    bool                      // something changed while awaiting
	candidates []webrtc.ICECandidateInit // arrived before the remote description
	fresh      []*forwardTrack           // added since the last keyframe request: in the offer that is out, or before the transport was up
}

func newNegotiation() negotiation {
	return negotiation{senders: map[string]*webrtc.RTPSender{}}
}

// run serialises every change to the peer connection.
func (p *Peer) run() {
	for {
		select {
		case <-p.done:
			return
		case <-p.kickCh:
			p.sync()
		case <-p.connected:
			p.askKeyframes()
		case ev := <-p.events:
			var err error
			if ev.candidate != nil {
				err = p.addCandidate(*ev.candidate)
			} else {
				err = p.applyAnswer(ev.answer)
			}
			if err != nil {
				p.log.Warn("negotiation failed", "err", err)
				p.end(err)
				return
			}
		}
	}
}

// sync matches the peer's senders and publish slots to the room and sends an
// offer when anything changed.
func (p *Peer) sync() {
	n := &p.neg
	if n.awaiting {
		n.pending = true
		return
	}
	changed, err := p.syncSenders()
	if err == nil {
		var added bool
		added, err = p.syncSlots()
		changed = changed || added
	}
	if err == nil && changed {
		err = p.offer()
	}
	if err != nil {
		p.log.Warn("renegotiation failed", "err", err)
		p.end(rcerr.Wrap(rcerr.Internal, err, "renegotiation failed"))
	}
}

func (p *Peer) syncSenders() (bool, error) {
	n := &p.neg
	want := p.room.tracksFor(p)
	changed := false
	for id, s := range n.senders {
		if _, ok := want[id]; ok {
			continue
		}
		if err := p.pc.RemoveTrack(s); err != nil {
			return false, fmt.Errorf("remove track: %w", err)
		}
		delete(n.senders, id)
		changed = true
	}
	for id, t := range want {
		if _, ok := n.senders[id]; ok {
			continue
		}
		s, err := p.pc.AddTrack(t.local)
		if err != nil {
			return false, fmt.Errorf("add track: %w", err)
		}
		n.senders[id] = s
		n.fresh = append(n.fresh, t)
		p.spawn(func() { t.readRTCP(p, s) })
		changed = true
	}
	return changed, nil
}

// syncSlots adds the receive-only transceivers the client publishes into.
func (p *Peer) syncSlots() (bool, error) {
	p.mu.Lock()
	wantAudio, wantVideo, wantScreen := p.wantAudio, p.wantVideo, p.wantScreen
	p.mu.Unlock()
	n := &p.neg
	added := false
	for _, s := range []struct {
		want   bool
		have   *bool
		kind   webrtc.RTPCodecType
		screen bool
	}{{wantAudio, &n.audioSlot, webrtc.RTPCodecTypeAudio, false}, {wantVideo, &n.videoSlot, webrtc.RTPCodecTypeVideo, false},
		{wantScreen, &n.screenSlot, webrtc.RTPCodecTypeVideo, true}} {
		if !s.want || *s.have {
			continue
		}
		tr, err := p.pc.AddTransceiverFromKind(s.kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			return false, fmt.Errorf("add %s slot: %w", s.kind, err)
		}
		if s.screen {
			p.mu.Lock()
			p.screenRecv = tr.Receiver()
			p.mu.Unlock()
		}
		*s.have = true
		added = true
	}
	return added, nil
}

func (p *Peer) offer() error {
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	p.neg.awaiting = true
	p.sig.Offer(offer.SDP)
	return nil
}

func (p *Peer) applyAnswer(sdp string) error {
	n := &p.neg
	if !n.awaiting {
		return rcerr.New(rcerr.InvalidArgument, "answer: no offer is waiting for an answer")
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		return rcerr.Wrap(rcerr.InvalidArgument, fmt.Errorf("set remote description: %w", err), "answer: not a valid answer to the last offer")
	}
	n.awaiting = false
	for _, c := range n.candidates {
		if err := p.pc.AddICECandidate(c); err != nil {
			return rcerr.Wrap(rcerr.InvalidArgument, fmt.Errorf("add queued candidate: %w", err), "candidate: could not be added")
		}
	}
	n.candidates = nil
	if p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		p.askKeyframes()
	}
	if n.pending {
		n.pending = false
		p.sync()
	}
	return nil
}

// askKeyframes asks the publishers of the tracks added to the peer since
// the last time for a keyframe: a new subscriber needs one to start
// decoding, so it is asked for once the answer is in and the transport up,
// rather than waiting for the subscriber's own PLI. Asked for at the answer
// of a first negotiation, the keyframe came before the transport was up
// and was lost: the page waited for the next (~0.5 s from its join to its
// first picture).
func (p *Peer) askKeyframes() {
	n := &p.neg
	if n.awaiting {
		return // once its answer is in
	}
	for _, t := range n.fresh {
		t.requestKeyframe()
	}
	n.fresh = nil
}

func (p *Peer) addCandidate(c webrtc.ICECandidateInit) error {
	if p.pc.RemoteDescription() == nil {
		p.neg.candidates = append(p.neg.candidates, c)
		return nil
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return rcerr.Wrap(rcerr.InvalidArgument, fmt.Errorf("add candidate: %w", err), "candidate: could not be added")
	}
	return nil
}
