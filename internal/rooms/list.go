package rooms

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Peer is a visible peer of a room, as a server lists it.
type Peer struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Role     string `json:"role"`
}

// listWait bounds how long a listing waits for each server.
const listWait = 2 * time.Second

func listSubject(id string) string {
	return "roomcast.servers." + hex.EncodeToString([]byte(id)) + ".rooms"
}

// serveList answers this server's rooms and their visible peers.
func (d *Directory) serveList(m *nats.Msg) {
	b, _ := json.Marshal(d.opts.Peers())
	m.Respond(b)
}

// Rooms returns every live server's rooms with their visible peers, by
// room name. A server that does not answer within listWait is left out
// (and logged).
func (d *Directory) Rooms(ctx context.Context) map[string][]Peer {
	servers := d.Servers()
	if !slices.ContainsFunc(servers, func(s Server) bool { return s.ID == d.opts.ID }) {
		servers = append(servers, Server{ID: d.opts.ID})
	}
	var mu sync.Mutex
	out := map[string][]Peer{}
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			var got map[string][]Peer
			if s.ID == d.opts.ID {
				got = d.opts.Peers()
			} else {
				rctx, cancel := context.WithTimeout(ctx, listWait)
				defer cancel()
				m, err := d.nc.RequestWithContext(rctx, listSubject(s.ID), nil)
				if err == nil {
					err = json.Unmarshal(m.Data, &got)
				}
				if err != nil {
					d.log.Warn("a room server did not list its rooms", "server", s.ID, "err", err)
					return
				}
			}
			mu.Lock()
			defer mu.Unlock()
			maps.Copy(out, got)
		})
	}
	wg.Wait()
	return out
}
