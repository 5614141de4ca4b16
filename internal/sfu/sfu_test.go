package sfu

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/room"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestSFU returns an SFU on a loopback port, closed when the test ends.
func newTestSFU(t *testing.T) *SFU {
	t.Helper()
	s, err := New(Config{UDPAddr: "127.0.0.1:0"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clientAPI is a browser-like pion API for the test clients: default codecs
// and interceptors (so publishers send their own sender reports), loopback
// UDP4 only, no mDNS.
func clientAPI(t *testing.T) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetPrflxAcceptanceMinWait(0)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// client is a pion peer joined to the SFU in-process: it is the peer's
// Signaler, answers every offer on its own goroutine and sends its ICE
// candidates straight to the peer.
type client struct {
	t    *testing.T
	pc   *webrtc.PeerConnection
	peer *Peer

	wake      chan struct{} // a signal was queued; capacity 1
	stop      chan struct{}
	wg        sync.WaitGroup // the signal loop, senders, RTCP readers
	closeOnce sync.Once
	early     []webrtc.ICECandidateInit // arrived before the first offer; owned by loop

	mu        sync.Mutex
	signals   []signal                        // offers and candidates not handled yet
	offers    []string                        // every offer, in order
	peers     map[string]PeerInfo             // as PeerJoined/PeerUpdated/PeerLeft say
	left      []string                        // PeerLeft ids, in order
	tracks    []*webrtc.TrackRemote           // received
	packets   map[string][]*rtp.Packet        // by the track's stream id (the publisher)
	reports   map[string][]*rtcp.SenderReport // by stream id
	keyframes []time.Time                     // PLIs the publisher got, when
}

type signal struct {
	offer     string
	candidate *webrtc.ICECandidateInit
}

// forwarding has a publisher ("pub") send video through s into roomName,
// and a subscriber ("sub") join it.
func forwarding(t *testing.T, s *SFU, roomName string) (pub, sub *client) {
	t.Helper()
	pub, _ = join(t, s, roomName, "pub", room.Host)
	track, _ := pub.publishVP8("v")
	pub.send(track, vp8Payload)
	sub, _ = join(t, s, roomName, "sub", room.Viewer)
	return pub, sub
}

// join connects a new client to roomName as identity with role.
func join(t *testing.T, s *SFU, roomName, identity string, role room.Role) (*client, []PeerInfo) {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, pc: pc, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		peers:   map[string]PeerInfo{},
		packets: map[string][]*rtp.Packet{}, reports: map[string][]*rtcp.SenderReport{}}
	pc.OnTrack(c.onTrack)
	p, others, err := s.Join(JoinRequest{Room: roomName, Identity: identity, Role: role}, c)
	if err != nil {
		pc.Close()
		t.Fatalf("join %s: %v", identity, err)
	}
	c.peer = p
	// Candidates go out only after the first answer is set, by when c.peer
	// is set.
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			p.AddCandidate(cand.ToJSON())
		}
	})
	c.wg.Add(1)
	go c.loop()
	t.Cleanup(c.close)
	return c, others
}

// Offer, Candidate, PeerJoined, PeerUpdated and PeerLeft make client a
// Signaler; none blocks.
func (c *client) Offer(sdp string) { c.queue(signal{offer: sdp}) }

func (c *client) Candidate(cand webrtc.ICECandidateInit) { c.queue(signal{candidate: &cand}) }

func (c *client) PeerJoined(p PeerInfo) { c.setPeer(p) }

func (c *client) PeerUpdated(p PeerInfo) { c.setPeer(p) }

func (c *client) PeerLeft(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.peers, id)
	c.left = append(c.left, id)
}

func (c *client) setPeer(p PeerInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peers[p.ID] = p
}

func (c *client) queue(sig signal) {
	c.mu.Lock()
	c.signals = append(c.signals, sig)
	if sig.offer != "" {
		c.offers = append(c.offers, sig.offer)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// loop handles the queued signals in arrival order until the client closes.
func (c *client) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		sigs := c.signals
		c.signals = nil
		c.mu.Unlock()
		for _, sig := range sigs {
			if err := c.handle(sig); err != nil {
				select {
				case <-c.stop: // closing: pion refuses everything now
				default:
					// pion closes c.pc when the SFU's end closes its
					// connection (DTLS close_notify), maybe before an
					// offer sent just then is handled.
					if !errors.Is(err, webrtc.ErrConnectionClosed) {
						c.t.Errorf("client %s: %v", c.peer.ID(), err)
					}
				}
				return
			}
		}
	}
}

func (c *client) handle(sig signal) error {
	if sig.candidate != nil {
		if c.pc.RemoteDescription() == nil {
			// pion refuses a candidate before the remote description.
			c.early = append(c.early, *sig.candidate)
			return nil
		}
		return c.pc.AddICECandidate(*sig.candidate)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.offer}); err != nil {
		return err
	}
	for _, cand := range c.early {
		if err := c.pc.AddICECandidate(cand); err != nil {
			return err
		}
	}
	c.early = nil
	answer, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(answer); err != nil {
		return err
	}
	c.peer.Answer(answer.SDP)
	return nil
}

// onTrack keeps every packet and sender report a received track brings,
// by the track's stream id, which the SFU sets to the publisher's peer id.
func (c *client) onTrack(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	from := tr.StreamID()
	c.mu.Lock()
	c.tracks = append(c.tracks, tr)
	c.mu.Unlock()
	reports := make(chan struct{})
	go func() {
		defer close(reports)
		for {
			pkts, _, err := r.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok {
					c.mu.Lock()
					c.reports[from] = append(c.reports[from], sr)
					c.mu.Unlock()
				}
			}
		}
	}()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			break
		}
		c.mu.Lock()
		c.packets[from] = append(c.packets[from], pkt)
		c.mu.Unlock()
	}
	<-reports
}

// remote returns the track c receives from publisher id.
func (c *client) remote(t *testing.T, id string) *webrtc.TrackRemote {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tr := range c.tracks {
		if tr.StreamID() == id {
			return tr
		}
	}
	t.Fatalf("no track from %s", id)
	return nil
}

// received returns how many packets came from publisher peer id.
func (c *client) received(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.packets[id])
}

// publishVP8 publishes a VP8 track and returns it with its sender. The
// sender's RTCP is read for keyframe requests (client.keyframeRequests).
func (c *client) publishVP8(id string) (*webrtc.TrackLocalStaticRTP, *webrtc.RTPSender) {
	c.t.Helper()
	return c.publish(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, id)
}

func (c *client) publish(codec webrtc.RTPCodecCapability, id string) (*webrtc.TrackLocalStaticRTP, *webrtc.RTPSender) {
	c.t.Helper()
	track, err := webrtc.NewTrackLocalStaticRTP(codec, id, "client-stream")
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := c.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		c.t.Fatal(err)
	}
	sender := tr.Sender()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					c.mu.Lock()
					c.keyframes = append(c.keyframes, time.Now())
					c.mu.Unlock()
				}
			}
		}
	}()
	video := codec.MimeType != webrtc.MimeTypeOpus
	if err := c.peer.Publish(!video, video); err != nil {
		c.t.Fatal(err)
	}
	return track, sender
}

// keyframeRequests returns when the publisher got each PLI.
func (c *client) keyframeRequests() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.keyframes...)
}

// vp8Payload is a VP8 payload descriptor and the start of a keyframe,
// then n in two bytes: the SFU forwards payloads without looking inside.
func vp8Payload(n int) []byte { return []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, byte(n >> 8), byte(n)} }

// send writes a packet to track every 10 ms (paced like media) until the
// client closes; packet n carries payload(n).
func (c *client) send(track *webrtc.TrackLocalStaticRTP, payload func(n int) []byte) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(n), Timestamp: uint32(n * 900)},
				Payload: payload(n)})
		}
	}()
}

// ssrc returns the SSRC a sender sends on.
func ssrc(t *testing.T, s *webrtc.RTPSender) uint32 {
	t.Helper()
	enc := s.GetParameters().Encodings
	if len(enc) == 0 {
		t.Fatal("sender has no encoding")
	}
	return uint32(enc[0].SSRC)
}

// close leaves the room and waits for the client's goroutines.
func (c *client) close() {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.peer.Close()
		if err := c.pc.GracefulClose(); err != nil {
			c.t.Errorf("close client: %v", err)
		}
		c.wg.Wait()
	})
}

// holds fails the test if cond stops holding within d: the check that
// something does not happen (a wait for absence, not for readiness).
func holds(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
	}
}

// ntpOf is the 64-bit NTP timestamp of at (RFC 3550 §4).
func ntpOf(at time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	return uint64(at.Unix()+ntpEpochOffset)<<32 | uint64(at.Nanosecond())<<32/1e9
}
