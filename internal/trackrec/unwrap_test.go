package trackrec

import (
	"testing"
	"time"
)

func TestUnwrap(t *testing.T) {
	var u unwrapper
	in := []uint32{0xFFFFFF00, 0xFFFFFFF0, 0x10, 0x08, 0x20, 0xFFFFFFF8}
	want := []int64{0xFFFFFF00, 0xFFFFFFF0, 1<<32 + 0x10, 1<<32 + 0x08, 1<<32 + 0x20, 0xFFFFFFF8}
	for i, ts := range in {
		if got := u.unwrap(ts); got != want[i] {
			t.Errorf("unwrap(%#x) #%d = %#x, want %#x", ts, i, got, want[i])
		}
	}
}

func TestTicksRoundTrip(t *testing.T) {
	for _, ticks := range []int64{0, 1, 2999, 3000, 3001, 90000*3600*30 + 1234, 1 << 40} {
		d := ticksToDuration(ticks, 90000)
		if back := durationToTicks(d, 90000); back != ticks {
			t.Errorf("%d ticks → %v → %d ticks", ticks, d, back)
		}
	}
	if d := ticksToDuration(90000*3600*30, 90000); d != 30*time.Hour {
		t.Errorf("30 h of 90 kHz ticks = %v", d)
	}
}
