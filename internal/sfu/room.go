package sfu

import (
	"log/slog"
	"sync"

	"github.com/pion/webrtc/v4"
)

// PeerInfo is what other peers see of a peer.
type PeerInfo struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Role     string `json:"role"`
	Audio    bool   `json:"audio"`
	Video    bool   `json:"video"`
	Screen   bool   `json:"screen,omitempty"` // sharing a screen
}

// Room is the set of peers that exchange media, and the tracks they publish.
type Room struct {
	name string
	sfu  *SFU
	log  *slog.Logger

	mu     sync.Mutex
	peers  map[string]*Peer
	tracks map[string]*forwardTrack // by track id
}

func newRoom(name string, s *SFU, log *slog.Logger) *Room {
	return &Room{name: name, sfu: s, log: log, peers: map[string]*Peer{}, tracks: map[string]*forwardTrack{}}
}

// insert puts p in the room; the SFU calls it under its own lock.
func (r *Room) insert(p *Peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.peers[p.id] = p
}

// announce tells the visible peers about p and returns the peers p can see.
func (r *Room) announce(p *Peer) []PeerInfo {
	if !p.perms.Hidden {
		info := p.Info()
		r.each(p.id, func(o *Peer) { o.sig.PeerJoined(info) })
	}
	return r.visiblePeers(p.id)
}

// remove takes p and its tracks out of the room and tells the others.
func (r *Room) remove(p *Peer) {
	r.mu.Lock()
	if r.peers[p.id] != p {
		r.mu.Unlock()
		return
	}
	delete(r.peers, p.id)
	for id, t := range r.tracks {
		if t.publisher == p {
			delete(r.tracks, id)
		}
	}
	r.mu.Unlock()
	if !p.perms.Hidden {
		r.each(p.id, func(o *Peer) { o.sig.PeerLeft(p.id) })
	}
	r.each(p.id, func(o *Peer) { o.kick() })
	r.sfu.dropIfEmpty(r)
}

// addTrack starts forwarding t to every subscriber.
func (r *Room) addTrack(t *forwardTrack) {
	r.mu.Lock()
	if r.peers[t.publisher.id] != t.publisher {
		r.mu.Unlock()
		return // publisher already left
	}
	r.tracks[t.id] = t
	r.mu.Unlock()
	r.log.Info("track published", "peer", t.publisher.id, "track", t.id, "kind", t.kind.String(), "codec", t.local.Codec().MimeType)
	r.each(t.publisher.id, func(o *Peer) { o.kick() })
}

// removeTrack stops forwarding t.
func (r *Room) removeTrack(t *forwardTrack) {
	r.mu.Lock()
	if r.tracks[t.id] != t {
		r.mu.Unlock()
		return
	}
	delete(r.tracks, t.id)
	r.mu.Unlock()
	r.each(t.publisher.id, func(o *Peer) { o.kick() })
}

// tracksFor returns the tracks p should receive.
func (r *Room) tracksFor(p *Peer) map[string]*forwardTrack {
	out := map[string]*forwardTrack{}
	if !p.perms.Subscribe {
		return out
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, t := range r.tracks {
		if t.publisher != p && !(p.noVideo && t.kind == webrtc.RTPCodecTypeVideo) {
			out[id] = t
		}
	}
	return out
}

// peerUpdated tells the others that p's media flags changed.
func (r *Room) peerUpdated(p *Peer) {
	if p.perms.Hidden {
		return
	}
	info := p.Info()
	r.each(p.id, func(o *Peer) { o.sig.PeerUpdated(info) })
}

// each calls fn for every peer but except, outside the room lock.
func (r *Room) each(except string, fn func(*Peer)) {
	for _, p := range r.allPeers() {
		if p.id != except {
			fn(p)
		}
	}
}

func (r *Room) allTracks() []*forwardTrack {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*forwardTrack, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	return out
}

func (r *Room) allPeers() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	return out
}

// visiblePeers returns every non-hidden peer but except.
func (r *Room) visiblePeers(except string) []PeerInfo {
	out := []PeerInfo{}
	for _, p := range r.allPeers() {
		if p.id != except && !p.perms.Hidden {
			out = append(out, p.Info())
		}
	}
	return out
}

func (r *Room) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.peers) == 0
}
