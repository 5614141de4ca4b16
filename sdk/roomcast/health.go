package roomcast

import "time"

// AudioHealth says whether the composite output carries the room's sound.
type AudioHealth string

// Audio health values.
const (
	// AudioOK: the output carries sound.
	AudioOK AudioHealth = "ok"
	// AudioQuiet: the output is silent and so is the room.
	AudioQuiet AudioHealth = "quiet"
	// AudioLost: the room has sound that the output does not carry.
	AudioLost AudioHealth = "lost"
	// AudioUnknown: not measured yet, or the room's sound is not known.
	AudioUnknown AudioHealth = "unknown"
)

// VideoHealth says whether the composite output's picture is alive.
type VideoHealth string

// Video health values.
const (
	// VideoOK: the picture changes, or nobody in the room sends video.
	VideoOK VideoHealth = "ok"
	// VideoFrozen: the picture has not changed for seconds while the room
	// sends video.
	VideoFrozen VideoHealth = "frozen"
	// VideoBlack: the picture is a uniform dark frame.
	VideoBlack VideoHealth = "black"
	// VideoUnknown: not measured yet (or an audio-only job).
	VideoUnknown VideoHealth = "unknown"
)

// Health is what the worker's live monitor sees of a running composite
// job's output, compared with what the room's SFU receives.
type Health struct {
	Audio AudioHealth `json:"audio"`
	Video VideoHealth `json:"video"`
	// Since is when Audio or Video last changed (RFC 3339 on the wire).
	Since time.Time `json:"since"`
}

// Bad reports whether h is worth a warning: sound lost, picture frozen or
// black.
func (h Health) Bad() bool {
	return h.Audio == AudioLost || h.Video == VideoFrozen || h.Video == VideoBlack
}
