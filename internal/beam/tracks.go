package beam

import (
	"fmt"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// TracksRef is the room's running SFU track recording: its session id, the
// server whose SFU records it (the one the room's peers are on) and that
// server's last heartbeat.
type TracksRef struct {
	ID        string    `json:"id"`
	Server    string    `json:"server"`
	Heartbeat time.Time `json:"heartbeat"`
}

// StartTracks starts SFU track recording (recording.server). It is
// independent of streaming and the composite recording; only a track
// recording already running conflicts.
func StartTracks(r Record, room, id, server string, now time.Time) (Record, error) {
	if recordingActive(r.State.Recording.Server) {
		return r, rcerr.New(rcerr.Conflict, "track recording is already running in room %q; stop it first (track-recording/stop)", room)
	}
	r.State.Message = ""
	r.State.Recording.Server = roomcast.RecordingStatus{State: roomcast.RecordingStateStarting}
	r.Tracks = &TracksRef{ID: id, Server: server, Heartbeat: now}
	return r, nil
}

// TracksStarted records that session id is recording.
func TracksStarted(r Record, id string, now time.Time) (Record, error) {
	if r.Tracks == nil || r.Tracks.ID != id {
		return r, ErrStaleJob
	}
	if s := &r.State.Recording.Server; s.State == roomcast.RecordingStateStarting {
		s.Running, s.State, s.StartedAt = true, roomcast.RecordingStateStarted, &now
	}
	return r, nil
}

// TracksHeartbeat records that session id's server is alive.
func TracksHeartbeat(r Record, id string, now time.Time) (Record, error) {
	if r.Tracks == nil || r.Tracks.ID != id {
		return r, ErrStaleJob
	}
	t := *r.Tracks
	t.Heartbeat = now
	r.Tracks = &t
	return r, nil
}

// TracksOverdue says why a track recording has to be failed by the control
// plane (its server stopped sending heartbeats), or "" if it is fine.
func TracksOverdue(r Record, now time.Time, silence time.Duration) string {
	if t := r.Tracks; t != nil && now.Sub(t.Heartbeat) > silence {
		return fmt.Sprintf("the server recording the tracks (%s) went silent %v ago (it stopped or restarted); the files recorded until then are kept",
			t.Server, now.Sub(t.Heartbeat).Round(time.Second))
	}
	return ""
}

// FinishTracks ends session id as out says.
func FinishTracks(r Record, id string, out Outcome) (Record, error) {
	if r.Tracks == nil || r.Tracks.ID != id {
		return r, ErrStaleJob
	}
	r.Tracks = nil
	s := &r.State.Recording.Server
	s.Running, s.State, s.Error, s.Reason = false, roomcast.RecordingStateStopped, nil, out.reason()
	if e := out.public(); e != nil {
		s.State, s.Error, s.Reason = roomcast.RecordingStateFailed, e, ""
	}
	return r, nil
}

// StopTracks stops track recording for reason; ok is false when none runs
// (the state's message then says so).
func StopTracks(r Record, reason string) (out Record, ok bool) {
	if r.Tracks == nil {
		r.State.Message = "track recording is not running"
		return r, false
	}
	r, _ = FinishTracks(r, r.Tracks.ID, Stopped(reason))
	r.State.Message = ""
	return r, true
}

// ReasonRoomClosed ends an automatic track recording when the room's last
// peer leaves.
const ReasonRoomClosed = "the room closed (its last peer left)"
