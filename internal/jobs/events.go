package jobs

import (
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Events returns the webhook events a state change from before to after
// means (IDs and times are filled in when they are published).
func Events(room string, before, after Record, now time.Time) []roomcast.Event {
	var out []roomcast.Event
	st := after.State
	ev := func(name string) roomcast.Event {
		return roomcast.Event{Event: name, Room: room, At: now, State: &st}
	}
	b, a := before.State, after.State
	if startedNow(b, a) {
		e := ev(roomcast.EventBeamStarted)
		if before.Job != nil {
			e.StartDelayMs = now.Sub(before.Job.CreatedAt).Milliseconds()
		}
		out = append(out, e)
	}
	sameJob := before.Job != nil && after.Job != nil && before.Job.ID == after.Job.ID
	if db, da := b.RTMP.Destinations, a.RTMP.Destinations; sameJob && len(da) != len(db) {
		out = append(out, destinationChange(ev, db, da)...)
	}
	for i, d := range a.RTMP.Destinations {
		// (After a removal the indices moved: nothing failed by it.)
		if len(a.RTMP.Destinations) < len(b.RTMP.Destinations) {
			break
		}
		if d.State == roomcast.DestinationFailed && (i >= len(b.RTMP.Destinations) || b.RTMP.Destinations[i].State != roomcast.DestinationFailed) {
			e := ev(roomcast.EventBeamDestinationFailed)
			e.Destination = &d
			if d.Error != nil {
				e.Error = &roomcast.Error{Code: string(rcerr.Destination), Message: d.Error.Message}
			}
			out = append(out, e)
		}
	}
	if h := a.Health; h != nil && h.Bad() && (b.Health == nil || b.Health.Audio != h.Audio || b.Health.Video != h.Video) {
		e := ev(roomcast.EventBeamWarning)
		e.Health = h
		out = append(out, e)
	}
	if before.Job != nil && after.Job == nil { // the job ended
		switch {
		case a.RTMP.Error != nil && streamingActive(b.RTMP), a.Recording.Browser.Error != nil && recordingActive(b.Recording.Browser):
			e := ev(roomcast.EventBeamFailed)
			e.Error = a.Recording.Browser.Error
			if e.Error == nil {
				e.Error = a.RTMP.Error
			}
			out = append(out, e)
		default:
			e := ev(roomcast.EventBeamStopped)
			e.Reason = a.Recording.Browser.Reason
			if e.Reason == "" {
				e.Reason = a.RTMP.Reason
			}
			out = append(out, e)
		}
	}
	return out
}

func startedNow(b, a roomcast.BeamState) bool {
	rtmp := b.RTMP.State == roomcast.StreamingStateStarting && a.RTMP.State == roomcast.StreamingStateStarted
	rec := b.Recording.Browser.State == roomcast.RecordingStateStarting && a.Recording.Browser.State == roomcast.RecordingStateStarted
	return rtmp || rec
}

// destinationChange is the event of a destination added to a running job
// (appended) or removed from it (the first place the lists differ).
func destinationChange(ev func(string) roomcast.Event, before, after []roomcast.Destination) []roomcast.Event {
	if len(after) == len(before)+1 {
		e := ev(roomcast.EventBeamDestinationAdded)
		e.Destination = &after[len(after)-1]
		return []roomcast.Event{e}
	}
	if len(after)+1 != len(before) {
		return nil
	}
	i := 0
	for i < len(after) && after[i].URL == before[i].URL {
		i++
	}
	e := ev(roomcast.EventBeamDestinationRemoved)
	d := before[i]
	e.Destination, e.Index = &d, &i
	return []roomcast.Event{e}
}
