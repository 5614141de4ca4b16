package sfu

import (
	"testing"

	"github.com/pion/rtp"
)

func TestHasSound(t *testing.T) {
	level := func(dBov byte) *rtp.Packet {
		p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, 80)}
		p.Header.SetExtension(1, []byte{dBov})
		return p
	}
	sized := func(n int) *rtp.Packet { return &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, n)} }
	cases := []struct {
		name    string
		pkt     *rtp.Packet
		levelID uint8
		want    bool
	}{
		{"level -20 dBov", level(20), 1, true},
		{"level -70 dBov, large payload", level(70), 1, false},
		{"voice-activity bit set, -70 dBov", level(0x80 | 70), 1, false},
		{"no level negotiated: a 3-byte silence frame", sized(3), 0, false},
		{"no level negotiated: an 80-byte tone frame", sized(80), 0, true},
		{"level negotiated but not sent: by size", sized(80), 1, true},
	}
	for _, c := range cases {
		if got := hasSound(c.pkt, c.levelID); got != c.want {
			t.Errorf("%s: hasSound = %v, want %v", c.name, got, c.want)
		}
	}
}
