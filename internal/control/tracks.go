package control

import (
	"context"
	"errors"
	"time"

	"github.com/roomcast/roomcast/internal/beam"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// TrackRecorder is this server's SFU track recorder (trackrec.Manager).
type TrackRecorder interface {
	// Start begins recording room's tracks as session id, which state
	// revision rev started.
	Start(room, id string, rev uint64) (recordingID string, err error)
	// Want finishes a local session of room whose id is not id, unless a
	// revision after rev started it.
	Want(room, id string, rev uint64)
	// Stop finishes room's local session id, if any, and waits for its files.
	Stop(room, id string)
	// Sessions lists the local sessions: room → session id.
	Sessions() map[string]string
}

// tracksHeartbeat is how often a server tells the state its track
// recordings are alive (Options.Silence fails them when it stops).
const tracksHeartbeat = 2 * time.Second

// ReasonShutdown ends the track recordings of a server that shuts down.
const ReasonShutdown = "the server recording the tracks shut down"

// StopLocalTracks stops the track recordings this server runs (on
// shutdown), so the state says they stopped.
func (c *Controller) StopLocalTracks(ctx context.Context) {
	if c.opts.Tracks == nil {
		return
	}
	for roomName, id := range c.opts.Tracks.Sessions() {
		c.stopTracks(ctx, roomName, id, ReasonShutdown)
	}
}

// heartbeatTracks keeps this server's track recordings alive in the state
// until ctx ends.
func (c *Controller) heartbeatTracks(ctx context.Context) {
	if c.opts.Tracks == nil {
		return
	}
	t := time.NewTicker(tracksHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for roomName, id := range c.opts.Tracks.Sessions() {
			_, _, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
				return beam.TracksHeartbeat(r, id, c.now())
			})
			switch {
			case errors.Is(err, beam.ErrStaleJob):
				// The state no longer wants this session (it was failed as
				// silent, or replaced): stop recording what nobody sees.
				c.bg.Go(func() { c.opts.Tracks.Stop(roomName, id) })
			case err != nil && ctx.Err() == nil:
				c.log.Warn("track recording heartbeat", "room", roomName, "err", err)
			}
		}
	}
}

// failSilentTracks re-reads the record and fails its track recording if its
// server is still silent.
func (c *Controller) failSilentTracks(ctx context.Context, roomName string) {
	var reason string
	_, _, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		reason = beam.TracksOverdue(r, c.now(), c.opts.Silence)
		if reason == "" {
			return r, errNothingToDo
		}
		return beam.FinishTracks(r, r.Tracks.ID, beam.Failed(rcerr.New(rcerr.Unavailable, "%s", reason)))
	})
	if err == nil {
		c.log.Warn("track recording failed", "room", roomName, "reason", reason)
	}
}

// StartTracks starts SFU track recording in room on this server's SFU (the
// one the room's peers are connected to).
func (c *Controller) StartTracks(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	if c.opts.Tracks == nil {
		return roomcast.BeamState{}, rcerr.New(rcerr.Unavailable, "track recording is not available on this server")
	}
	id := newID()
	rec, rev, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		return beam.StartTracks(r, roomName, id, c.opts.ServerID, c.now())
	})
	if err != nil {
		return rec.State, err
	}
	// From here the state says starting: finish the transition even if the
	// caller goes away.
	ctx = context.WithoutCancel(ctx)
	if _, err := c.opts.Tracks.Start(roomName, id, rev); err != nil {
		cause := rcerr.Wrap(rcerr.Internal, err, "could not start track recording")
		c.log.Error("start track recording", "room", roomName, "err", err)
		rec, _, _ = c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
			return beam.FinishTracks(r, id, beam.Failed(cause))
		})
		return rec.State, cause
	}
	rec, _, err = c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		return beam.TracksStarted(r, id, c.now())
	})
	switch {
	case errors.Is(err, beam.ErrStaleJob):
		c.opts.Tracks.Stop(roomName, id) // stopped meanwhile
	case err != nil:
		return rec.State, err
	}
	return rec.State, nil
}

// StopTracks stops SFU track recording in room; with none running it
// changes nothing and the state's message says so. The server recording it
// finishes its files (this one at once, another when it sees the state).
func (c *Controller) StopTracks(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	return c.stopTracks(ctx, roomName, "", beam.ReasonRequest)
}

// RoomClosed ends room's track recording when it ran on this server (the
// automatic recording of --record-tracks ends with its room).
func (c *Controller) RoomClosed(ctx context.Context, roomName string) {
	rec, _, err := c.store.Get(ctx, roomName)
	if err == nil && rec.Tracks != nil && rec.Tracks.Server == c.opts.ServerID {
		c.stopTracks(ctx, roomName, rec.Tracks.ID, beam.ReasonRoomClosed)
	}
}

// stopTracks stops session id ("" for whichever runs) for reason.
func (c *Controller) stopTracks(ctx context.Context, roomName, id, reason string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	var stopped string
	rec, _, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		if r.Tracks == nil || (id != "" && r.Tracks.ID != id) {
			return r, errNothingToDo // none runs, or a newer one: not ours to stop
		}
		stopped = r.Tracks.ID
		r, _ = beam.StopTracks(r, reason)
		return r, nil
	})
	switch {
	case errors.Is(err, errNothingToDo):
		rec.State.Message = "track recording is not running"
		return rec.State, nil
	case err != nil:
		return rec.State, err
	}
	if stopped != "" && c.opts.Tracks != nil {
		c.opts.Tracks.Stop(roomName, stopped)
	}
	return rec.State, nil
}

// syncTracks tells the local recorder which session room wants as of
// state revision rev.
func (c *Controller) syncTracks(roomName string, rec beam.Record, rev uint64) {
	if c.opts.Tracks == nil {
		return
	}
	id := ""
	if t := rec.Tracks; t != nil && t.Server == c.opts.ServerID {
		id = t.ID
	}
	c.opts.Tracks.Want(roomName, id, rev)
}
