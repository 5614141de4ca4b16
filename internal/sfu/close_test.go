package sfu

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/roomcast/roomcast/internal/testkit"
)

// After Peer.Close returns, none of that peer's goroutines runs: for a
// subscriber its negotiation loop and its RTCP readers, for a publisher
// its negotiation loop, its tracks' forwarding loops and report readers,
// and no keyframe request is left pending. Checked at once, not polled
// (goleak's retries would let goroutines that end soon on their own pass).
func TestPeerCloseWaitsForItsGoroutines(t *testing.T) {
	s := newTestSFU(t)
	pub, sub, ft := liveRoom(t, s)
	gs := sfuGoroutines()
	for fn, want := range map[string]int{"(*Peer).run": 2, "(*forwardTrack).forward": 1, "(*forwardTrack).readReports": 1, "(*forwardTrack).readRTCP": 1} {
		if n := running(gs, fn); n != want {
			t.Fatalf("%d goroutines run %s with a publisher and a subscriber, want %d; SFU goroutines:\n%s", n, fn, want, strings.Join(gs, "\n\n"))
		}
	}

	sub.peer.Close()
	gs = sfuGoroutines()
	if running(gs, "(*forwardTrack).readRTCP") != 0 || running(gs, "(*Peer).run") != 1 {
		t.Errorf("after the subscriber's Close, SFU goroutines:\n%s\nwant only the publisher's", strings.Join(gs, "\n\n"))
	}

	pending(t, sub, pub, ft) // nobody reads the subscriber's RTCP: ask again
	pub.peer.Close()
	if gs = sfuGoroutines(); len(gs) != 0 {
		t.Errorf("after the publisher's Close, SFU goroutines still run:\n%s", strings.Join(gs, "\n\n"))
	}
	if pliPending(ft) {
		t.Error("a keyframe request is still pending after the publisher's Close")
	}
}

// After SFU.Close returns, no goroutine it started runs, no keyframe
// request is pending and the OnRooms callbacks for the rooms it closed
// have returned, also a slow one.
func TestCloseWaitsForEveryGoroutine(t *testing.T) {
	s := newTestSFU(t)
	var events roomEvents
	s.OnRooms(func(r string) { events.add("open " + r) }, func(r string) {
		time.Sleep(50 * time.Millisecond) // work, as the app's callback writes to JetStream
		events.add("close " + r)
	})
	_, _, ft := liveRoom(t, s)

	s.Close()
	if gs := sfuGoroutines(); len(gs) != 0 {
		t.Errorf("after Close, SFU goroutines still run:\n%s", strings.Join(gs, "\n\n"))
	}
	if pliPending(ft) {
		t.Error("a keyframe request is still pending after Close")
	}
	if !events.is("open c", "close c") {
		events.mu.Lock()
		t.Errorf("room events when Close returned: %v, want the room opened and closed", events.events)
		events.mu.Unlock()
	}
}

// liveRoom has a publisher send video through s to a subscriber in room c,
// and the subscriber ask for a keyframe that is still pending.
func liveRoom(t *testing.T, s *SFU) (pub, sub *client, ft *forwardTrack) {
	t.Helper()
	pub, sub = forwarding(t, s, "c")
	testkit.WaitFor(t, 10*time.Second, "forwarded media", func() bool { return sub.received(pub.peer.ID()) >= 5 })
	ft = liveTrack(t, s, "c")
	pending(t, sub, pub, ft)
	return pub, sub, ft
}

// pending makes the SFU hold a keyframe request for the end of the
// interval: sub asks until one is pending, or, once sub has left, the
// track is asked directly, as a tap would.
func pending(t *testing.T, sub, pub *client, ft *forwardTrack) {
	t.Helper()
	pli := []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(sub.remote(t, pub.peer.ID()).SSRC())}}
	testkit.WaitFor(t, 5*time.Second, "a pending keyframe request", func() bool {
		select {
		case <-sub.peer.Done():
			ft.requestKeyframe()
		default:
			if err := sub.pc.WriteRTCP(pli); err != nil {
				t.Fatal(err)
			}
		}
		return pliPending(ft)
	})
}

func pliPending(ft *forwardTrack) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.pliPending
}

const sfuPkg = "github.com/roomcast/roomcast/internal/sfu."

// sfuGoroutines returns the stacks of the running goroutines the SFU
// started itself (go statements and timers) that run its code; not the
// test's, nor those pion starts to call the SFU's handlers on, nor those
// past their work (returning).
func sfuGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if fns := sfuFrames(g); startedBySFU(g) && len(fns) > 0 && !returning(fns[0]) {
			out = append(out, g)
		}
	}
	return out
}

// returning says whether a goroutine whose innermost SFU frame is fn has
// done its work: Close waits for the hold that held gives back after its
// function returned, not for the goroutine's return after that.
func returning(fn string) bool {
	for _, f := range []string{"(*Peer).held(", "(*Peer).release(", "(*SFU).held("} {
		if strings.HasPrefix(fn, f) {
			return true
		}
	}
	return false
}

// sfuFrames returns the functions of the package's non-test code on the
// stack g, without the line that says who created it.
func sfuFrames(g string) []string {
	lines := strings.Split(g, "\n")
	var fns []string
	for i := 1; i+1 < len(lines); i += 2 {
		fn, file := lines[i], lines[i+1]
		if strings.HasPrefix(fn, "created by ") {
			break
		}
		if strings.HasPrefix(fn, sfuPkg) && !strings.Contains(file, "_test.go:") {
			fns = append(fns, strings.TrimPrefix(fn, sfuPkg))
		}
	}
	return fns
}

// startedBySFU says whether g was created by the package's non-test code
// or is a timer's function.
func startedBySFU(g string) bool {
	lines := strings.Split(g, "\n")
	for i, l := range lines {
		by, ok := strings.CutPrefix(l, "created by ")
		if !ok {
			continue
		}
		if strings.HasPrefix(by, "time.goFunc") {
			return true
		}
		return strings.HasPrefix(by, sfuPkg) && i+1 < len(lines) && !strings.Contains(lines[i+1], "_test.go:")
	}
	return false
}

// running counts the goroutines in gs with fn (e.g. "(*Peer).run") on
// their stack.
func running(gs []string, fn string) int {
	n := 0
	for _, g := range gs {
		for _, f := range sfuFrames(g) {
			if strings.HasPrefix(f, fn+"(") {
				n++
				break
			}
		}
	}
	return n
}
