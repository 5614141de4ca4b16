package jobs

import (
	"slices"
	"time"

	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/streamurl"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// ReasonDestinationsRemoved ends streaming whose every destination was
// removed while the recording goes on.
const ReasonDestinationsRemoved = "every destination was removed"

// Change is a change to a running composite job's destinations, sent to
// its worker. AddURL is the raw URL: it travels only to the worker.
type Change struct {
	AddURL string `json:"addURL,omitempty"` // a destination to stream to as well
	Remove *int   `json:"remove,omitempty"` // the index of a destination to stop streaming to
}

// ValidateDestination checks an added destination as a start's rtmpURLs
// are checked; the error names the field url.
func ValidateDestination(raw string) error {
	if _, err := streamurl.Parse(raw); err != nil {
		return invalid("url: %v (%s)", err, streamurl.Redact(raw))
	}
	return nil
}

// running is the room's composite job when streaming or recording runs.
func running(r Record, room string) (*JobRef, error) {
	if r.Job == nil || r.Running() == "" {
		return nil, rcerr.New(rcerr.Conflict, "nothing is streaming or recording in room %q; start streaming (beam/start with rtmpURLs) instead", room)
	}
	return r.Job, nil
}

// AddDestination adds a destination (its URL redacted) to r's running
// composite job: at most MaxDestinations in all. A job that was only
// recording streams from now on.
func AddDestination(r Record, room, raw string, now time.Time) (Record, error) {
	if _, err := running(r, room); err != nil {
		return r, err
	}
	st := r.State
	if n := len(st.RTMP.Destinations); n >= MaxDestinations {
		return r, invalid("url: room %q already streams to %d destinations, the most there may be; remove one first", room, n)
	}
	st.RTMP.Destinations = append(slices.Clone(st.RTMP.Destinations),
		roomcast.Destination{URL: logging.RedactStreamURL(raw), State: roomcast.DestinationStarting})
	if !streamingActive(st.RTMP) {
		// Streaming begins now: started at once when the job's media flows.
		st.RTMP.Error, st.RTMP.Reason = nil, ""
		st.RTMP.State, st.RTMP.Running, st.RTMP.StartedAt = roomcast.StreamingStateStarting, false, nil
		if st.Recording.Browser.State == roomcast.RecordingStateStarted {
			at := now
			st.RTMP.State, st.RTMP.Running, st.RTMP.StartedAt = roomcast.StreamingStateStarted, true, &at
		}
	}
	r.State = st
	return r, nil
}

// RemoveDestination removes destination index from r's running composite
// job. The last one may go only while the job records (streaming then
// stops); a job that only streams is stopped instead.
func RemoveDestination(r Record, room string, index int) (Record, error) {
	if _, err := running(r, room); err != nil {
		return r, err
	}
	st := r.State
	n := len(st.RTMP.Destinations)
	if index < 0 || index >= n {
		return r, rcerr.New(rcerr.NotFound, "room %q has no destination %d (it has %d, numbered from 0)", room, index, n)
	}
	if n == 1 && !recordingActive(st.Recording.Browser) {
		return r, rcerr.New(rcerr.Conflict, "destination %d is the last one and room %q only streams; stop instead (beam/stop)", index, room)
	}
	st.RTMP.Destinations = slices.Delete(slices.Clone(st.RTMP.Destinations), index, index+1)
	if len(st.RTMP.Destinations) == 0 {
		st.RTMP.Running, st.RTMP.State, st.RTMP.Error, st.RTMP.Reason = false, roomcast.StreamingStateStopped, nil, ReasonDestinationsRemoved
	}
	r.State = st
	return r, nil
}

// SetLayout changes the layout of r's running composite job.
func SetLayout(r Record, room string, l roomcast.Layout) (Record, error) {
	if _, err := running(r, room); err != nil {
		return r, err
	}
	if r.State.AudioOnly {
		return r, rcerr.New(rcerr.Conflict, "room %q's job is audio-only: it has no picture to lay out", room)
	}
	r.State.Layout = l
	return r, nil
}
