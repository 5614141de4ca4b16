package trackrec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/internal/recordings"
)

// ManifestName is the manifest's file name in a tracks recording.
const ManifestName = "manifest.json"

// Manifest describes a tracks recording: enough to line the files up.
type Manifest struct {
	Version     int       `json:"version"`
	RecordingID string    `json:"recordingId"`
	Room        string    `json:"room"`
	StartedAt   time.Time `json:"startedAt"`
	// EndedAt is set when the recording stopped cleanly.
	EndedAt *time.Time      `json:"endedAt,omitempty"`
	Tracks  []ManifestTrack `json:"tracks"`
}

// ManifestTrack is one recorded track.
type ManifestTrack struct {
	ID       string `json:"id"`
	PeerID   string `json:"peerId"`
	Identity string `json:"identity"`
	Kind     string `json:"kind"`  // audio, video, or screen (a screen share)
	Codec    string `json:"codec"` // MIME type, e.g. video/VP8
	File     string `json:"file"`  // empty when the codec is not recorded
	// StartOffsetMs is when the track's first packet arrived, in ms after
	// the recording's start (wall clock at the server).
	StartOffsetMs int64 `json:"startOffsetMs"`
	// RTPStartOffsetMs is when the first frame was captured, in ms after the
	// recording's start, from the publisher's RTCP sender reports (its clock
	// mapped to NTP); absent when no report arrived.
	RTPStartOffsetMs *int64 `json:"rtpStartOffsetMs,omitempty"`
	// DurationMs is the media length written, from RTP timestamps.
	DurationMs int64 `json:"durationMs"`
	// EndOffsetMs is when the last packet arrived, in ms after the start.
	EndOffsetMs int64 `json:"endOffsetMs"`
	Frames      int   `json:"frames"`
	// LostPackets never arrived (or too late to place); DroppedPackets
	// arrived but the recorder's queue was full.
	LostPackets    uint64 `json:"lostPackets"`
	DroppedPackets uint64 `json:"droppedPackets"`
	Ended          bool   `json:"ended"`
	Error          string `json:"error,omitempty"`
}

// writeManifest replaces dir's manifest atomically.
func writeManifest(dir string, m Manifest) error {
	return recordings.WriteJSON(dir, ManifestName, m)
}

// ReadManifest reads the manifest of the tracks recording in dir.
func ReadManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, fmt.Errorf("trackrec: read manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("trackrec: decode manifest: %w", err)
	}
	return m, nil
}
