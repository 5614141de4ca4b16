package sfu

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// keyframeInterval bounds how often a publisher is asked for a keyframe: a
// burst of PLIs from many subscribers becomes one request.
const keyframeInterval = 200 * time.Millisecond

// forwardTrack is one published track and the local track that fans it out
// to every subscriber.
type forwardTrack struct {
	id        string
	kind      webrtc.RTPCodecType
	screen    bool // a screen share (its id starts with ScreenPrefix)
	publisher *Peer
	remote    *webrtc.TrackRemote
	local     *webrtc.TrackLocalStaticRTP

	sinks sinks // taps (the track recorder)
	ended bool  // guarded by sinks.mu: no more taps

	counters // what the room's activity says of this track

	subsMu sync.Mutex
	subs   map[*webrtc.RTPSender]*Peer // subscribers' senders of this track, for sender reports
	heard  atomic.Pointer[heardReport] // the publisher's latest sender report

	mu         sync.Mutex
	lastPLI    time.Time
	pliPending bool        // a PLI is scheduled for the end of the interval
	pliTimer   *time.Timer // sends it; a hold of the publisher's
	pliStopped bool        // the track ended: no more PLIs
}

// ScreenPrefix starts the track and stream ids of a forwarded screen
// share: subscribers tell it from the publisher's camera by it
// (docs/PROTOCOL.md).
const ScreenPrefix = "screen:"

func newForwardTrack(p *Peer, remote *webrtc.TrackRemote, screen bool) (*forwardTrack, error) {
	// The stream id is the publisher's peer id: clients put the track on
	// that peer's tile (a screen share's: "screen:" and the peer id).
	id, stream := remote.ID(), p.id
	if screen {
		id, stream = ScreenPrefix+id, ScreenPrefix+p.id
	}
	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, id, stream)
	if err != nil {
		return nil, fmt.Errorf("sfu: local track: %w", err)
	}
	return &forwardTrack{id: id, kind: remote.Kind(), screen: screen, publisher: p, remote: remote, local: local,
		subs: map[*webrtc.RTPSender]*Peer{}}, nil
}

// run forwards the track until it ends, then stops its keyframe requests,
// closes its sinks and takes it out of the room.
func (t *forwardTrack) run() {
	t.forward()
	t.stopPLI()
	t.closeSinks()
	t.publisher.room.removeTrack(t)
}

// forward copies RTP from the publisher to every bound subscriber and every
// tap until the remote track ends. The local track rewrites SSRC and payload
// type per subscriber (on its own copy of the header); a failed write to one
// subscriber does not stop the others. ReadRTP allocates each packet, so taps
// may keep it.
func (t *forwardTrack) forward() {
	for {
		pkt, _, err := t.remote.ReadRTP()
		if err != nil {
			return
		}
		// Header extension IDs are negotiated per session, and the
		// publisher's MID (sent until its first receiver report) names a
		// media section of its own session: forwarded as is, it made a
		// subscriber route the track to another m-line it shares that MID
		// with, and never play it. Each sender adds its own extensions.
		t.count(pkt)
		pkt.Header.Extension, pkt.Header.Extensions, pkt.Header.ExtensionProfile = false, nil, 0
		_ = t.local.WriteRTP(pkt)
		if l := t.sinks.list.Load(); l != nil {
			for _, s := range *l {
				s.WriteRTP(pkt)
			}
		}
	}
}

// readRTCP reads a subscriber's RTCP for this track (which also feeds pion's
// NACK responder) and forwards keyframe requests to the publisher. While it
// runs, the subscriber gets the publisher's sender reports (at once, too:
// primeReports).
func (t *forwardTrack) readRTCP(p *Peer, s *webrtc.RTPSender) {
	t.subsMu.Lock()
	t.subs[s] = p
	t.subsMu.Unlock()
	primed := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { t.primeReports(p, s, primed) })
	defer func() {
		close(primed)
		wg.Wait()
		t.subsMu.Lock()
		delete(t.subs, s)
		t.subsMu.Unlock()
	}()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				t.requestKeyframe()
			}
		}
	}
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) to the publisher, at most
// once per keyframeInterval. A request inside the interval is not lost: one
// PLI follows at the interval's end, since the keyframe the earlier PLI
// brought may have gone out before this subscriber could receive it.
func (t *forwardTrack) requestKeyframe() {
	if t.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	t.mu.Lock()
	if t.pliPending || t.pliStopped {
		// The scheduled PLI goes after this request: it answers it too.
		// Checked first because the timer's function may not have run yet
		// although the interval is over; sending now as well made two PLIs.
		// An ended track asks for nothing.
		t.mu.Unlock()
		return
	}
	if wait := keyframeInterval - time.Since(t.lastPLI); wait > 0 {
		t.schedulePLI(wait)
		t.mu.Unlock()
		return
	}
	t.lastPLI = time.Now()
	t.mu.Unlock()
	t.sendPLI()
}

// schedulePLI sends a PLI after wait, on a timer the publisher's Close waits
// for unless stopPLI stops it first; t.mu is held.
func (t *forwardTrack) schedulePLI(wait time.Duration) {
	if !t.publisher.hold(1) {
		return // the publisher has ended: no one to ask
	}
	t.pliPending = true
	t.pliTimer = time.AfterFunc(wait, func() { t.publisher.held(t.sendPendingPLI) })
}

func (t *forwardTrack) sendPendingPLI() {
	t.mu.Lock()
	if t.pliStopped {
		t.mu.Unlock()
		return
	}
	t.pliPending, t.pliTimer = false, nil
	t.lastPLI = time.Now()
	t.mu.Unlock()
	t.sendPLI()
}

// stopPLI cancels the pending PLI when the track ends, and any later one. A
// timer that has fired already gives its hold back itself.
func (t *forwardTrack) stopPLI() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pliStopped = true
	if t.pliTimer != nil && t.pliTimer.Stop() {
		t.publisher.release()
	}
	t.pliPending, t.pliTimer = false, nil
}

func (t *forwardTrack) sendPLI() {
	pli := &rtcp.PictureLossIndication{MediaSSRC: uint32(t.remote.SSRC())}
	if err := t.publisher.pc.WriteRTCP([]rtcp.Packet{pli}); err != nil {
		t.publisher.log.Debug("send PLI", "err", err)
	}
}
