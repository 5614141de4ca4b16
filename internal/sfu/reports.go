package sfu

import (
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Sender reports. A subscriber plays a peer's sound and picture in sync only
// once it has two sender reports of each (the clock mapping is a line
// through two points): with the publisher's reports alone (a browser sends
// one a second for video, one in five seconds for sound) a new subscriber
// played them unsynchronized for its first 2–10 s, the beam's recording
// too (its first seconds' sound 50–100 ms late). So a new subscriber is
// primed: it gets the publisher's latest report carried forward to now,
// a few times in its first second and a half.

// heardReport is a publisher's sender report and when it came.
type heardReport struct {
	sr rtcp.SenderReport
	at time.Time
}

// Priming: primeCount reports, primeEvery apart, from the subscription on;
// none from a report older than primeMaxAge (the publisher stopped sending
// them: its clock may have moved on).
const (
	primeCount  = 8
	primeEvery  = 200 * time.Millisecond
	primeMaxAge = 30 * time.Second
)

// carried is the publisher's latest sender report moved forward to now:
// both its NTP and RTP times advanced by the time since it came, so it
// states the same clock mapping.
func (t *forwardTrack) carried(now time.Time) (rtcp.SenderReport, bool) {
	h := t.heard.Load()
	if h == nil {
		return rtcp.SenderReport{}, false
	}
	d := now.Sub(h.at)
	if d < 0 || d > primeMaxAge {
		return rtcp.SenderReport{}, false
	}
	sr := h.sr
	sr.NTPTime += ntpDuration(d)
	sr.RTPTime += uint32(int64(d) * int64(t.remote.Codec().ClockRate) / int64(time.Second))
	return sr, true
}

// ntpDuration is d in NTP's 32.32 fixed point.
func ntpDuration(d time.Duration) uint64 {
	return uint64(d/time.Second)<<32 | uint64(d%time.Second)<<32/uint64(time.Second)
}

// primeReports sends a new subscriber the publisher's clock mapping
// (carried) primeCount times, primeEvery apart, until done. A report
// written before the subscriber's transport is up is lost; the next one
// goes.
func (t *forwardTrack) primeReports(p *Peer, s *webrtc.RTPSender, done <-chan struct{}) {
	tick := time.NewTicker(primeEvery)
	defer tick.Stop()
	for range primeCount {
		select {
		case <-done:
			return
		case now := <-tick.C:
			if sr, ok := t.carried(now); ok {
				t.sendReport(p, s, sr)
			}
		}
	}
}

// relayReport sends the publisher's sender report sr to every subscriber
// under that subscriber's SSRC. RTP timestamps are forwarded unchanged, so
// the publisher's NTP ↔ RTP mapping holds for them too; it is what lets a
// receiver play audio and video of one peer in sync (RFC 3550 §6.4.1).
func (t *forwardTrack) relayReport(sr *rtcp.SenderReport) {
	t.subsMu.Lock()
	subs := make(map[*webrtc.RTPSender]*Peer, len(t.subs))
	for s, p := range t.subs {
		subs[s] = p
	}
	t.subsMu.Unlock()
	for s, p := range subs {
		t.sendReport(p, s, *sr)
	}
}

// sendReport sends sr to a subscriber under its sender's SSRC.
func (t *forwardTrack) sendReport(p *Peer, s *webrtc.RTPSender, sr rtcp.SenderReport) {
	enc := s.GetParameters().Encodings
	if len(enc) == 0 {
		return
	}
	out := &rtcp.SenderReport{SSRC: uint32(enc[0].SSRC), NTPTime: sr.NTPTime, RTPTime: sr.RTPTime,
		PacketCount: sr.PacketCount, OctetCount: sr.OctetCount}
	if err := p.pc.WriteRTCP([]rtcp.Packet{out}); err != nil {
		p.log.Debug("send sender report", "err", err)
	}
}
