package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Run announces this server every second and renews the leases of its
// rooms every two until ctx ends; then it gives them up, so they are placed
// again at once.
func (d *Directory) Run(ctx context.Context) {
	announce := time.NewTicker(announceEvery)
	defer announce.Stop()
	renew := time.NewTicker(renewEvery)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			d.releaseAll()
			return
		case <-announce.C:
			d.announce()
		case <-renew.C:
			d.renew(ctx)
		}
	}
}

// renew keeps every room this server has open or holds placed here: a
// lease that expired is taken again, one another server took over sends
// the room's peers there (Moved), and a room neither open nor held within
// linger is given up.
func (d *Directory) renew(ctx context.Context) {
	open := d.opts.Open()
	d.mu.Lock()
	now := d.now()
	for _, room := range open {
		h, ok := d.held[room]
		if !ok {
			h = held{} // rev 0: read it first
		}
		h.until = now.Add(linger)
		d.held[room] = h
	}
	rooms := make(map[string]held, len(d.held))
	for room, h := range d.held {
		rooms[room] = h
	}
	d.mu.Unlock()
	for room, h := range rooms {
		if ctx.Err() != nil {
			return
		}
		if now.After(h.until) {
			d.release(ctx, room, h.rev)
			continue
		}
		d.renewOne(ctx, room, h.rev)
	}
}

func (d *Directory) renewOne(ctx context.Context, room string, rev uint64) {
	b, _ := json.Marshal(lease{Server: d.opts.ID, URL: d.opts.URL, At: d.now().UTC()})
	var err error
	var nrev uint64
	if rev != 0 {
		if nrev, err = d.kv.Update(ctx, key(room), b, rev); err == nil {
			d.setRev(room, nrev)
			return
		}
		if !isConflict(err) {
			d.log.Warn("rooms: renew lease", "room", room, "err", err)
			return
		}
	}
	e, err := d.kv.Get(ctx, key(room))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// Expired (this server was slow) or never placed: it is open
		// here, so it lives here.
		if nrev, err = d.kv.Create(ctx, key(room), b); err == nil {
			d.setRev(room, nrev)
			return
		}
		if !isConflict(err) {
			d.log.Warn("rooms: take lease", "room", room, "err", err)
		}
	case err != nil:
		d.log.Warn("rooms: read lease", "room", room, "err", err)
	default:
		var l lease
		if json.Unmarshal(e.Value(), &l) == nil && l.Server == d.opts.ID {
			if nrev, err = d.kv.Update(ctx, key(room), b, e.Revision()); err == nil {
				d.setRev(room, nrev)
			}
			return
		}
		d.log.Warn("room now lives on another server; sending its peers there", "room", room, "server", l.Server)
		d.forget(room)
		d.opts.Moved(room, l.URL)
	}
}

func (d *Directory) setRev(room string, rev uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.held[room]; ok {
		h.rev = rev
		d.held[room] = h
	}
}

func (d *Directory) forget(room string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.held, room)
}

// release gives room up if it is still placed here at rev.
func (d *Directory) release(ctx context.Context, room string, rev uint64) {
	d.forget(room)
	if rev == 0 {
		return
	}
	if err := d.kv.Delete(ctx, key(room), jetstream.LastRevision(rev)); err != nil && !isConflict(err) {
		d.log.Debug("rooms: release lease", "room", room, "err", err)
	}
}

func (d *Directory) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.mu.Lock()
	rooms := make(map[string]held, len(d.held))
	for room, h := range d.held {
		rooms[room] = h
	}
	d.mu.Unlock()
	for room, h := range rooms {
		d.release(ctx, room, h.rev)
	}
}

// Drain stops placing rooms here and waits until this server's rooms are
// empty or deadline passes; then it places each room still open on another
// ready server and calls Moved, so its peers go there. With no other ready
// server it returns at once: the rooms have nowhere to go.
func (d *Directory) Drain(ctx context.Context, deadline time.Duration) {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	d.announce()
	if !slices.ContainsFunc(d.Servers(), func(s Server) bool { return s.ID != d.opts.ID && s.State == StateReady }) {
		return
	}
	d.log.Info("draining: no new rooms here; waiting for this server's rooms to empty", "deadline", deadline)
	t := time.NewTimer(deadline)
	defer t.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for len(d.opts.Open()) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.moveAll(ctx)
			return
		case <-tick.C:
		}
	}
}

// moveAll places every room open here on another server and sends its
// peers there.
func (d *Directory) moveAll(ctx context.Context) {
	for _, room := range d.opts.Open() {
		d.mu.Lock()
		h := d.held[room]
		d.mu.Unlock()
		to := d.pick()
		if to.ID == d.opts.ID {
			return // no other server is ready any more
		}
		b, _ := json.Marshal(lease{Server: to.ID, URL: to.URL, At: d.now().UTC()})
		var err error
		if h.rev != 0 {
			_, err = d.kv.Update(ctx, key(room), b, h.rev)
		} else {
			_, err = d.kv.Put(ctx, key(room), b)
		}
		if err != nil {
			d.log.Warn("rooms: move room", "room", room, "err", err)
			continue
		}
		d.forget(room)
		d.log.Info("room moved to another server", "room", room, "server", to.ID)
		d.opts.Moved(room, to.URL)
	}
}

// Origins returns the public URLs of the live servers (this one included).
func (d *Directory) Origins() []string {
	out := []string{d.opts.URL}
	for _, s := range d.Servers() {
		if !slices.Contains(out, s.URL) {
			out = append(out, s.URL)
		}
	}
	return out
}

// Close stops listening.
func (d *Directory) Close() {
	for _, s := range d.subs {
		s.Unsubscribe()
	}
}
