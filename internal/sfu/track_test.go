package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/testkit"
)

// A published track reaches the other peers of its room with its payload
// and sequence numbers as sent, and no peer of another room.
func TestTrackIsForwardedOnlyInItsRoom(t *testing.T) {
	s := newTestSFU(t)
	rooms := []struct{ name, tag string }{{"a", "A"}, {"b", "B"}}
	pubs := make([]*client, len(rooms))
	payloads := make([]func(int) []byte, len(rooms))
	for i, r := range rooms {
		pubs[i], _ = join(t, s, r.name, "pub-"+r.name, room.Host)
		track, _ := pubs[i].publishVP8("v-" + r.name)
		payloads[i] = func(n int) []byte { return append(vp8Payload(n), r.tag...) }
		pubs[i].send(track, payloads[i])
	}
	subs := make([]*client, len(rooms))
	for i, r := range rooms {
		subs[i], _ = join(t, s, r.name, "sub-"+r.name, room.Viewer)
	}
	for i, r := range rooms {
		testkit.WaitFor(t, 10*time.Second, "media in room "+r.name, func() bool { return subs[i].received(pubs[i].peer.ID()) >= 20 })
	}
	for i, r := range rooms {
		sub := subs[i]
		sub.mu.Lock()
		for from, pkts := range sub.packets {
			if from != pubs[i].peer.ID() {
				t.Errorf("room %s: subscriber got %d packets from %s, a peer of another room", r.name, len(pkts), from)
				continue
			}
			for _, p := range pkts {
				if want := payloads[i](int(p.SequenceNumber)); !bytes.Equal(p.Payload, want) {
					t.Fatalf("room %s: packet %d payload = %x, want %x", r.name, p.SequenceNumber, p.Payload, want)
				}
			}
		}
		sub.mu.Unlock()
		if n := pubs[i].received(pubs[i].peer.ID()); n != 0 {
			t.Errorf("room %s: the publisher got %d of its own packets back", r.name, n)
		}
	}
}

// A subscriber's burst of keyframe requests reaches the publisher as one
// PLI at once and one at the end of the keyframe interval, no more; a
// steady stream of requests becomes at most one PLI per interval.
func TestKeyframeRequestsAreCoalesced(t *testing.T) {
	s := newTestSFU(t)
	pub, sub := forwarding(t, s, "k")
	testkit.WaitFor(t, 10*time.Second, "forwarded media", func() bool { return sub.received(pub.peer.ID()) >= 5 })
	// A new subscriber cannot decode before a keyframe: the SFU asked for
	// one when the subscriber answered.
	testkit.WaitFor(t, 5*time.Second, "the new subscriber's keyframe request", func() bool { return len(pub.keyframeRequests()) > 0 })
	testkit.WaitFor(t, 5*time.Second, "an interval without requests", func() bool {
		k := pub.keyframeRequests()
		return time.Since(k[len(k)-1]) > keyframeInterval
	})
	mediaSSRC := uint32(sub.remote(t, pub.peer.ID()).SSRC())
	pli := &rtcp.PictureLossIndication{MediaSSRC: mediaSSRC}
	fir := &rtcp.FullIntraRequest{MediaSSRC: mediaSSRC, FIR: []rtcp.FIREntry{{SSRC: mediaSSRC, SequenceNumber: 1}}}

	before := len(pub.keyframeRequests())
	start := time.Now()
	if err := sub.pc.WriteRTCP([]rtcp.Packet{pli, pli, fir, pli, pli}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "two keyframe requests for the burst", func() bool { return len(pub.keyframeRequests()) >= before+2 })
	holds(t, 3*keyframeInterval, "two keyframe requests for a burst of five", func() bool { return len(pub.keyframeRequests()) == before+2 })
	// The pending request goes when the interval that began with the
	// first one ends, and that began after start.
	if at := pub.keyframeRequests()[before+1].Sub(start); at < keyframeInterval {
		t.Errorf("second PLI arrived %v after the burst, want it at the interval's end (%v)", at, keyframeInterval)
	}

	before = len(pub.keyframeRequests())
	const steady = time.Second
	for end := time.Now().Add(steady); time.Now().Before(end); time.Sleep(2 * time.Millisecond) { // paced requests, not a wait
		if err := sub.pc.WriteRTCP([]rtcp.Packet{pli}); err != nil {
			t.Fatal(err)
		}
	}
	// The last request is answered by the pending PLI at the interval's end.
	holds(t, 2*keyframeInterval, "requests under the limit", func() bool {
		// One per interval the requests touched, and the trailing one.
		return len(pub.keyframeRequests())-before <= int(steady/keyframeInterval)+2
	})
	k := pub.keyframeRequests()[before:]
	if n := len(k); n < int(steady/keyframeInterval)-1 {
		t.Errorf("%d PLIs for %v of requests every 2 ms, want about one per %v", n, steady, keyframeInterval)
	}
	// They go a full interval apart; arrival may bunch them a little, not
	// by half an interval on loopback. (A request as the interval ended,
	// before the pending PLI's timer ran, used to send a second PLI with it.)
	for i := 1; i < len(k); i++ {
		if gap := k[i].Sub(k[i-1]); gap < keyframeInterval/2 {
			t.Errorf("PLIs %d and %d arrived %v apart, want about %v", i-1, i, gap, keyframeInterval)
		}
	}
}

// The publisher's sender report reaches every subscriber under the SSRC
// that subscriber receives the track on, its NTP and RTP times (and
// counts) unchanged: the publisher's clock mapping (RFC 3550 §6.4.1).
func TestSenderReportIsRelayedPerSubscriber(t *testing.T) {
	s := newTestSFU(t)
	pub, _ := join(t, s, "sr", "pub", room.Host)
	track, sender := pub.publishVP8("v")
	pub.send(track, vp8Payload)
	subs := make([]*client, 2)
	for i := range subs {
		subs[i], _ = join(t, s, "sr", "sub", room.Viewer)
	}
	for _, sub := range subs {
		testkit.WaitFor(t, 10*time.Second, "forwarded media", func() bool { return sub.received(pub.peer.ID()) >= 5 })
	}
	// A time no clock of this test makes, so pion's own reports do not count.
	marker := ntpOf(time.Date(2001, 2, 3, 4, 5, 6, 5e8, time.UTC))
	sent := &rtcp.SenderReport{SSRC: ssrc(t, sender), NTPTime: marker, RTPTime: 123456, PacketCount: 77, OctetCount: 7700}
	relayed := func(sub *client) *rtcp.SenderReport {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, sr := range sub.reports[pub.peer.ID()] {
			if sr.NTPTime == marker {
				return sr
			}
		}
		return nil
	}
	testkit.WaitFor(t, 10*time.Second, "the relayed sender report", func() bool {
		if err := pub.pc.WriteRTCP([]rtcp.Packet{sent}); err != nil {
			t.Fatal(err)
		}
		return relayed(subs[0]) != nil && relayed(subs[1]) != nil
	})
	for i, sub := range subs {
		got, want := relayed(sub), uint32(sub.remote(t, pub.peer.ID()).SSRC())
		if got.SSRC != want || got.RTPTime != sent.RTPTime || got.PacketCount != sent.PacketCount || got.OctetCount != sent.OctetCount {
			t.Errorf("subscriber %d got SSRC %d, RTP time %d, counts %d/%d; want SSRC %d, RTP time %d, counts %d/%d",
				i, got.SSRC, got.RTPTime, got.PacketCount, got.OctetCount, want, sent.RTPTime, sent.PacketCount, sent.OctetCount)
		}
	}
	if a, b := subs[0].remote(t, pub.peer.ID()).SSRC(), subs[1].remote(t, pub.peer.ID()).SSRC(); a == b || uint32(a) == sent.SSRC {
		t.Errorf("subscriber SSRCs %d and %d, publisher %d: want one of its own for each", a, b, sent.SSRC)
	}
}

// A subscriber that joins a room gets a keyframe without asking for one
// (a browser asks only after a while): the SFU asks the publisher once the
// subscriber's transport is up. Asked at its answer, the keyframe came
// before ICE and DTLS were done and was lost, and the beam page waited
// for the next one (~0.5 s of a job's start).
func TestNewSubscriberGetsAKeyframeUnasked(t *testing.T) {
	s := newTestSFU(t)
	pub, _ := join(t, s, "r", "pub", room.Host)
	track, _ := pub.publishVP8("v")
	// The publisher sends a keyframe ("K") after each PLI, else deltas.
	answered := 0
	pub.send(track, func(n int) []byte {
		if k := len(pub.keyframeRequests()); k > answered {
			answered = k
			return append(vp8Payload(n), 'K')
		}
		return append(vp8Payload(n), 'P')
	})
	testkit.WaitFor(t, 5*time.Second, "the track forwarded", func() bool { return len(pub.peer.room.allTracks()) > 0 })
	sub, _ := join(t, s, "r", "sub", room.Viewer)
	testkit.WaitFor(t, 5*time.Second, "media at the subscriber", func() bool { return sub.received(pub.peer.ID()) >= 30 })
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, p := range sub.packets[pub.peer.ID()] {
		if bytes.HasSuffix(p.Payload, []byte("K")) {
			return
		}
	}
	t.Errorf("the subscriber got %d packets and no keyframe", len(sub.packets[pub.peer.ID()]))
}

// A new subscriber is primed with the publisher's clock mapping: reports
// carried forward from the publisher's latest come a few times in its
// first second and a half, all on the publisher's line, so it can line a
// peer's sound and picture up at once instead of after the publisher's
// next two reports (one a second here; one in five for a browser's sound).
func TestNewSubscriberIsPrimedWithSenderReports(t *testing.T) {
	s := newTestSFU(t)
	pub, first := forwarding(t, s, "prime")
	reports := func(c *client) []*rtcp.SenderReport {
		c.mu.Lock()
		defer c.mu.Unlock()
		return append([]*rtcp.SenderReport(nil), c.reports[pub.peer.ID()]...)
	}
	testkit.WaitFor(t, 10*time.Second, "a report the SFU has heard", func() bool { return len(reports(first)) > 0 })
	joined := time.Now()
	sub, _ := join(t, s, "prime", "late", room.Viewer)
	const want = 4 // the publisher's own: at most 2 in that time
	window := 2 * time.Second
	for time.Since(joined) < window && len(reports(sub)) < want {
		time.Sleep(20 * time.Millisecond) // polling a count, within the window
	}
	got := reports(sub)
	if len(got) < want {
		t.Fatalf("%d sender reports in the new subscriber's first %v, want ≥ %d", len(got), window, want)
	}
	for i := 1; i < len(got); i++ {
		dNTP := ntpTime(got[i].NTPTime).Sub(ntpTime(got[0].NTPTime))
		dRTP := time.Duration(int64(int32(got[i].RTPTime-got[0].RTPTime)) * int64(time.Second) / 90000)
		if diff := dRTP - dNTP; diff < -2*time.Millisecond || diff > 2*time.Millisecond {
			t.Errorf("report %d: %v on the NTP clock, %v on the RTP clock since the first: off the publisher's line by %v", i, dNTP, dRTP, diff)
		}
	}
}
