package sfu

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/testkit"
)

// roomEvents records the OnRooms callbacks.
type roomEvents struct {
	mu     sync.Mutex
	events []string
}

func (e *roomEvents) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

func (e *roomEvents) is(want ...string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Equal(e.events, want)
}

// A peer's life in a room: joining peers learn who is there (never the
// hidden beam) and are announced to the visible others; a publisher's media
// flags reach them. When the publisher leaves, the others are told, its
// track leaves the room and the subscriber's next offer no longer carries
// it. The room is gone with its last peer, and a later join opens it anew.
func TestRoomLifecycle(t *testing.T) {
	s := newTestSFU(t)
	var events roomEvents
	s.OnRooms(func(r string) { events.add("open " + r) }, func(r string) { events.add("close " + r) })

	ann, others := join(t, s, "life", "ann", room.Host)
	if len(others) != 0 {
		t.Errorf("first peer sees %v, want nobody", others)
	}
	bob, others := join(t, s, "life", "bob", room.Guest)
	if len(others) != 1 || others[0].ID != ann.peer.ID() || others[0].Identity != "ann" || others[0].Role != "host" {
		t.Errorf("bob sees %+v, want ann the host", others)
	}
	beam, others := join(t, s, "life", "beam", room.Beam)
	if len(others) != 2 {
		t.Errorf("the beam sees %d peers, want 2", len(others))
	}
	if got := len(s.Rooms()["life"]); got != 2 {
		t.Errorf("Rooms lists %d visible peers in life, want 2 (the beam is hidden)", got)
	}

	track, _ := ann.publishVP8("v")
	ann.send(track, vp8Payload)
	testkit.WaitFor(t, 10*time.Second, "ann's media at bob and the beam", func() bool {
		return bob.received(ann.peer.ID()) > 0 && beam.received(ann.peer.ID()) > 0
	})
	ann.mu.Lock()
	_, annSeesBeam := ann.peers[beam.peer.ID()]
	_, annSeesBob := ann.peers[bob.peer.ID()]
	ann.mu.Unlock()
	if annSeesBeam || !annSeesBob {
		t.Errorf("ann sees bob %v, the beam %v; want bob only", annSeesBob, annSeesBeam)
	}
	bob.mu.Lock()
	if p := bob.peers[ann.peer.ID()]; !p.Video || p.Audio {
		t.Errorf("bob sees ann as %+v, want video on, audio off", p)
	}
	bob.mu.Unlock()
	if a, _ := s.Activity("life"); a.VideoTracks != 1 {
		t.Fatalf("activity %+v, want one video track", a)
	}

	msid := "msid:" + ann.peer.ID()
	if !strings.Contains(bob.lastOffer(), msid) {
		t.Fatalf("bob's offer does not carry ann's track (%s)", msid)
	}
	ann.peer.Close()
	ann.peer.Close() // idempotent
	if err := ann.peer.Err(); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}
	select {
	case <-ann.peer.Done():
	default:
		t.Error("Done is open after Close")
	}
	testkit.WaitFor(t, 10*time.Second, "ann's departure at bob", func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		_, there := bob.peers[ann.peer.ID()]
		return !there && slices.Contains(bob.left, ann.peer.ID())
	})
	if a, _ := s.Activity("life"); a.VideoTracks != 0 {
		t.Errorf("activity %+v after the publisher left, want no tracks", a)
	}
	testkit.WaitFor(t, 10*time.Second, "an offer to bob without ann's track", func() bool {
		return !strings.Contains(bob.lastOffer(), msid)
	})

	if !s.Has("life") {
		t.Fatal("the room is gone while two peers are in it")
	}
	bob.close()
	beam.close()
	if s.Has("life") || len(s.Rooms()) != 0 {
		t.Errorf("after the last peer left: Has = %v, Rooms = %v; want the room gone", s.Has("life"), s.Rooms())
	}
	join(t, s, "life", "again", room.Guest)
	testkit.WaitFor(t, 5*time.Second, "room events in order", func() bool {
		return events.is("open life", "close life", "open life")
	})
}

// lastOffer returns the SFU's latest offer to c.
func (c *client) lastOffer() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.offers) == 0 {
		return ""
	}
	return c.offers[len(c.offers)-1]
}

// A closed SFU takes no one in and closes the peers it had.
func TestJoinAfterClose(t *testing.T) {
	s := newTestSFU(t)
	c, _ := join(t, s, "r", "ann", room.Guest)
	s.Close()
	select {
	case <-c.peer.Done():
	default:
		t.Fatal("a peer is still open after Close returned")
	}
	if _, _, err := s.Join(JoinRequest{Room: "r", Identity: "late", Role: room.Guest}, c); !errors.Is(err, ErrClosed) {
		t.Errorf("Join after Close: %v, want ErrClosed", err)
	}
	if s.Has("r") {
		t.Error("the room outlived Close")
	}
}
