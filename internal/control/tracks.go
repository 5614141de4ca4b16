package control

import (
	"context"
	"errors"

	"github.com/roomcast/roomcast/internal/beam"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// TrackRecorder is this server's SFU track recorder (trackrec.Manager).
type TrackRecorder interface {
	// Start begins recording room's tracks as session id.
	Start(room, id string) (recordingID string, err error)
	// Want finishes a local session of room whose id is not id.
	Want(room, id string)
	// Stop finishes room's local session and waits for its files.
	Stop(room string)
	// Rooms lists the rooms with a local session.
	Rooms() []string
}

// ReasonShutdown ends the track recordings of a server that shuts down.
const ReasonShutdown = "the server recording the tracks shut down"

// StopLocalTracks stops the track recordings this server runs (on
// shutdown), so the state says they stopped.
func (c *Controller) StopLocalTracks(ctx context.Context) {
	if c.opts.Tracks == nil {
		return
	}
	for _, roomName := range c.opts.Tracks.Rooms() {
		c.stopTracks(ctx, roomName, ReasonShutdown)
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
	rec, _, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		return beam.StartTracks(r, roomName, id, c.opts.ServerID, c.now())
	})
	if err != nil {
		return rec.State, err
	}
	if _, err := c.opts.Tracks.Start(roomName, id); err != nil {
		cause := rcerr.Wrap(rcerr.Internal, err, "could not start track recording: "+err.Error())
		rec, _, _ = c.store.Update(context.WithoutCancel(ctx), roomName, func(r beam.Record) (beam.Record, error) {
			return beam.FinishTracks(r, id, cause, "")
		})
		return rec.State, cause
	}
	rec, _, err = c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		return beam.TracksStarted(r, id, c.now())
	})
	if err != nil && !errors.Is(err, beam.ErrStaleJob) {
		return rec.State, rcerr.Wrap(rcerr.Unavailable, err, "could not write the room's state; try again")
	}
	return rec.State, nil
}

// StopTracks stops SFU track recording in room; with none running it
// changes nothing and the state's message says so. The server recording it
// finishes its files (this one at once, another when it sees the state).
func (c *Controller) StopTracks(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	return c.stopTracks(ctx, roomName, beam.ReasonRequest)
}

// RoomClosed ends room's track recording when it ran on this server (the
// automatic recording of --record-tracks ends with its room).
func (c *Controller) RoomClosed(ctx context.Context, roomName string) {
	rec, _, err := c.store.Get(ctx, roomName)
	if err == nil && rec.Tracks != nil && rec.Tracks.Server == c.opts.ServerID {
		c.stopTracks(ctx, roomName, beam.ReasonRoomClosed)
	}
}

func (c *Controller) stopTracks(ctx context.Context, roomName, reason string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	var stopped bool
	rec, _, err := c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
		var ok bool
		r, ok = beam.StopTracks(r, reason)
		if !ok {
			return r, errNothingToDo
		}
		stopped = true
		return r, nil
	})
	switch {
	case errors.Is(err, errNothingToDo):
		rec.State.Message = "track recording is not running"
		return rec.State, nil
	case err != nil:
		return rec.State, rcerr.Wrap(rcerr.Unavailable, err, "could not write the room's state; try again")
	}
	if stopped && c.opts.Tracks != nil {
		c.opts.Tracks.Stop(roomName)
	}
	return rec.State, nil
}

// syncTracks tells the local recorder which session room wants. A session
// this server started before it last restarted is gone: it is failed (its
// files were finished by trackrec's Recover).
func (c *Controller) syncTracks(ctx context.Context, roomName string, rec beam.Record) {
	if c.opts.Tracks == nil {
		return
	}
	id := ""
	if t := rec.Tracks; t != nil && t.Server == c.opts.ServerID {
		id = t.ID
		if t.Since.Before(c.started) {
			go c.store.Update(ctx, roomName, func(r beam.Record) (beam.Record, error) {
				return beam.FinishTracks(r, t.ID, rcerr.New(rcerr.Unavailable, "the server recording the tracks restarted; the files recorded until then are in the recording"), "")
			})
		}
	}
	c.opts.Tracks.Want(roomName, id)
}
