package signal

import (
	"context"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Beams starts and stops streaming and recording; control.Controller is one.
type Beams interface {
	Start(ctx context.Context, room string, p roomcast.StartParams) (roomcast.BeamState, error)
	Stop(ctx context.Context, room string) (roomcast.BeamState, error)
	State(ctx context.Context, room string) (roomcast.BeamState, uint64, error)
	StartTracks(ctx context.Context, room string) (roomcast.BeamState, error)
	StopTracks(ctx context.Context, room string) (roomcast.BeamState, error)
	SetLayout(ctx context.Context, room string, l roomcast.Layout) (roomcast.BeamState, error)
	AddDestination(ctx context.Context, room, rawURL string) (roomcast.BeamState, error)
	RemoveDestination(ctx context.Context, room string, index int) (roomcast.BeamState, error)
}

type stateMsg struct {
	Type string             `json:"type"`
	Beam roomcast.BeamState `json:"beam"`
	Rev  uint64             `json:"rev"`
}

// beamSide is the part of the handler that lets peers start and stop
// streaming and recording and pushes the room's state to every peer.
type beamSide struct {
	beams    Beams
	requests sync.WaitGroup // starts and stops in flight
}

// PushState sends a room's new state to its peers on this server.
func (h *Handler) PushState(roomName string, st roomcast.BeamState, rev uint64) {
	if h.beam == nil {
		return
	}
	for _, c := range h.members.in(roomName) {
		c.sendState(st, rev)
	}
}

// sendCurrent sends c the room's current state. The session registered c
// for pushes first, so no change is missed; revisions drop a stale
// duplicate.
func (b *beamSide) sendCurrent(ctx context.Context, roomName string, c *conn) {
	if st, rev, err := b.beams.State(ctx, roomName); err == nil {
		c.sendState(st, rev)
	} else {
		c.log.Warn("could not read beam state for a new peer", "err", err)
	}
}

// sendState queues st unless the client already has a newer one.
func (c *conn) sendState(st roomcast.BeamState, rev uint64) {
	c.mu.Lock()
	if rev != 0 && rev <= c.stateRev {
		c.mu.Unlock()
		return
	}
	c.stateRev = rev
	c.mu.Unlock()
	c.send(stateMsg{Type: "state", Beam: st, Rev: rev})
}

// request runs a peer's start or stop off the read loop (a stop waits
// for the worker) and answers with ok or error.
func (b *beamSide) request(ctx context.Context, c *conn, roomName string, role room.Role, m *ClientMessage) {
	if !role.Permissions().StartStop {
		c.sendError(m.ID, rcerr.New(rcerr.PermissionDenied, "role %q may not start or stop streaming and recording (host may)", role))
		return
	}
	// The request outlives a peer that leaves meanwhile: a start is never
	// cut between writing the state and queueing the job.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	b.requests.Go(func() {
		defer cancel()
		var err error
		switch m.Type {
		case TypeBeamStart:
			_, err = b.beams.Start(ctx, roomName, *m.Params)
		case TypeBeamStop:
			_, err = b.beams.Stop(ctx, roomName)
		case TypeTracksStart:
			_, err = b.beams.StartTracks(ctx, roomName)
		case TypeTracksStop:
			_, err = b.beams.StopTracks(ctx, roomName)
		case TypeBeamLayout:
			_, err = b.beams.SetLayout(ctx, roomName, roomcast.Layout(m.Layout))
		case TypeBeamAddURL:
			_, err = b.beams.AddDestination(ctx, roomName, m.URL)
		case TypeBeamRemoveURL:
			_, err = b.beams.RemoveDestination(ctx, roomName, *m.Index)
		}
		c.answer(m.ID, err)
	})
}

// Wait waits for the starts and stops peers asked for that are still
// running (each is bounded by a minute); call it on shutdown, after the
// HTTP server stopped taking requests.
func (h *Handler) Wait() {
	if h.beam != nil {
		h.beam.requests.Wait()
	}
}
