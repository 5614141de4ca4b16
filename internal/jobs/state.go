package jobs

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/urlpolicy"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Record is what the state store keeps per room: the state every peer sees
// and the jobs that run, at most one of each kind.
type Record struct {
	State  roomcast.BeamState `json:"state"`
	Job    *JobRef            `json:"job,omitempty"`    // the composite job (streaming, composite recording)
	Tracks *JobRef            `json:"tracks,omitempty"` // the track recording job
	// Outbox holds the webhook events of the transitions that wrote this
	// record until they are queued for delivery: written in the same
	// compare-and-swap as the change, so a process dying in between loses
	// none (control.Store flushes them).
	Outbox []roomcast.Event `json:"outbox,omitempty"`
}

// JobRef is a running job as the control plane tracks it.
type JobRef struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Target    string    `json:"target,omitempty"` // the process that must run it; empty: any worker
	Worker    string    `json:"worker,omitempty"` // empty until a worker claims it
	Heartbeat time.Time `json:"heartbeat,omitzero"`
}

// Job is what a worker runs. Params carry the real stream keys and the
// meeting URL's token: a Job travels only between control plane and worker
// and is never logged or returned (LogValue redacts it).
type Job struct {
	ID     string               `json:"id"`
	Kind   Kind                 `json:"kind,omitempty"` // empty: composite (jobs queued before kinds)
	Room   string               `json:"room"`
	Params roomcast.StartParams `json:"params"`
	// URLs is the server's URL policy: the worker's browser loads nothing
	// it refuses (the meeting URL, its redirects, frames, connections).
	URLs      urlpolicy.Policy `json:"urls"`
	CreatedAt time.Time        `json:"createdAt"`
}

// LogValue shows a job without its secrets.
func (j Job) LogValue() slog.Value {
	dests := make([]string, len(j.Params.RTMPURLs))
	for i, u := range j.Params.RTMPURLs {
		dests[i] = logging.RedactStreamURL(u)
	}
	return slog.GroupValue(slog.String("id", j.ID), slog.String("kind", string(j.Kind)), slog.String("room", j.Room),
		slog.Any("rtmp", dests), slog.Bool("record", j.Params.Record))
}

// ErrStaleJob means a worker reported on a job the room no longer runs (it
// was stopped, failed or replaced): the worker should stop it.
var ErrStaleJob = errors.New("jobs: job is no longer the room's current job")

// Running says what a record has starting or running, for messages: "",
// "streaming", "recording" or "streaming and recording".
func (r Record) Running() string {
	var parts []string
	if streamingActive(r.State.RTMP) {
		parts = append(parts, "streaming")
	}
	if recordingActive(r.State.Recording.Browser) {
		parts = append(parts, "recording")
	}
	return strings.Join(parts, " and ")
}

// Start applies the seed's start rules to r for a validated p: a conflict if
// streaming or recording runs, else both set to starting as asked.
func Start(r Record, room string, p roomcast.StartParams, jobID, worker string, now time.Time) (Record, error) {
	if what := r.Running(); what != "" {
		return r, rcerr.New(rcerr.Conflict, "%s is already running in room %q; stop it first (beam/stop), then start streaming and recording together if you want both", what, room)
	}
	st := r.State
	st.Message = ""
	if len(p.RTMPURLs) > 0 {
		dests := make([]roomcast.Destination, len(p.RTMPURLs))
		for i, u := range p.RTMPURLs {
			dests[i] = roomcast.Destination{URL: logging.RedactStreamURL(u), State: roomcast.DestinationStarting}
		}
		st.RTMP = roomcast.RTMPState{State: roomcast.StreamingStateStarting, Destinations: dests}
	} else {
		st.RTMP = roomcast.RTMPState{State: roomcast.StreamingStateNone, Destinations: []roomcast.Destination{}}
	}
	if p.Record {
		st.Recording.Browser = roomcast.RecordingStatus{State: roomcast.RecordingStateStarting}
	} else {
		st.Recording.Browser = roomcast.RecordingStatus{State: roomcast.RecordingStateNone}
	}
	st.Layout, st.AudioOnly = p.Layout, p.AudioOnly
	if st.Layout == "" && !p.AudioOnly {
		st.Layout = roomcast.LayoutGrid
	}
	r.State, r.Job = st, &JobRef{ID: jobID, CreatedAt: now, Target: worker}
	return r, nil
}

// Progress is what a worker reports while a job runs.
type Progress struct {
	// Started: media flows to the outputs (streaming and/or recording).
	Started bool `json:"started"`
	// StartedAt is when the outputs' first picture was captured (the
	// recording's first frame); nil: the time of the report.
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// Destinations is the state of each RTMP URL, in the job's order, URLs
	// redacted. Nil leaves them unchanged.
	Destinations []roomcast.Destination `json:"destinations,omitempty"`
	// RTMPError: every destination has failed; streaming is over while the
	// recording may go on.
	RTMPError *roomcast.Error `json:"rtmpError,omitempty"`
	// RecordingError: the recording could not be written further; what was
	// written is kept while streaming may go on.
	RecordingError *roomcast.Error `json:"recordingError,omitempty"`
	// Health is the live monitor's view of the output; nil leaves it as is.
	Health *roomcast.Health `json:"health,omitempty"`
}

// reportComposite applies a composite job's progress to the state.
func reportComposite(r Record, p Progress, now time.Time) Record {
	st := r.State
	if p.Destinations != nil && len(p.Destinations) == len(st.RTMP.Destinations) {
		st.RTMP.Destinations = append([]roomcast.Destination(nil), p.Destinations...)
	}
	if p.Started {
		at := p.startedAt(now)
		if st.RTMP.State == roomcast.StreamingStateStarting {
			st.RTMP.Running, st.RTMP.State, st.RTMP.StartedAt = true, roomcast.StreamingStateStarted, &at
		}
		startRecording(&st.Recording.Browser, at)
	}
	if p.Health != nil {
		h := *p.Health
		st.Health = &h
	}
	if p.RTMPError != nil && streamingActive(st.RTMP) {
		st.RTMP.Running, st.RTMP.State, st.RTMP.Error = false, roomcast.StreamingStateFailed, p.RTMPError
	}
	if b := &st.Recording.Browser; p.RecordingError != nil && recordingActive(*b) {
		endRecording(b, p.RecordingError, "")
	}
	r.State = st
	return r
}

// Stop is a stop request: finishes whatever runs. ok is false when nothing
// was running (the state then carries a message saying so).
func Stop(r Record) (out Record, ok bool) {
	if r.Running() == "" && r.Job == nil {
		r.State.Message = "nothing is running"
		return r, false
	}
	r.State = finishState(r.State, Stopped(ReasonRequest))
	r.Job = nil
	return r, true
}

func finishState(st roomcast.BeamState, out Outcome) roomcast.BeamState {
	e, reason := out.public(), out.reason()
	st.Message, st.Health, st.Layout, st.AudioOnly = "", nil, "", false
	if streamingActive(st.RTMP) {
		st.RTMP.Running = false
		st.RTMP.State, st.RTMP.Error, st.RTMP.Reason = roomcast.StreamingStateStopped, nil, reason
		if e != nil {
			st.RTMP.State, st.RTMP.Error, st.RTMP.Reason = roomcast.StreamingStateFailed, e, ""
		}
		dests := make([]roomcast.Destination, len(st.RTMP.Destinations))
		for i, d := range st.RTMP.Destinations {
			if d.State != roomcast.DestinationFailed {
				d.State = roomcast.DestinationStopped
			}
			dests[i] = d
		}
		st.RTMP.Destinations = dests
	}
	if b := &st.Recording.Browser; recordingActive(*b) {
		endRecording(b, e, reason)
	}
	return st
}

// streamingActive and recordingActive say whether a job is starting or
// running. `running` itself is true only once it started (with startedAt),
// the seed's meaning: "if running, log startedAt".
func streamingActive(s roomcast.RTMPState) bool {
	return s.State == roomcast.StreamingStateStarting || s.State == roomcast.StreamingStateStarted
}

func recordingActive(s roomcast.RecordingStatus) bool {
	return s.State == roomcast.RecordingStateStarting || s.State == roomcast.RecordingStateStarted
}

// Stop reasons shown in the state when a job ends without failing.
const (
	ReasonRequest = "stopped on request"
)

// startedAt is when the outputs started: StartedAt, else now (the report's
// time).
func (p Progress) startedAt(now time.Time) time.Time {
	if p.StartedAt != nil {
		return *p.StartedAt
	}
	return now
}

// startRecording marks a starting recording started at at.
func startRecording(s *roomcast.RecordingStatus, at time.Time) {
	if s.State == roomcast.RecordingStateStarting {
		s.Running, s.State, s.StartedAt = true, roomcast.RecordingStateStarted, &at
	}
}

// endRecording ends a recording: failed with e when set, else stopped for
// reason.
func endRecording(s *roomcast.RecordingStatus, e *roomcast.Error, reason string) {
	s.Running, s.State, s.Error, s.Reason = false, roomcast.RecordingStateStopped, nil, reason
	if e != nil {
		s.State, s.Error, s.Reason = roomcast.RecordingStateFailed, e, ""
	}
}
