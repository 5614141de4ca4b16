package jobs

import (
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// StartTracks starts SFU track recording (recording.server). It is
// independent of streaming and the composite recording; only a track
// recording already running conflicts.
// The server the room's peers are on (server) must run it.
func StartTracks(r Record, room, id, server string, now time.Time) (Record, error) {
	if recordingActive(r.State.Recording.Server) {
		return r, rcerr.New(rcerr.Conflict, "track recording is already running in room %q; stop it first (track-recording/stop)", room)
	}
	r.State.Message = ""
	r.State.Recording.Server = roomcast.RecordingStatus{State: roomcast.RecordingStateStarting}
	r.Tracks = &JobRef{ID: id, CreatedAt: now, Target: server}
	return r, nil
}

// reportTracks applies a track recording job's progress to the state.
func reportTracks(r Record, p Progress, now time.Time) Record {
	if p.Started {
		startRecording(&r.State.Recording.Server, p.startedAt(now))
	}
	return r
}

// finishTracks ends the track recording as out says.
func finishTracks(st roomcast.BeamState, out Outcome) roomcast.BeamState {
	endRecording(&st.Recording.Server, out.public(), out.reason())
	return st
}

// StopTracks stops track recording for reason; ok is false when none runs
// (the state's message then says so).
func StopTracks(r Record, reason string) (out Record, ok bool) {
	if r.Tracks == nil {
		r.State.Message = "track recording is not running"
		return r, false
	}
	r, _ = Finish(r, KindTracks, r.Tracks.ID, Stopped(reason))
	r.State.Message = ""
	return r, true
}

// ReasonRoomClosed ends an automatic track recording when the room's last
// peer leaves.
const ReasonRoomClosed = "the room closed (its last peer left)"
