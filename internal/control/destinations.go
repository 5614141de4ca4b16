package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// changeSubject is where the worker running job takes changes to it.
func changeSubject(jobID string) string { return "roomcast.job." + jobID + ".change" }

// changeTimeout bounds the worker's answer to a change.
const changeTimeout = 10 * time.Second

// AddDestination streams room's running composite job to rawURL as well:
// the state gets the destination (starting) first, then the job's worker
// adds it; a worker that refuses or does not answer has it taken out again.
func (c *Controller) AddDestination(ctx context.Context, roomName, rawURL string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	if err := jobs.ValidateDestination(rawURL); err != nil {
		return roomcast.BeamState{}, err
	}
	rec, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		return jobs.AddDestination(r, roomName, rawURL, c.now().UTC())
	})
	if err != nil {
		return rec.State, err
	}
	index := len(rec.State.RTMP.Destinations) - 1
	if err := c.change(ctx, rec.Job, jobs.Change{AddURL: rawURL}); err != nil {
		c.undo(ctx, roomName, rec.Job.ID, func(r jobs.Record) (jobs.Record, error) { return jobs.RemoveDestination(r, roomName, index) })
		return roomcast.BeamState{}, err
	}
	return c.settled(ctx, roomName, rec)
}

// RemoveDestination stops streaming room's running composite job to the
// destination at index; the others and the recording go on.
func (c *Controller) RemoveDestination(ctx context.Context, roomName string, index int) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	before, _, err := c.store.Get(ctx, roomName)
	if err != nil {
		return before.State, err
	}
	if _, err := jobs.RemoveDestination(before, roomName, index); err != nil {
		return before.State, err
	}
	// The worker first: a destination it could not stop must stay listed.
	if err := c.change(ctx, before.Job, jobs.Change{Remove: &index}); err != nil {
		return before.State, err
	}
	rec, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		if r.Job == nil || r.Job.ID != before.Job.ID {
			return r, jobs.ErrStaleJob
		}
		return jobs.RemoveDestination(r, roomName, index)
	})
	if errors.Is(err, jobs.ErrStaleJob) {
		return rec.State, rcerr.New(rcerr.Conflict, "the job in room %q ended meanwhile", roomName)
	}
	return rec.State, err
}

// change asks the worker running job to apply ch and waits for its answer.
func (c *Controller) change(ctx context.Context, job *jobs.JobRef, ch jobs.Change) error {
	if job.Worker == "" {
		return rcerr.New(rcerr.Unavailable, "the job is still starting (no worker runs it yet); try again in a moment")
	}
	b, _ := json.Marshal(ch)
	rctx, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(rctx, changeSubject(job.ID), b)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
		return rcerr.Wrap(rcerr.Unavailable, err, "the job's worker did not answer; try again")
	}
	if err != nil {
		return rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("control: change job: %w", err), "could not reach the job's worker; try again")
	}
	return decodeChangeAnswer(m.Data)
}

// changeAnswer is a worker's answer to a change: empty code, done.
type changeAnswer struct {
	Code    rcerr.Code `json:"code,omitempty"`
	Message string     `json:"message,omitempty"`
}

func decodeChangeAnswer(b []byte) error {
	var a changeAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("control: change answer: %w", err)
	}
	if a.Code != "" {
		return rcerr.New(a.Code, "%s", a.Message)
	}
	return nil
}

// undo reverts a state change whose worker part failed, if the job still
// runs.
func (c *Controller) undo(ctx context.Context, roomName, jobID string, fn func(jobs.Record) (jobs.Record, error)) {
	_, _, err := c.store.Update(context.WithoutCancel(ctx), roomName, func(r jobs.Record) (jobs.Record, error) {
		if r.Job == nil || r.Job.ID != jobID {
			return r, jobs.ErrStaleJob
		}
		return fn(r)
	})
	if err != nil && !errors.Is(err, jobs.ErrStaleJob) {
		c.log.Warn("could not undo a destination change in the state", "room", roomName, "err", err)
	}
}

// settled returns the state once the worker has reported the change (its
// list of destinations as long as the state's), or as it is after a short
// wait.
func (c *Controller) settled(ctx context.Context, roomName string, rec jobs.Record) (roomcast.BeamState, error) {
	n := len(rec.State.RTMP.Destinations)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if got, err := c.store.Await(wctx, roomName, func(r jobs.Record) bool {
		return r.Job == nil || len(r.State.RTMP.Destinations) != n || r.State.RTMP.Destinations[n-1].State != roomcast.DestinationStarting
	}); err == nil {
		return got.State, nil
	}
	return rec.State, nil
}

// thumbnailSubject is where the worker running job answers with a JPEG of
// its output; an error has its code in the errorCodeHeader.
func thumbnailSubject(jobID string) string { return "roomcast.job." + jobID + ".thumbnail" }

const errorCodeHeader = "Roomcast-Error-Code"

// Thumbnail returns a JPEG of the output of room's running composite job
// (refreshed at each keyframe, every 2 s); not_found when none runs or it
// has no picture yet.
func (c *Controller) Thumbnail(ctx context.Context, roomName string) ([]byte, error) {
	if err := room.ValidateName(roomName); err != nil {
		return nil, err
	}
	rec, _, err := c.store.Get(ctx, roomName)
	if err != nil {
		return nil, err
	}
	if rec.Job == nil || rec.Job.Worker == "" || rec.Running() == "" {
		return nil, rcerr.New(rcerr.NotFound, "no streaming or recording with a picture runs in room %q", roomName)
	}
	if rec.State.AudioOnly {
		return nil, rcerr.New(rcerr.NotFound, "room %q's job is audio-only: it has no picture", roomName)
	}
	rctx, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	m, err := c.nc.RequestWithContext(rctx, thumbnailSubject(rec.Job.ID), nil)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, rcerr.New(rcerr.NotFound, "no streaming or recording with a picture runs in room %q", roomName)
	}
	if err != nil {
		return nil, rcerr.Wrap(rcerr.Unavailable, fmt.Errorf("control: thumbnail: %w", err), "the job's worker did not answer; try again")
	}
	if code := m.Header.Get(errorCodeHeader); code != "" {
		return nil, rcerr.New(rcerr.Code(code), "%s", m.Data)
	}
	return m.Data, nil
}

// SetLayout changes the layout of room's running composite job: the state
// changes, and the bot's page, which gets every state change as a peer of
// the room, arranges its tiles anew.
func (c *Controller) SetLayout(ctx context.Context, roomName string, l roomcast.Layout) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	if err := jobs.ValidateLayout(l); err != nil {
		return roomcast.BeamState{}, err
	}
	rec, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		return jobs.SetLayout(r, roomName, l)
	})
	return rec.State, err
}
