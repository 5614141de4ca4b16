package sfu

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/testkit"
)

// fakeTap gives every published track a recording sink.
type fakeTap struct {
	mu        sync.Mutex
	sinks     map[string]*fakeSink // by track id
	keyframes map[string]func()
}

func newFakeTap() *fakeTap {
	return &fakeTap{sinks: map[string]*fakeSink{}, keyframes: map[string]func(){}}
}

func (f *fakeTap) TrackPublished(info TrackInfo, keyframe func()) TrackSink {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &fakeSink{info: info}
	f.sinks[info.ID] = s
	f.keyframes[info.ID] = keyframe
	return s
}

// sink returns the sink of track id, or nil.
func (f *fakeTap) sink(id string) *fakeSink {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sinks[id]
}

type fakeSink struct {
	info TrackInfo

	mu      sync.Mutex
	packets []*rtp.Packet
	reports []sinkReport
	closes  int
}

func (s *fakeSink) WriteRTP(pkt *rtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets = append(s.packets, pkt)
}

func (s *fakeSink) SenderReport(ntp time.Time, rtpTime uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, sinkReport{ntp, rtpTime})
}

type sinkReport struct {
	ntp     time.Time
	rtpTime uint32
}

func (s *fakeSink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closes++
}

func (s *fakeSink) count() (packets, closes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.packets), s.closes
}

// report returns the RTP time of the report sampled at ntp.
func (s *fakeSink) report(ntp time.Time) (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.reports {
		if r.ntp.Equal(ntp) {
			return r.rtpTime, true
		}
	}
	return 0, false
}

// A tap set before the room exists gets a sink for every track published
// there, with the publisher's packets and its sender reports (for that
// track only); its keyframe function reaches the publisher; each sink is
// closed once, when its track ends. A track published after the tap is
// removed is not seen.
func TestTapSeesEveryTrackUntilItEnds(t *testing.T) {
	s := newTestSFU(t)
	tap := newFakeTap()
	remove := s.SetTap("t", tap)
	pub, _ := join(t, s, "t", "ann", room.Host)
	video, vs := pub.publishVP8("v")
	audio, _ := pub.publish(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a")
	pub.send(video, vp8Payload)
	pub.send(audio, func(n int) []byte { return bytes.Repeat([]byte{0xfc, byte(n)}, 20) })
	testkit.WaitFor(t, 10*time.Second, "packets in both sinks", func() bool {
		for _, id := range []string{"v", "a"} {
			if tap.sink(id) == nil {
				return false
			}
			if n, _ := tap.sink(id).count(); n < 10 {
				return false
			}
		}
		return true
	})
	for id, want := range map[string]struct {
		kind webrtc.RTPCodecType
		mime string
	}{"v": {webrtc.RTPCodecTypeVideo, webrtc.MimeTypeVP8}, "a": {webrtc.RTPCodecTypeAudio, webrtc.MimeTypeOpus}} {
		info := tap.sink(id).info
		if info.PeerID != pub.peer.ID() || info.Identity != "ann" || info.Kind != want.kind || info.Codec.MimeType != want.mime {
			t.Errorf("track %s: info %+v, want peer %s (ann), %s %s", id, info, pub.peer.ID(), want.kind, want.mime)
		}
	}
	v := tap.sink("v")
	v.mu.Lock()
	for _, p := range v.packets {
		if want := vp8Payload(int(p.SequenceNumber)); !bytes.Equal(p.Payload, want) {
			t.Fatalf("sink packet %d payload = %x, want %x", p.SequenceNumber, p.Payload, want)
		}
	}
	v.mu.Unlock()

	at := time.Date(2001, 2, 3, 4, 5, 6, 5e8, time.UTC)
	testkit.WaitFor(t, 10*time.Second, "the sender report in the video sink", func() bool {
		sr := &rtcp.SenderReport{SSRC: ssrc(t, vs), NTPTime: ntpOf(at), RTPTime: 4242}
		if err := pub.pc.WriteRTCP([]rtcp.Packet{sr}); err != nil {
			t.Fatal(err)
		}
		_, ok := v.report(at)
		return ok
	})
	if rtpTime, _ := v.report(at); rtpTime != 4242 {
		t.Errorf("video sink: RTP time %d at %v, want 4242", rtpTime, at)
	}
	if _, ok := tap.sink("a").report(at); ok {
		t.Error("the audio sink got the video track's sender report")
	}

	tap.mu.Lock()
	keyframe := tap.keyframes["v"]
	tap.mu.Unlock()
	keyframe()
	testkit.WaitFor(t, 5*time.Second, "the tap's keyframe request at the publisher", func() bool { return len(pub.keyframeRequests()) > 0 })

	pub.peer.Close()
	testkit.WaitFor(t, 10*time.Second, "both sinks closed", func() bool {
		_, cv := tap.sink("v").count()
		_, ca := tap.sink("a").count()
		return cv > 0 && ca > 0
	})
	remove()
	late, _ := join(t, s, "t", "late", room.Host)
	track, _ := late.publishVP8("v2")
	late.send(track, vp8Payload)
	viewer, _ := join(t, s, "t", "viewer", room.Viewer)
	testkit.WaitFor(t, 10*time.Second, "the late track at a viewer", func() bool { return viewer.received(late.peer.ID()) > 0 })
	if tap.sink("v2") != nil {
		t.Error("a removed tap got a sink for a later track")
	}
	for _, id := range []string{"v", "a"} {
		if _, closes := tap.sink(id).count(); closes != 1 {
			t.Errorf("sink %s closed %d times, want once", id, closes)
		}
	}
}

// A tap set on a live room gets sinks for the tracks already there before
// SetTap returns; a tap replacing it closes its sinks, and removing the new
// one closes the new sinks. Every sink is closed exactly once, also after
// the track ends.
func TestTapOnALiveRoom(t *testing.T) {
	s := newTestSFU(t)
	pub, _ := join(t, s, "live", "ann", room.Host)
	track, _ := pub.publishVP8("v")
	pub.send(track, vp8Payload)
	testkit.WaitFor(t, 10*time.Second, "the track in the room", func() bool {
		a, _ := s.Activity("live")
		return a.VideoTracks == 1
	})
	ft := liveTrack(t, s, "live")
	first, second := newFakeTap(), newFakeTap()
	removeFirst := s.SetTap("live", first)
	if first.sink("v") == nil {
		t.Fatal("SetTap returned without a sink for the track already published")
	}
	testkit.WaitFor(t, 5*time.Second, "packets in the first sink", func() bool { n, _ := first.sink("v").count(); return n > 0 })

	removeSecond := s.SetTap("live", second)
	if _, closes := first.sink("v").count(); closes != 1 || second.sink("v") == nil {
		t.Fatalf("after a second SetTap: first sink closed %d times, second tap has a sink: %v; want closed once, and a sink", closes, second.sink("v") != nil)
	}
	testkit.WaitFor(t, 5*time.Second, "packets in the second sink", func() bool { n, _ := second.sink("v").count(); return n > 0 })
	removeFirst() // stale: the second tap stays
	if _, closes := second.sink("v").count(); closes != 0 {
		t.Fatal("removing a replaced tap closed its replacement's sink")
	}
	removeSecond()
	pub.peer.Close()
	testkit.WaitFor(t, 10*time.Second, "the track to end", func() bool {
		ft.sinks.mu.Lock()
		defer ft.sinks.mu.Unlock()
		return ft.ended
	})
	for name, tap := range map[string]*fakeTap{"first": first, "second": second} {
		if _, closes := tap.sink("v").count(); closes != 1 {
			t.Errorf("%s sink closed %d times, want once", name, closes)
		}
	}
}

// liveTrack returns the one track of roomName.
func liveTrack(t *testing.T, s *SFU, roomName string) *forwardTrack {
	t.Helper()
	s.mu.Lock()
	r := s.rooms[roomName]
	s.mu.Unlock()
	if r == nil {
		t.Fatalf("no room %s", roomName)
	}
	tracks := r.allTracks()
	if len(tracks) != 1 {
		t.Fatalf("room %s has %d tracks, want 1", roomName, len(tracks))
	}
	return tracks[0]
}
