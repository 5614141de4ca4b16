package control

import (
	"context"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// ReasonShutdown ends the track recordings of a server that shuts down.
const ReasonShutdown = "the server recording the tracks shut down"

// StartTracks starts SFU track recording in room on the SFU of the server
// the room lives on (the one its peers are connected to): a job of kind
// tracks, queued for that server's track recording worker.
func (c *Controller) StartTracks(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	if !c.opts.RecordsTracks {
		return roomcast.BeamState{}, rcerr.New(rcerr.Unavailable, "track recording is not available on this server")
	}
	server := c.opts.ServerID
	if c.opts.RoomServer != nil {
		var err error
		if server, err = c.opts.RoomServer(ctx, roomName); err != nil {
			return roomcast.BeamState{}, err
		}
	}
	job := jobs.Job{ID: newID(), Kind: jobs.KindTracks, Room: roomName, CreatedAt: c.now().UTC()}
	rec, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		return jobs.StartTracks(r, roomName, job.ID, server, job.CreatedAt)
	})
	if err != nil {
		return rec.State, err
	}
	if err := c.enqueue(ctx, job, server); err != nil {
		// Nothing may stay half-started: the state goes back to failed.
		cause := rcerr.Wrap(rcerr.Unavailable, err, "could not queue track recording (NATS unavailable); try again")
		c.finish(context.WithoutCancel(ctx), roomName, jobs.KindTracks, job.ID, jobs.Failed(cause))
		return roomcast.BeamState{}, cause
	}
	c.log.Info("track recording queued", "job", job)
	// The server's own worker takes it at once: answer with the recording
	// started (or failed), as a caller expects of this server's SFU; a
	// worker slower than tracksStartWait leaves it starting.
	wctx, cancel := context.WithTimeout(ctx, tracksStartWait)
	defer cancel()
	if got, err := c.store.Await(wctx, roomName, func(r jobs.Record) bool {
		j := r.Tracks
		return j == nil || j.ID != job.ID || r.State.Recording.Server.State != roomcast.RecordingStateStarting
	}); err == nil {
		return got.State, nil
	}
	return rec.State, nil
}

// tracksStartWait is how long StartTracks waits for the recording to start.
const tracksStartWait = 5 * time.Second

// StopTracks stops SFU track recording in room; with none running it
// changes nothing and the state's message says so. The server recording it
// finishes its files, whichever server is asked.
func (c *Controller) StopTracks(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	return c.stopJob(ctx, roomName, jobs.KindTracks, "")
}

// RoomClosed ends room's track recording because the room closed (the
// automatic recording of --record-tracks ends with its room).
func (c *Controller) RoomClosed(ctx context.Context, roomName string) {
	if _, err := c.stopJob(ctx, roomName, jobs.KindTracks, jobs.ReasonRoomClosed); err != nil {
		c.log.Warn("stop track recording of a closed room", "room", roomName, "err", err)
	}
}
