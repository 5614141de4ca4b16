package roomcast

import "time"

// RecordingKind says how a recording was made.
type RecordingKind string

// Recording kinds.
const (
	// RecordingKindComposite is the beam's mixed recording: one .mp4 file.
	RecordingKindComposite RecordingKind = "composite"
	// RecordingKindTracks is SFU track recording: one file per track plus
	// manifest.json.
	RecordingKindTracks RecordingKind = "tracks"
)

// RecordingPhase is where a stored recording is in its life: recording →
// processing → ready, or upload_failed / failed.
type RecordingPhase string

// Recording phases.
const (
	RecordingPhaseRecording    RecordingPhase = "recording"
	RecordingPhaseProcessing   RecordingPhase = "processing"
	RecordingPhaseReady        RecordingPhase = "ready"
	RecordingPhaseUploadFailed RecordingPhase = "upload_failed"
	RecordingPhaseFailed       RecordingPhase = "failed"
)

// Recording is one stored recording as listed by GET /v1/recordings.
type Recording struct {
	ID     string         `json:"id"`
	Room   string         `json:"room"`
	Kind   RecordingKind  `json:"kind"`
	Status RecordingPhase `json:"status"`
	// StartedAt is when recording began (RFC 3339 on the wire).
	StartedAt time.Time `json:"startedAt"`
	// Duration is the recorded length in seconds.
	Duration float64 `json:"duration"`
	// Size is the total size of Files in bytes.
	Size  int64           `json:"size"`
	Files []RecordingFile `json:"files"`
	// Error says why a recording is failed or upload_failed.
	Error string `json:"error,omitempty"`
	// Location is where the files are kept once uploaded to object storage,
	// e.g. s3://bucket/prefix/id/; empty while they are on the server's disk.
	Location string `json:"location,omitempty"`
}

// Length returns Duration as a time.Duration.
func (r Recording) Length() time.Duration {
	return time.Duration(r.Duration * float64(time.Second))
}

// RecordingFile is one file of a recording, downloadable at
// GET /v1/recordings/{id}/files/{name}.
type RecordingFile struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}
