// Package sfu forwards WebRTC media between the peers of a room: every
// published track is sent, unchanged, to every other peer that may subscribe.
// The server is always the offerer, so renegotiation never glares.
package sfu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/logging"
)

// Config is what the SFU needs from the server configuration.
type Config struct {
	// UDPAddr is the one UDP address all media uses (ICE UDP mux), e.g.
	// ":7882"; port 0 picks a free port.
	UDPAddr string
	// PublicIPs, when set, are announced as host candidates instead of the
	// interface addresses (a server behind 1:1 NAT).
	PublicIPs []string
}

// SFU owns the rooms and the shared media socket.
type SFU struct {
	api  *webrtc.API
	conn net.PacketConn
	mux  ice.UDPMux
	log  *slog.Logger

	// wg counts every goroutine the SFU and its peers start (Peer.hold,
	// roomEventLocked), and each peer from SFU.enter until Peer.end has run:
	// Close waits for them all. A peer is counted for as long as it can
	// start goroutines or queue room events, so while Close waits nothing is
	// added to wg from zero.
	wg sync.WaitGroup

	mu               sync.Mutex
	rooms            map[string]*Room
	taps             map[string]Tap // by room name; may outlive the room
	onRoomOpen       func(room string)
	onRoomClose      func(room string)
	roomEvents       []roomEvent // for the OnRooms callbacks, in order
	deliveringEvents bool
	closed           bool
}

// New opens the media socket and returns an SFU.
func New(cfg Config, log *slog.Logger) (*SFU, error) {
	conn, err := net.ListenPacket("udp4", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("sfu: listen udp %s: %w", cfg.UDPAddr, err)
	}
	api, mux, err := newAPI(conn, cfg, log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &SFU{api: api, conn: conn, mux: mux, log: log, rooms: map[string]*Room{}, taps: map[string]Tap{}}, nil
}

// newAPI builds the pion API: default codecs and interceptors (NACK, RTCP
// receiver reports, TWCC, stats) but not pion's sender-report generator,
// one UDP mux, IPv4 only, loopback candidates included so a single machine
// works, no mDNS.
func newAPI(conn net.PacketConn, cfg Config, log *slog.Logger) (*webrtc.API, ice.UDPMux, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, nil, fmt.Errorf("sfu: register codecs: %w", err)
	}
	// Publishers' audio levels (RFC 6464) tell the beam's monitor whether
	// anyone in the room makes a sound; they are not forwarded.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, fmt.Errorf("sfu: register audio level: %w", err)
	}
	ir, err := interceptors(m)
	if err != nil {
		return nil, nil, fmt.Errorf("sfu: register interceptors: %w", err)
	}
	se := webrtc.SettingEngine{LoggerFactory: logging.PionLoggers(log)}
	mux := webrtc.NewICEUDPMux(se.LoggerFactory.NewLogger("ice-udp-mux"), conn)
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetPrflxAcceptanceMinWait(0)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return api, mux, nil
}

// interceptors is webrtc.RegisterDefaultInterceptors without the sender
// report generator. A generated report maps a forwarded packet's RTP time
// to the moment the SFU sent it, which is later for video (encoded and
// packetized longer) than for audio of the same instant, and jitters with
// every burst: subscribers then lined audio and video up wrongly. The SFU
// forwards each publisher's own reports instead (forwardTrack.relayReport),
// which map both to the capture clock (RFC 3550 §6.4.1).
func interceptors(m *webrtc.MediaEngine) (*interceptor.Registry, error) {
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	recv, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	ir.Add(recv)
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureStatsInterceptor(ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	return ir, nil
}

// held runs fn on a goroutine counted in s.wg, and gives the count back.
func (s *SFU) held(fn func()) {
	defer s.wg.Done()
	fn()
}

// UDPAddr returns the address of the media socket.
func (s *SFU) UDPAddr() net.Addr { return s.conn.LocalAddr() }

// ErrClosed is returned by Join after Close.
var ErrClosed = errors.New("sfu: closed")

// enter puts p in the room named name, creating the room on first join.
// Holding s.mu while inserting means dropIfEmpty cannot forget a room that a
// peer is entering, and that Close, which may end p at once, sees p.room.
// p holds s.wg from here until it ends.
func (s *SFU) enter(name string, p *Peer) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	s.wg.Add(1)
	r, ok := s.rooms[name]
	if !ok {
		r = newRoom(name, s, s.log.With("room", name))
		s.rooms[name] = r
		s.roomEventLocked(name, true)
	}
	r.insert(p)
	p.room = r
	return r, nil
}

// dropIfEmpty forgets r once its last peer has left.
func (s *SFU) dropIfEmpty(r *Room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[r.name] == r && r.empty() {
		delete(s.rooms, r.name)
		s.roomEventLocked(r.name, false)
	}
}

// Rooms returns a snapshot of the current rooms' names and visible peers.
func (s *SFU) Rooms() map[string][]PeerInfo {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make(map[string][]PeerInfo, len(rooms))
	for _, r := range rooms {
		out[r.name] = r.visiblePeers("")
	}
	return out
}

// Close disconnects every peer, closes the media socket and waits for every
// goroutine the SFU started: the peers' (also of peers that ended before)
// and the OnRooms callbacks, those for the rooms it closes included. It is
// idempotent; it must not be called from an OnRooms callback.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var peers []*Peer
	for _, r := range s.rooms {
		peers = append(peers, r.allPeers()...)
	}
	s.mu.Unlock()
	// Every peer not ended yet is in a room; ending them all before waiting
	// lets their connections close at once.
	for _, p := range peers {
		p.end(nil)
	}
	s.mux.Close()
	err := s.conn.Close()
	s.wg.Wait()
	return err
}

// Has reports whether room name has peers now.
func (s *SFU) Has(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.rooms[name]
	return ok
}

// Load is what the SFU carries now: rooms, peers (hidden ones too), the
// tracks published, and the tracks forwarded (each to every other peer).
func (s *SFU) Load() (rooms, peers, tracks, forwarded int) {
	s.mu.Lock()
	all := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		all = append(all, r)
	}
	s.mu.Unlock()
	for _, r := range all {
		n, t := len(r.allPeers()), len(r.allTracks())
		peers, tracks = peers+n, tracks+t
		if n > 1 {
			forwarded += t * (n - 1)
		}
	}
	return len(all), peers, tracks, forwarded
}

// RoomNames returns the rooms open now.
func (s *SFU) RoomNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.rooms))
	for name := range s.rooms {
		out = append(out, name)
	}
	return out
}
