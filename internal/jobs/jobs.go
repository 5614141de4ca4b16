package jobs

import (
	"fmt"
	"time"
)

// Kind is what a job does. Both kinds go through one life: queued for the
// process that must run it, claimed by a worker, kept alive by its
// heartbeats and reports, finished with an Outcome, failed by the control
// plane when nobody takes it or its worker goes silent.
type Kind string

const (
	// KindComposite is the bot: streaming and the composite recording,
	// run by any worker.
	KindComposite Kind = "composite"
	// KindTracks is SFU track recording, run by the server whose SFU the
	// room's peers are on.
	KindTracks Kind = "tracks"
)

// slot is the record's place for kind k's job.
func (r *Record) slot(k Kind) **JobRef {
	if k == KindTracks {
		return &r.Tracks
	}
	return &r.Job
}

// Ref returns the room's job of kind k, nil when none runs.
func (r Record) Ref(k Kind) *JobRef { return *r.slot(k) }

// current returns the room's job of kind k if it is id.
func (r Record) current(k Kind, id string) (JobRef, bool) {
	j := r.Ref(k)
	if j == nil || j.ID != id {
		return JobRef{}, false
	}
	return *j, true
}

// Claim records that worker took job id of kind k.
func Claim(r Record, k Kind, id, worker string, now time.Time) (Record, error) {
	j, ok := r.current(k, id)
	if !ok {
		return r, ErrStaleJob
	}
	j.Worker, j.Heartbeat = worker, now
	*r.slot(k) = &j
	return r, nil
}

// Report applies a worker's progress on job id of kind k (and counts as a
// heartbeat).
func Report(r Record, k Kind, id string, p Progress, now time.Time) (Record, error) {
	j, ok := r.current(k, id)
	if !ok {
		return r, ErrStaleJob
	}
	j.Heartbeat = now
	*r.slot(k) = &j
	if k == KindTracks {
		return reportTracks(r, p, now), nil
	}
	return reportComposite(r, p, now), nil
}

// Finish ends job id of kind k as out says; the job reference is cleared.
func Finish(r Record, k Kind, id string, out Outcome) (Record, error) {
	if _, ok := r.current(k, id); !ok {
		return r, ErrStaleJob
	}
	if k == KindTracks {
		r.State = finishTracks(r.State, out)
	} else {
		r.State = finishState(r.State, out)
	}
	*r.slot(k) = nil
	return r, nil
}

// Overdue says why the room's job of kind k has to be failed by the
// control plane, or "" if it is fine: nobody took it within take, or its
// worker has been silent for longer than silence.
func Overdue(r Record, k Kind, now time.Time, take, silence time.Duration) string {
	j := r.Ref(k)
	switch {
	case j == nil:
		return ""
	case j.Worker == "" && now.Sub(j.CreatedAt) > take:
		if k == KindTracks {
			return fmt.Sprintf("the server the room's peers are on (%s) did not start recording the tracks within %v", j.Target, take)
		}
		return fmt.Sprintf("worker %s accepted the job but did not take it within %v (it stopped?)", j.Target, take)
	case j.Worker != "" && now.Sub(j.Heartbeat) > silence:
		if k == KindTracks {
			return fmt.Sprintf("the server recording the tracks (%s) went silent %v ago (it stopped or restarted); the files recorded until then are kept",
				j.Worker, now.Sub(j.Heartbeat).Round(time.Second))
		}
		return fmt.Sprintf("worker %s stopped sending heartbeats (last one %v ago); the job was lost", j.Worker, now.Sub(j.Heartbeat).Round(time.Second))
	}
	return ""
}

// Stopping is what a stop of kind k's job writes when its worker could not
// be asked (or did not answer): the job ends on request in the state. ok is
// false when nothing runs (the state's message says so).
func Stopping(r Record, k Kind, reason string) (Record, bool) {
	if k == KindTracks {
		return StopTracks(r, reason)
	}
	return Stop(r)
}
