package signal

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/rtcclient"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testServer struct {
	url    string
	signer *auth.Signer
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sfu.New(sfu.Config{UDPAddr: "127.0.0.1:0"}, log)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := auth.NewSigner([]byte("test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(NewHandler(s, signer, nil, log))
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &testServer{url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer}
}

func (ts *testServer) token(t *testing.T, roomName, identity string, role room.Role) string {
	t.Helper()
	tok, err := ts.signer.JoinToken(roomName, identity, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// receiver counts the remote tracks and packets a client gets.
type receiver struct {
	tracks  atomic.Int32
	packets atomic.Int64
}

func (r *receiver) onTrack(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	r.tracks.Add(1)
	for {
		if _, _, err := tr.ReadRTP(); err != nil {
			return
		}
		r.packets.Add(1)
	}
}

func (ts *testServer) dial(t *testing.T, roomName, identity string, role room.Role, rec *receiver) *rtcclient.Client {
	t.Helper()
	var onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	if rec != nil {
		onTrack = rec.onTrack
	}
	return ts.dialWith(t, roomName, identity, role, onTrack)
}

// dialWith joins with onTrack called for each track the client receives.
func (ts *testServer) dialWith(t *testing.T, roomName, identity string, role room.Role, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) *rtcclient.Client {
	t.Helper()
	return ts.dialOpts(t, rtcclient.Options{URL: ts.url, Room: roomName, Token: ts.token(t, roomName, identity, role), OnTrack: onTrack})
}

// dialOpts joins with opts; the client closes when the test ends.
func (ts *testServer) dialOpts(t *testing.T, opts rtcclient.Options) *rtcclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtcclient.Dial(ctx, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", opts.Room, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// publish sends a synthetic video (VP8 unless codec says) and Opus stream
// from c until the test ends.
func publish(t *testing.T, c *rtcclient.Client, codec ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := rtcclient.Synthetic{VideoBitrate: 300_000}
	if len(codec) > 0 {
		s.VideoCodec = codec[0]
	}
	done, err := rtcclient.PublishSynthetic(ctx, c, s)
	if err != nil {
		cancel()
		t.Fatalf("publish: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
}

// A peer that joins to receive sound only (an audio-only beam) gets the
// publisher's audio and never its video, whether it joined before the
// tracks were published or after; an unknown receive value is refused.
func TestAudioOnlyPeerReceivesNoVideo(t *testing.T) {
	ts := newTestServer(t)
	kinds := func() (func(*webrtc.TrackRemote, *webrtc.RTPReceiver), func() []string) {
		var mu sync.Mutex
		var got []string
		var packets int
		return func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
				mu.Lock()
				got = append(got, tr.Kind().String())
				mu.Unlock()
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					mu.Lock()
					packets++
					mu.Unlock()
				}
			}, func() []string {
				mu.Lock()
				defer mu.Unlock()
				if packets < 100 { // ~2 s of sound: video, were it sent, would be here
					return nil
				}
				return slices.Clone(got)
			}
	}
	dialAudio := func(identity string, onTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)) {
		ts.dialOpts(t, rtcclient.Options{URL: ts.url, Room: "r1", Token: ts.token(t, "r1", identity, room.Beam), Receive: "audio", OnTrack: onTrack})
	}
	earlyTrack, early := kinds()
	dialAudio("early", earlyTrack)
	pub := ts.dial(t, "r1", "pub", room.Host, nil)
	publish(t, pub)
	lateTrack, late := kinds()
	dialAudio("late", lateTrack)
	var all receiver
	ts.dial(t, "r1", "all", room.Viewer, &all)
	testkit.WaitFor(t, 10*time.Second, "every track at the peer receiving everything", func() bool { return all.tracks.Load() == 2 })
	for name, got := range map[string]func() []string{"early": early, "late": late} {
		testkit.WaitFor(t, 10*time.Second, name+"'s first 2 s of sound", func() bool { return len(got()) > 0 })
		if k := got(); !slices.Equal(k, []string{"audio"}) {
			t.Errorf("%s (receive audio) got tracks %v, want audio only", name, k)
		}
	}
	opts := rtcclient.Options{URL: ts.url, Room: "r1", Token: ts.token(t, "r1", "bad", room.Beam), Receive: "video"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, err := rtcclient.Dial(ctx, opts); err == nil || !strings.Contains(err.Error(), "receive") {
		t.Errorf("join with receive video: %v, want refused naming receive", err)
		if c != nil {
			c.Close()
		}
	}
}

func TestForwardingAndRenegotiation(t *testing.T) {
	ts := newTestServer(t)
	var early, late receiver
	sub := ts.dial(t, "r1", "early", room.Guest, &early)
	pub := ts.dial(t, "r1", "pub", room.Host, nil)
	publish(t, pub)

	// A track published after the subscriber joined reaches it by renegotiation.
	testkit.WaitFor(t, 10*time.Second, "early subscriber media", func() bool {
		return early.tracks.Load() == 2 && early.packets.Load() > 50
	})
	// A peer joining after the tracks exist gets them in its first offer.
	ts.dial(t, "r1", "late", room.Viewer, &late)
	testkit.WaitFor(t, 10*time.Second, "late subscriber media", func() bool {
		return late.tracks.Load() == 2 && late.packets.Load() > 50
	})
	if _, ok := sub.Peers()[pub.Self().ID]; !ok {
		t.Errorf("subscriber does not list the publisher: %v", sub.Peers())
	}
	if p := sub.Peers()[pub.Self().ID]; !p.Audio || !p.Video {
		t.Errorf("publisher media flags = %+v, want audio and video on", p)
	}

	// Leaving is seen by the others.
	pub.Close()
	testkit.WaitFor(t, 5*time.Second, "peer-left", func() bool {
		_, ok := sub.Peers()[pub.Self().ID]
		return !ok
	})
}

func TestH264IsForwarded(t *testing.T) {
	ts := newTestServer(t)
	codecs := make(chan string, 2)
	sub := rtcclient.Options{URL: ts.url, Room: "h264", Token: ts.token(t, "h264", "sub", room.Guest),
		OnTrack: func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			codecs <- tr.Codec().MimeType
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rtcclient.Dial(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	publish(t, ts.dial(t, "h264", "pub", room.Host, nil), webrtc.MimeTypeH264)
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case m := <-codecs:
			got[m] = true
		case <-ctx.Done():
			t.Fatalf("subscriber got tracks %v, want H264 and Opus", got)
		}
	}
	if !got[webrtc.MimeTypeH264] || !got[webrtc.MimeTypeOpus] {
		t.Errorf("subscriber got %v, want H264 and Opus", got)
	}
}

func TestJoinRefused(t *testing.T) {
	ts := newTestServer(t)
	other, _ := auth.NewSigner([]byte("some-other-secret-0123"))
	forged, _ := other.JoinToken("r", "mallory", room.Host, time.Hour)
	expired, _ := ts.signer.JoinToken("r", "late", room.Host, -time.Second)
	wrongRoom, _ := ts.signer.JoinToken("elsewhere", "bob", room.Host, time.Hour)
	tests := []struct {
		name, token, code, msg string
	}{
		{"bad signature", forged, "unauthenticated", "signature"},
		{"expired", expired, "unauthenticated", "expired"},
		{"wrong room", wrongRoom, "permission_denied", "elsewhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := rtcclient.Dial(ctx, rtcclient.Options{URL: ts.url, Room: "r", Token: tt.token})
			if err == nil {
				c.Close()
				t.Fatal("join accepted")
			}
			var rerr *rtcclient.Error
			if !errors.As(err, &rerr) || rerr.Code != tt.code || !strings.Contains(rerr.Message, tt.msg) {
				t.Errorf("got %v, want %s mentioning %q", err, tt.code, tt.msg)
			}
		})
	}
}

func TestViewerCannotPublish(t *testing.T) {
	ts := newTestServer(t)
	var rec receiver
	ts.dial(t, "r2", "watcher", room.Guest, &rec)
	viewer := ts.dial(t, "r2", "viewer", room.Viewer, nil)
	track, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := viewer.Publish(ctx, track)
	var rerr *rtcclient.Error
	if !errors.As(err, &rerr) || rerr.Code != "permission_denied" {
		t.Fatalf("viewer publish: got %v, want permission_denied", err)
	}
	// Nothing the viewer sends can reach anyone: it was never offered a slot.
	if n := rec.tracks.Load(); n != 0 {
		t.Errorf("watcher received %d tracks from a viewer", n)
	}
}

func TestBeamIsHidden(t *testing.T) {
	ts := newTestServer(t)
	host := ts.dial(t, "r3", "host", room.Host, nil)
	beam := ts.dial(t, "r3", "beam", room.Beam, nil)
	guest := ts.dial(t, "r3", "guest", room.Guest, nil)
	// The beam sees the others (the guest's arrival is pushed to host and
	// beam independently: wait for both).
	testkit.WaitFor(t, 5*time.Second, "host and beam see guest", func() bool {
		_, hostSees := host.Peers()[guest.Self().ID]
		_, beamSees := beam.Peers()[guest.Self().ID]
		return hostSees && beamSees
	})
	for name, c := range map[string]*rtcclient.Client{"host": host, "guest": guest} {
		if _, ok := c.Peers()[beam.Self().ID]; ok {
			t.Errorf("%s can see the hidden beam peer", name)
		}
	}
	if len(beam.Peers()) != 2 {
		t.Errorf("beam sees %d peers, want 2", len(beam.Peers()))
	}
}

// Header extensions belong to the publisher's session (their IDs, and the
// MID naming one of its media sections): the SFU must not forward them.
// A forwarded MID made Chrome route a new track to another m-line.
func TestPublisherHeaderExtensionsAreNotForwarded(t *testing.T) {
	ts := newTestServer(t)
	var got, leaked atomic.Int32
	ts.dialWith(t, "ext", "sub", room.Guest, func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got.Add(1)
			for _, id := range pkt.GetExtensionIDs() {
				if string(pkt.GetExtension(id)) == "publisher-only" {
					leaked.Add(1)
				}
			}
		}
	})
	sendVP8(t, ts, "ext", func() bool { return got.Load() >= 20 }, func(_ *rtcclient.Client, pkt *rtp.Packet) {
		pkt.Header.SetExtension(14, []byte("publisher-only"))
	})
	if n := leaked.Load(); n != 0 {
		t.Errorf("%d of %d forwarded packets carry the publisher's header extension", n, got.Load())
	}
}

// TestPublisherSenderReportsAreRelayed: a subscriber gets the publisher's
// own RTCP sender reports (its NTP ↔ RTP mapping, which browsers line audio
// and video up by), under the SSRC the subscriber receives the track on.
func TestPublisherSenderReportsAreRelayed(t *testing.T) {
	ts := newTestServer(t)
	const marker = uint64(0xbeef0000_00000001) // an NTP time no clock makes
	var relayed, wrongSSRC atomic.Int32
	ts.dialWith(t, "sr", "sub", room.Guest, func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
			}
		}()
		for {
			pkts, _, err := r.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if sr, ok := p.(*rtcp.SenderReport); ok && sr.NTPTime == marker {
					if sr.SSRC != uint32(tr.SSRC()) || sr.RTPTime != 90000 {
						wrongSSRC.Add(1)
					}
					relayed.Add(1)
				}
			}
		}
	})
	sendVP8(t, ts, "sr", func() bool { return relayed.Load() > 0 }, func(pub *rtcclient.Client, pkt *rtp.Packet) {
		if pkt.SequenceNumber%10 != 0 {
			return
		}
		if enc := pub.PC().GetSenders()[0].GetParameters().Encodings; len(enc) > 0 {
			pub.PC().WriteRTCP([]rtcp.Packet{&rtcp.SenderReport{SSRC: uint32(enc[0].SSRC), NTPTime: marker, RTPTime: 90000}})
		}
	})
	if n := wrongSSRC.Load(); n != 0 {
		t.Errorf("%d relayed sender reports carry another SSRC or RTP time than the subscriber's track", n)
	}
}

// sendVP8 joins a publisher to roomName and sends it a VP8 track of tiny
// frames, 100 a second, each passed through each before it goes, until
// done says so; it fails the test after 10 s.
func sendVP8(t *testing.T, ts *testServer, roomName string, done func() bool, each func(*rtcclient.Client, *rtp.Packet)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub := ts.dial(t, roomName, "pub", room.Host, nil)
	track, _ := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "v", "s")
	if err := pub.Publish(ctx, track); err != nil {
		t.Fatal(err)
	}
	for i := 0; !done(); i++ {
		if ctx.Err() != nil {
			t.Fatalf("after %d packets the subscriber has not got what the test waits for", i)
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)},
			Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}}
		each(pub, pkt)
		track.WriteRTP(pkt)
		time.Sleep(10 * time.Millisecond) // paced like media, not a readiness wait
	}
}
