package rooms

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roomcast/roomcast/internal/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// server is one Directory with a load and open rooms the test sets.
type server struct {
	*Directory
	mu    sync.Mutex
	load  Load
	open  []string
	moved map[string]string
}

func newBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir(), Token: "test"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newServer(t *testing.T, b *bus.Bus, c *clock, id string) *server {
	t.Helper()
	s := &server{moved: map[string]string{}}
	d, err := Open(context.Background(), b.NC, b.JS, Options{ID: id, URL: "http://" + id,
		Load: func() Load { s.mu.Lock(); defer s.mu.Unlock(); return s.load },
		Open: func() []string { s.mu.Lock(); defer s.mu.Unlock(); return append([]string(nil), s.open...) },
		Moved: func(room, url string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.moved[room] = url
		},
		now:     c.now,
		started: c.now().Add(-time.Minute), // has listened long enough to know the others
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s.Directory = d
	t.Cleanup(d.Close)
	return s
}

// fleet starts n servers and waits until each has heard all.
func fleet(t *testing.T, n int) (*bus.Bus, *clock, []*server) {
	b := newBus(t)
	c := &clock{t: time.Now()}
	var out []*server
	for i := range n {
		out = append(out, newServer(t, b, c, string(rune('a'+i))))
	}
	for _, s := range out {
		s.announce()
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range out {
		for len(s.Servers()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s heard %d servers, want %d", s.opts.ID, len(s.Servers()), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return b, c, out
}

// Concurrent joins for one room through every server agree on one owner:
// it answers local, every other server sends its peers there.
func TestOneOwnerPerRoom(t *testing.T) {
	_, _, servers := fleet(t, 3)
	type answer struct {
		via string
		rt  Route
	}
	answers := make(chan answer, 60)
	var wg sync.WaitGroup
	for i := range 60 {
		s := servers[i%3]
		wg.Go(func() {
			rt, err := s.Locate(context.Background(), "one")
			if err != nil {
				t.Error(err)
			}
			answers <- answer{s.opts.ID, rt}
		})
	}
	wg.Wait()
	close(answers)
	owner := ""
	for a := range answers {
		if owner == "" {
			owner = a.rt.Owner
		}
		if a.rt.Owner != owner {
			t.Fatalf("owners %q and %q for one room", owner, a.rt.Owner)
		}
		if a.rt.Local != (a.via == owner) || !a.rt.Local && a.rt.URL != "http://"+owner {
			t.Errorf("through %s: %+v (owner %s)", a.via, a.rt, owner)
		}
	}
}

// New rooms go to the least loaded ready server, and rooms placed in a
// burst spread evenly before any server announces its new load.
func TestPlacementSpreads(t *testing.T) {
	_, _, servers := fleet(t, 3)
	count := map[string]int{}
	for i := range 30 {
		rt, err := servers[0].Locate(context.Background(), "room-"+string(rune('A'+i)))
		if err != nil {
			t.Fatal(err)
		}
		count[rt.Owner]++
	}
	if count["a"] != 10 || count["b"] != 10 || count["c"] != 10 {
		t.Errorf("30 rooms over 3 idle servers: %v, want 10 each", count)
	}
	// b announces it forwards tracks: the next room goes elsewhere; c
	// draining: never there.
	servers[1].mu.Lock()
	servers[1].load = Load{Rooms: 1, Peers: 4, Forwarded: 12}
	servers[1].mu.Unlock()
	servers[2].mu.Lock()
	servers[2].draining = true
	servers[2].mu.Unlock()
	// Each server knows the 10 rooms placed on it before it announces them
	// (else the announcements' room counts depend on which placement
	// reached which server first).
	waitFor(t, "each server to hold its 10 rooms", func() bool {
		for _, s := range servers {
			s.Directory.mu.Lock()
			n := len(s.held)
			s.Directory.mu.Unlock()
			if n != 10 {
				return false
			}
		}
		return true
	})
	for _, s := range servers {
		s.announce() // each new load is known: nothing pending
	}
	waitFor(t, "the announcements", func() bool {
		ss := servers[0].Servers()
		return len(ss) == 3 && ss[0].Load.Rooms == 10 && ss[1].Load.Rooms == 10 && ss[1].Load.Forwarded == 12 && ss[2].State == StateDraining
	})
	count = map[string]int{}
	for i := range 6 {
		rt, err := servers[0].Locate(context.Background(), "x"+string(rune('0'+i)))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && rt.Owner != "a" {
			t.Errorf("first room after b announced 12 forwarded tracks: on %s, want a (idle)", rt.Owner)
		}
		count[rt.Owner]++
	}
	// b forwards 12 tracks; a none (its 10 empty rooms weigh 10): a first,
	// then both, never c.
	if count["c"] != 0 || count["a"] < 2 || count["b"] < 2 {
		t.Errorf("6 rooms with b forwarding 12 tracks and c draining: %v, want them on a and b only, both used", count)
	}
}

// A server that went silent loses its rooms at the next join: the room is
// placed again on a live server, without waiting for the lease to expire.
func TestDeadOwnerIsReplaced(t *testing.T) {
	_, c, servers := fleet(t, 3)
	a, b := servers[0], servers[1]
	rt, err := a.Locate(context.Background(), "r")
	if err != nil || !rt.Local {
		t.Fatalf("placed through a (idle, first by id): %+v %v", rt, err)
	}
	if rt, err := b.Locate(context.Background(), "r"); err != nil || rt.Owner != "a" {
		t.Fatalf("b while a lives: %+v %v", rt, err)
	}
	a.Close() // a dies: no more announcements
	c.add(deadAfter + time.Second)
	servers[2].announce()
	b.announce()
	waitFor(t, "b and c heard again", func() bool { return len(b.Servers()) == 2 })
	rt, err = b.Locate(context.Background(), "r")
	if err != nil || rt.Owner == "a" || rt.Owner == "" {
		t.Fatalf("after a died: %+v %v, want a live owner", rt, err)
	}
	if rt2, err := servers[2].Locate(context.Background(), "r"); err != nil || rt2.Owner != rt.Owner {
		t.Errorf("c disagrees: %+v %v", rt2, err)
	}
}

// A draining server keeps its rooms while they have peers, then moves them
// to another ready server and tells its peers where (Moved); a server with
// no other ready one keeps them.
func TestDrainMovesRooms(t *testing.T) {
	_, _, servers := fleet(t, 2)
	a, b := servers[0], servers[1]
	if rt, err := a.Locate(context.Background(), "busy"); err != nil || !rt.Local {
		t.Fatalf("%+v %v", rt, err)
	}
	a.mu.Lock()
	a.open = []string{"busy"}
	a.mu.Unlock()
	ctx := context.Background()
	a.Drain(ctx, 100*time.Millisecond)
	a.mu.Lock()
	url := a.moved["busy"]
	a.mu.Unlock()
	if url != "http://b" {
		t.Fatalf("moved to %q, want http://b", url)
	}
	if rt, err := b.Locate(ctx, "busy"); err != nil || !rt.Local {
		t.Errorf("b after the move: %+v %v, want it local", rt, err)
	}
	waitFor(t, "a announced draining", func() bool { return b.Servers()[0].State == StateDraining })
	if rt, err := b.Locate(ctx, "new"); err != nil || rt.Owner != "b" {
		t.Errorf("a new room while a drains: %+v %v, want b", rt, err)
	}
}

// The owner renews its open rooms' leases (the bucket expires them
// otherwise) and gives up a room that is neither open nor held.
func TestLeaseRenewedWhileOpenThenReleased(t *testing.T) {
	_, c, servers := fleet(t, 2)
	a := servers[0]
	ctx := context.Background()
	if _, err := a.Locate(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.open = []string{"kept"}
	a.mu.Unlock()
	a.renew(ctx)
	e, err := a.kv.Get(ctx, key("kept"))
	if err != nil {
		t.Fatalf("renewed lease: %v", err)
	}
	first := e.Revision()
	a.renew(ctx)
	if e, _ := a.kv.Get(ctx, key("kept")); e == nil || e.Revision() == first {
		t.Errorf("a second renewal did not write the lease")
	}
	a.mu.Lock()
	a.open = nil
	a.mu.Unlock()
	c.add(linger + time.Second)
	a.renew(ctx)
	if a.Placed("kept") {
		t.Errorf("a room neither open nor held stayed placed")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
