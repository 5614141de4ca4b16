package mediatime

import (
	"testing"
	"time"
)

func TestTicksRoundTrip(t *testing.T) {
	for _, ticks := range []int64{0, 1, 2999, 3000, 3001, 90000*3600*30 + 1234, 1 << 40} {
		d := Duration(ticks, 90000)
		if back := Ticks(d, 90000); back != ticks {
			t.Errorf("%d ticks → %v → %d ticks", ticks, d, back)
		}
	}
	if d := Duration(90000*3600*30, 90000); d != 30*time.Hour {
		t.Errorf("30 h of 90 kHz ticks = %v", d)
	}
	if n := Ticks(1024*time.Second/48000, 48000); n != 1024 {
		t.Errorf("an AAC frame is %d ticks at 48 kHz, want 1024", n)
	}
}
