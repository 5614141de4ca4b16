// Package rooms places rooms on room servers: every room lives on one
// server (its SFU), chosen when the room is first needed, and every other
// server sends the room's peers there. The placement is a lease in NATS
// JetStream KV (bucket roomcast_rooms, key = hex room name) that its owner
// renews; the servers announce themselves and their load twice a second.
package rooms

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/rcerr"
)

const (
	bucket = "roomcast_rooms"
	// leaseTTL is how long a placement outlives its owner's last renewal
	// (the bucket's max age); the owner renews every renewEvery.
	leaseTTL   = 6 * time.Second
	renewEvery = 2 * time.Second
	// announceEvery is how often a server announces itself; one silent for
	// deadAfter is taken for dead (its rooms may be placed again at once,
	// without waiting for their leases to expire).
	announceEvery = 500 * time.Millisecond
	deadAfter     = 2 * time.Second
	// linger is how long a server keeps a room it placed, or whose last
	// peer left, before giving it up: a reload or a redirected peer finds
	// it where it was.
	linger = 15 * time.Second

	announceSubject = "roomcast.servers.announce"
	rollCallSubject = "roomcast.servers.rollcall"
	placedSubject   = "roomcast.servers.placed"
	// pingWait bounds the liveness check of a room's server.
	pingWait = 500 * time.Millisecond
	// countedAfter is how long after a placement the owner's
	// announcements surely count it.
	countedAfter = 100 * time.Millisecond
)

// pingSubject is where server id answers that it is alive: NATS says at
// once that nobody listens there when its process is gone.
func pingSubject(id string) string {
	return "roomcast.servers." + hex.EncodeToString([]byte(id)) + ".ping"
}

// Load is what a server carries.
type Load struct {
	Rooms     int     `json:"rooms"`
	Peers     int     `json:"peers"`
	Tracks    int     `json:"tracks"`    // published
	Forwarded int     `json:"forwarded"` // track × subscriber
	CPU       float64 `json:"cpu"`       // busy cores of its machine
}

// Server is a room server as it announces itself.
type Server struct {
	ID       string `json:"id"`
	URL      string `json:"url"`   // its public URL, http(s)://host[:port]
	State    string `json:"state"` // ready | draining
	Load     Load   `json:"load"`
	Since    time.Time
	lastSeen time.Time
}

// Server states.
const (
	StateReady    = "ready"
	StateDraining = "draining"
)

// lease is a room's placement as stored.
type lease struct {
	Server string    `json:"server"`
	URL    string    `json:"url"`
	At     time.Time `json:"at"`
}

// Route says where a room's peers go.
type Route struct {
	Local bool   // this server owns the room
	URL   string // else the owner's public URL
	Owner string // the owner's id
}

// Options configure a Directory.
type Options struct {
	ID  string // this server
	URL string // its public URL
	// Load is what this server carries now; Open the rooms it has peers
	// (or a track recording) in.
	Load func() Load
	Open func() []string
	// Peers lists this server's rooms with their visible peers.
	Peers func() map[string][]Peer
	// Moved is called when a room this server has open is owned by another
	// (a lease lost, or moved away by Drain): its peers must go to url.
	Moved func(room, url string)

	now     func() time.Time // tests: the clock
	started time.Time        // tests: when this server began listening
}

// Directory is this server's view of the fleet's rooms and servers.
type Directory struct {
	opts    Options
	kv      jetstream.KeyValue
	nc      *nats.Conn
	log     *slog.Logger
	now     func() time.Time
	started time.Time
	subs    []*nats.Subscription

	mu       sync.Mutex
	servers  map[string]Server
	pending  map[string][]time.Time // when rooms were placed on a server, until its announcements count them
	held     map[string]held
	draining bool
}

type held struct {
	rev   uint64
	until time.Time // given up after this unless open again
}

// Open creates the bucket if needed, listens for the other servers and
// asks them to announce themselves.
func Open(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, opts Options, log *slog.Logger) (*Directory, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "roomcast: which server each room lives on",
		History: 1, TTL: leaseTTL, Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("rooms: bucket: %w", err)
	}
	d := &Directory{opts: opts, kv: kv, nc: nc, log: log, now: opts.now, started: opts.started,
		servers: map[string]Server{}, pending: map[string][]time.Time{}, held: map[string]held{}}
	if d.now == nil {
		d.now = time.Now
	}
	if d.started.IsZero() {
		d.started = d.now()
	}
	sub, err := nc.Subscribe(announceSubject, d.heard)
	if err != nil {
		return nil, fmt.Errorf("rooms: listen: %w", err)
	}
	d.subs = append(d.subs, sub)
	if sub, err = nc.Subscribe(rollCallSubject, func(*nats.Msg) { d.announce() }); err != nil {
		d.Close()
		return nil, fmt.Errorf("rooms: listen: %w", err)
	}
	d.subs = append(d.subs, sub)
	for subject, h := range map[string]nats.MsgHandler{
		pingSubject(opts.ID): func(m *nats.Msg) { m.Respond(nil) },
		listSubject(opts.ID): d.serveList,
		placedSubject:        d.placed,
	} {
		if sub, err = nc.Subscribe(subject, h); err != nil {
			d.Close()
			return nil, fmt.Errorf("rooms: listen: %w", err)
		}
		d.subs = append(d.subs, sub)
	}
	d.announce()
	if err := nc.Publish(rollCallSubject, nil); err != nil {
		d.Close()
		return nil, fmt.Errorf("rooms: roll call: %w", err)
	}
	return d, nil
}

func key(room string) string { return "r" + hex.EncodeToString([]byte(room)) }

// placement is what a server that placed a room tells every server: the
// owner holds the room from then on (and counts it in its load), the
// others count it against the owner until it next announces.
type placement struct {
	Room   string `json:"room"`
	Server string `json:"server"` // the owner
	By     string `json:"by"`     // the server that placed it
}

func (d *Directory) placed(m *nats.Msg) {
	var p placement
	if json.Unmarshal(m.Data, &p) != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.Server == d.opts.ID {
		if _, ok := d.held[p.Room]; !ok {
			d.held[p.Room] = held{until: d.now().Add(linger)} // rev 0: read at renewal
		}
	}
	if p.By != d.opts.ID { // the placer counted it already
		d.pending[p.Server] = append(d.pending[p.Server], d.now())
	}
}

func (d *Directory) heard(m *nats.Msg) {
	var s Server
	if json.Unmarshal(m.Data, &s) != nil || s.ID == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s.lastSeen = d.now()
	d.servers[s.ID] = s
	// The announcement counts the rooms the server held when it was made:
	// those placed more than a moment ago (the placement reached it first).
	d.pending[s.ID] = slices.DeleteFunc(d.pending[s.ID], func(at time.Time) bool { return s.lastSeen.Sub(at) > countedAfter })
}

// self is this server as it announces itself.
func (d *Directory) self() Server {
	d.mu.Lock()
	draining := d.draining
	d.mu.Unlock()
	s := Server{ID: d.opts.ID, URL: d.opts.URL, State: StateReady, Load: d.opts.Load(), Since: d.started}
	if draining {
		s.State = StateDraining
	}
	// Its rooms are those placed here (held) and those open here.
	open := d.opts.Open()
	d.mu.Lock()
	s.Load.Rooms = len(d.held)
	for _, r := range open {
		if _, ok := d.held[r]; !ok {
			s.Load.Rooms++
		}
	}
	d.mu.Unlock()
	return s
}

func (d *Directory) announce() {
	b, _ := json.Marshal(d.self())
	if err := d.nc.Publish(announceSubject, b); err != nil {
		d.log.Debug("rooms: announce", "err", err)
	}
}

// Servers returns the live servers (this one included), by id.
func (d *Directory) Servers() []Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []Server{}
	for id, s := range d.servers {
		if d.now().Sub(s.lastSeen) > deadAfter {
			delete(d.servers, id)
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Server) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// gone reports whether server id is dead: nobody answers its ping (its
// process has left NATS: known at once), or it has been silent for
// deadAfter while this server listened (hung, or cut off).
func (d *Directory) gone(ctx context.Context, id string) bool {
	if id == d.opts.ID {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, pingWait)
	defer cancel()
	_, err := d.nc.RequestWithContext(ctx, pingSubject(id), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil || d.now().Sub(d.started) < deadAfter {
		return false
	}
	s, ok := d.servers[id]
	return !ok || d.now().Sub(s.lastSeen) > deadAfter
}

// pick chooses the server for a new room: the ready one with the least
// load, this one when none is known. A server's load is the tracks it
// forwards, or, when more, its rooms (those placed on it since it last
// announced included) times the most forwarded tracks per room of any
// server: a room just placed, whose peers are still on their way, weighs
// as a busy one. Ties go to the fewer rooms, then peers, then the less busy
// machine, then the lower id.
func (d *Directory) pick() Server {
	servers := d.Servers()
	d.mu.Lock()
	defer d.mu.Unlock()
	best, found := d.selfLocked(), false
	// A room counts as the fleet's busiest rooms on average (the most
	// forwarded tracks per room of any server): new rooms, whose peers are
	// still joining, must not make a server look idle.
	avg := 1.0
	for _, s := range servers {
		if s.Load.Rooms > 0 {
			avg = max(avg, float64(s.Load.Forwarded)/float64(s.Load.Rooms))
		}
	}
	load := func(s Server) float64 {
		return max(float64(s.Load.Forwarded), avg*float64(s.Load.Rooms+len(d.pending[s.ID])))
	}
	less := func(a, b Server) bool {
		pa, pb := len(d.pending[a.ID]), len(d.pending[b.ID])
		return cmp.Or(cmp.Compare(load(a), load(b)), cmp.Compare(a.Load.Rooms+pa, b.Load.Rooms+pb),
			cmp.Compare(a.Load.Peers, b.Load.Peers), cmp.Compare(a.Load.CPU, b.Load.CPU), cmp.Compare(a.ID, b.ID)) < 0
	}
	for _, s := range servers {
		if s.ID == d.opts.ID && d.draining {
			continue // before its own announcement says so
		}
		if s.State == StateReady && (!found || less(s, best)) {
			best, found = s, true
		}
	}
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		loads := map[string]float64{}
		for _, s := range servers {
			loads[s.ID] = load(s)
		}
		d.log.Debug("rooms: placement", "to", best.ID, "loads", loads, "per_room", avg)
	}
	d.pending[best.ID] = append(d.pending[best.ID], d.now())
	return best
}

// selfLocked is this server as a placement target, before it has heard
// its own announcement.
func (d *Directory) selfLocked() Server {
	if s, ok := d.servers[d.opts.ID]; ok {
		return s
	}
	return Server{ID: d.opts.ID, URL: d.opts.URL, State: StateReady}
}

// Locate says where room lives, placing it on the least loaded server when
// it lives nowhere yet (or its owner is dead). A room placed here is held
// from now on.
func (d *Directory) Locate(ctx context.Context, room string) (Route, error) {
	for range 8 {
		e, err := d.kv.Get(ctx, key(room))
		var rev uint64
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return Route{}, unavailable(err)
		default:
			var l lease
			if json.Unmarshal(e.Value(), &l) == nil && l.Server != "" {
				if l.Server == d.opts.ID {
					d.hold(room, e.Revision())
					return Route{Local: true, Owner: l.Server}, nil
				}
				if !d.gone(ctx, l.Server) {
					return Route{URL: l.URL, Owner: l.Server}, nil
				}
				d.log.Info("room's server is gone; placing the room again", "room", room, "server", l.Server)
			}
			rev = e.Revision()
		}
		to := d.pick()
		b, _ := json.Marshal(lease{Server: to.ID, URL: to.URL, At: d.now().UTC()})
		var nrev uint64
		if rev == 0 {
			nrev, err = d.kv.Create(ctx, key(room), b)
		} else {
			nrev, err = d.kv.Update(ctx, key(room), b, rev)
		}
		if isConflict(err) {
			continue // placed by another server meanwhile: read it
		}
		if err != nil {
			return Route{}, unavailable(err)
		}
		d.log.Debug("room placed", "room", room, "server", to.ID)
		if to.ID == d.opts.ID {
			d.hold(room, nrev)
			return Route{Local: true, Owner: to.ID}, nil
		}
		b, _ = json.Marshal(placement{Room: room, Server: to.ID, By: d.opts.ID})
		if err := d.nc.Publish(placedSubject, b); err != nil {
			d.log.Debug("rooms: tell the room's server", "err", err)
		}
		return Route{URL: to.URL, Owner: to.ID}, nil
	}
	return Route{}, rcerr.New(rcerr.Unavailable, "the room's placement keeps changing; try again")
}

func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func unavailable(err error) error {
	return rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("rooms: %w", err), "could not find the room's server (NATS unavailable); try again")
}

// hold keeps room's lease at rev renewed by this server for at least linger.
func (d *Directory) hold(room string, rev uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held[room] = held{rev: rev, until: d.now().Add(linger)}
}

// Placed reports whether room lives on some server now.
func (d *Directory) Placed(room string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := d.kv.Get(ctx, key(room))
	return err == nil
}
