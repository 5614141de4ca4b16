package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// TrackInfo describes a published track to a Tap.
type TrackInfo struct {
	ID       string // track id, unique in the room
	PeerID   string
	Identity string
	Kind     webrtc.RTPCodecType
	Screen   bool // a screen share (a video track)
	Codec    webrtc.RTPCodecParameters
}

// Tap sees every track published in a room, as another subscriber would:
// the track recorder is one. TrackPublished is called once per track, for
// the tracks there when the tap is set and for every later one; keyframe
// asks the publisher for a keyframe. A nil sink ignores the track.
type Tap interface {
	TrackPublished(info TrackInfo, keyframe func()) TrackSink
}

// TrackSink receives one track's packets from the forwarding loop, so its
// methods must never block: a sink that cannot keep up drops and counts.
// Close is called once, when the track ends or the tap is removed.
type TrackSink interface {
	WriteRTP(pkt *rtp.Packet)
	// SenderReport maps the publisher's clock: rtpTime was sampled at ntp.
	SenderReport(ntp time.Time, rtpTime uint32)
	Close()
}

// SetTap makes t see every track of the named room, now and later, until
// the returned function removes it (closing its sinks). A room has at most
// one tap; setting another replaces it.
func (s *SFU) SetTap(room string, t Tap) (remove func()) {
	s.mu.Lock()
	old := s.taps[room]
	s.taps[room] = t
	r := s.rooms[room]
	s.mu.Unlock()
	if r != nil {
		for _, ft := range r.allTracks() {
			if old != nil {
				ft.detach(old)
			}
			ft.attach(t)
		}
	}
	return func() {
		s.mu.Lock()
		if s.taps[room] == t {
			delete(s.taps, room)
		}
		r := s.rooms[room]
		s.mu.Unlock()
		if r != nil {
			for _, ft := range r.allTracks() {
				ft.detach(t)
			}
		}
	}
}

// OnRooms calls opened and closed with the name of every room created, and
// forgotten after its last peer left, from now on. The calls come one at a
// time, in the order the events happened (a room that closes and reopens
// is closed first), on a goroutine of their own, which Close waits for: they
// must not call it. Set it before peers join.
func (s *SFU) OnRooms(opened, closed func(room string)) {
	s.mu.Lock()
	s.onRoomOpen, s.onRoomClose = opened, closed
	s.mu.Unlock()
}

type roomEvent struct {
	room   string
	opened bool
}

// roomEventLocked queues a room event for the OnRooms callbacks, starting
// the goroutine that delivers them if none runs; s.mu is held. Its caller
// is a peer entering or ending, still counted in s.wg, so the goroutine's
// count is not added from zero while Close waits.
func (s *SFU) roomEventLocked(room string, opened bool) {
	if s.onRoomOpen == nil && s.onRoomClose == nil {
		return
	}
	s.roomEvents = append(s.roomEvents, roomEvent{room, opened})
	if !s.deliveringEvents {
		s.deliveringEvents = true
		s.wg.Add(1)
		go s.held(s.deliverRoomEvents)
	}
}

func (s *SFU) deliverRoomEvents() {
	for {
		s.mu.Lock()
		if len(s.roomEvents) == 0 {
			s.deliveringEvents = false
			s.mu.Unlock()
			return
		}
		ev := s.roomEvents[0]
		s.roomEvents = s.roomEvents[1:]
		fn := s.onRoomClose
		if ev.opened {
			fn = s.onRoomOpen
		}
		s.mu.Unlock()
		if fn != nil {
			fn(ev.room)
		}
	}
}

func (s *SFU) tap(room string) Tap {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taps[room]
}

// sinks is a track's taps; the forwarding loop reads the list without a lock.
type sinks struct {
	mu   sync.Mutex
	byID map[Tap]TrackSink
	list atomic.Pointer[[]TrackSink]
}

func (t *forwardTrack) info() TrackInfo {
	return TrackInfo{ID: t.id, PeerID: t.publisher.id, Identity: t.publisher.identity, Kind: t.kind, Screen: t.screen, Codec: t.remote.Codec()}
}

// attach gives tap a sink for t, once.
func (t *forwardTrack) attach(tap Tap) {
	t.sinks.mu.Lock()
	defer t.sinks.mu.Unlock()
	if t.ended {
		return
	}
	if _, ok := t.sinks.byID[tap]; ok {
		return
	}
	s := tap.TrackPublished(t.info(), t.requestKeyframe)
	if s == nil {
		return
	}
	if t.sinks.byID == nil {
		t.sinks.byID = map[Tap]TrackSink{}
	}
	t.sinks.byID[tap] = s
	t.publishSinks()
}

// detach closes tap's sink for t, if any.
func (t *forwardTrack) detach(tap Tap) {
	t.sinks.mu.Lock()
	s, ok := t.sinks.byID[tap]
	delete(t.sinks.byID, tap)
	t.publishSinks()
	t.sinks.mu.Unlock()
	if ok {
		s.Close()
	}
}

// closeSinks ends every sink when the track ends.
func (t *forwardTrack) closeSinks() {
	t.sinks.mu.Lock()
	t.ended = true
	old := t.sinks.byID
	t.sinks.byID = nil
	t.publishSinks()
	t.sinks.mu.Unlock()
	for _, s := range old {
		s.Close()
	}
}

// publishSinks stores the current list for the forwarding loop; t.sinks.mu
// is held.
func (t *forwardTrack) publishSinks() {
	list := make([]TrackSink, 0, len(t.sinks.byID))
	for _, s := range t.sinks.byID {
		list = append(list, s)
	}
	t.sinks.list.Store(&list)
}

// readReports reads the publisher's RTCP for this track (which also runs
// pion's receive interceptors) and hands sender reports to the subscribers
// and the sinks.
func (t *forwardTrack) readReports(r *webrtc.RTPReceiver) {
	ssrc := uint32(t.remote.SSRC())
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			sr, ok := pkt.(*rtcp.SenderReport)
			if !ok || sr.SSRC != ssrc {
				continue
			}
			t.heard.Store(&heardReport{sr: *sr, at: time.Now()})
			t.relayReport(sr)
			ntp := ntpTime(sr.NTPTime)
			if l := t.sinks.list.Load(); l != nil {
				for _, s := range *l {
					s.SenderReport(ntp, sr.RTPTime)
				}
			}
		}
	}
}

// ntpTime converts a 64-bit NTP timestamp (RFC 3550 §4) to a time.
func ntpTime(v uint64) time.Time {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := int64(v>>32) - ntpEpochOffset
	frac := int64(v&0xffffffff) * 1e9 >> 32
	return time.Unix(secs, frac)
}
