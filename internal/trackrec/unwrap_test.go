package trackrec

import "testing"

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
