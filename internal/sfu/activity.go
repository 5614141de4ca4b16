package sfu

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Activity is what a room's publishers send, as the SFU receives it: is
// anyone making a sound, is anyone sending pictures. The beam's live monitor
// compares it with its output to tell a quiet room from a lost sound.
type Activity struct {
	// SoundAt is when an audio packet with sound last arrived (zero: never).
	SoundAt time.Time
	// AudioTracks and VideoTracks count the published tracks.
	AudioTracks, VideoTracks int
	// VideoFrames counts the video frames forwarded so far (all tracks).
	VideoFrames int64
}

// Activity returns the room's activity; ok is false when the room is not
// on this server.
func (s *SFU) Activity(room string) (a Activity, ok bool) {
	s.mu.Lock()
	r := s.rooms[room]
	s.mu.Unlock()
	if r == nil {
		return a, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var sound int64
	for _, t := range r.tracks {
		if t.kind == webrtc.RTPCodecTypeAudio {
			a.AudioTracks++
			sound = max(sound, t.soundAt.Load())
		} else {
			a.VideoTracks++
			a.VideoFrames += t.frames.Load()
		}
	}
	if sound > 0 {
		a.SoundAt = time.Unix(0, sound)
	}
	return a, true
}

// opusSilence is the Opus payload size (bytes) at or under which a packet
// carries no sound: an encoder fed silence sends 3–10 byte frames, speech and
// tones take 30 and more. Used when the publisher sends no audio level.
const opusSilence = 15

// soundLevel is the RFC 6464 level (-dBov) under which a packet has sound:
// louder than -50 dBov.
const soundLevel = 50

// audioLevelID is the header extension id the publisher negotiated for
// RFC 6464 audio levels, or 0.
func audioLevelID(r *webrtc.RTPReceiver) uint8 {
	for _, e := range r.GetParameters().HeaderExtensions {
		if e.URI == sdp.AudioLevelURI {
			return uint8(e.ID)
		}
	}
	return 0
}

// hasSound says whether an audio packet carries sound: by its RFC 6464
// level when the publisher sends one (Chromium does), else by its size.
func hasSound(pkt *rtp.Packet, levelID uint8) bool {
	if levelID != 0 {
		if ext := pkt.Header.GetExtension(levelID); len(ext) > 0 {
			return ext[0]&0x7f < soundLevel
		}
	}
	return len(pkt.Payload) > opusSilence
}

// count notes what pkt says about the room's activity; it runs in the
// forwarding loop, before the header extensions are stripped.
func (t *forwardTrack) count(pkt *rtp.Packet) {
	if t.kind == webrtc.RTPCodecTypeAudio {
		if hasSound(pkt, t.levelID) {
			t.soundAt.Store(time.Now().UnixNano())
		}
		return
	}
	if pkt.Marker {
		t.frames.Add(1)
	}
}

// counters is the per-track state count keeps.
type counters struct {
	levelID uint8
	soundAt atomic.Int64 // unix nanoseconds
	frames  atomic.Int64
}
