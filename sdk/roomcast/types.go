// Package roomcast is the Go SDK for roomcast's server API: start and stop
// streaming and recording for a room, read its state and list recordings.
// The names mirror the browser SDK (startRTMPOrRecording,
// stopRTMPAndRecording, RecordingState, StreamingState).
//
//	c := roomcast.NewClient("http://localhost:7880", managementToken)
//	st, err := c.StartRTMPOrRecording(ctx, "demo", roomcast.StartParams{
//		RTMPURLs: []string{"rtmp://a.rtmp.youtube.com/live2/KEY"},
//		Record:   true,
//	})
//
// The server uses these types too, so the wire format is defined once.
package roomcast

import "time"

// Resolution is the output size of streaming and recording.
type Resolution struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// DefaultResolution is used when StartParams.Resolution is nil.
var DefaultResolution = Resolution{Width: 1280, Height: 720}

// StartParams are the seed's start options. RTMPURLs only: streaming;
// Record only: recording; both: both, together.
type StartParams struct {
	// MeetingURL is the page the bot opens; empty means the server's own
	// meeting app for the room with a fresh beam-role token.
	MeetingURL string `json:"meetingURL,omitempty"`
	// RTMPURLs are 1 to 3 ingest URLs, rtmp://host[:port]/app/STREAM_KEY
	// (or rtmps://).
	RTMPURLs []string `json:"rtmpURLs,omitempty"`
	// Record also records to an MP4 file.
	Record bool `json:"record,omitempty"`
	// Resolution defaults to 1280x720.
	Resolution *Resolution `json:"resolution,omitempty"`
	// MaxDuration, in seconds, ends the job on its own after this long
	// (stopped, with the reason). Zero means the server's --max-duration,
	// which is also the most it may be.
	MaxDuration int `json:"maxDuration,omitempty"`
	// Layout is how the composite arranges the room; empty means grid.
	Layout Layout `json:"layout,omitempty"`
	// AudioOnly: the room's sound only, no picture (RTMP with one AAC
	// stream, the recording composite.m4a); resolution and layout do not
	// apply.
	AudioOnly bool `json:"audioOnly,omitempty"`
}

// RecordingState is the seed's recording state enum.
type RecordingState string

// StreamingState is the seed's RTMP streaming state enum.
type StreamingState string

// The states of streaming and of each recording: none → starting → started
// → stopped or failed.
const (
	RecordingStateNone     RecordingState = "none"
	RecordingStateStarting RecordingState = "starting"
	RecordingStateStarted  RecordingState = "started"
	RecordingStateStopped  RecordingState = "stopped"
	RecordingStateFailed   RecordingState = "failed"

	StreamingStateNone     StreamingState = "none"
	StreamingStateStarting StreamingState = "starting"
	StreamingStateStarted  StreamingState = "started"
	StreamingStateStopped  StreamingState = "stopped"
	StreamingStateFailed   StreamingState = "failed"
)

// DestinationState is the state of one RTMP destination.
type DestinationState string

// Destination states.
const (
	DestinationStarting     DestinationState = "starting"
	DestinationStarted      DestinationState = "started"
	DestinationReconnecting DestinationState = "reconnecting"
	DestinationFailed       DestinationState = "failed"
	DestinationStopped      DestinationState = "stopped"
)

// Error codes: every Error.Code is one of these (the server's rcerr codes;
// the HTTP status follows from the code).
const (
	CodeInvalidArgument   = "invalid_argument"   // 400: a field is wrong; the message names it
	CodeUnauthenticated   = "unauthenticated"    // 401: no token, or not a valid one
	CodePermissionDenied  = "permission_denied"  // 403: the token may not do this
	CodeNotFound          = "not_found"          // 404
	CodeConflict          = "conflict"           // 409: something already runs
	CodeResourceExhausted = "resource_exhausted" // 429 (or 503 when no worker is free)
	CodeUnavailable       = "unavailable"        // 503: try again
	CodeDestination       = "destination"        // 502: an ingest failed
	CodeInternal          = "internal"           // 500
)

// Error is an error with a machine-readable code and a message a person can
// act on; API calls return it for every non-2xx answer, and states carry it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Status is the HTTP status of a failed call (0 inside states).
	Status int `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// RTMPState is the room's streaming state.
type RTMPState struct {
	// Running is true exactly when streaming has started (StartedAt set,
	// State started); while it starts, State is starting and Running false.
	Running      bool           `json:"running"`
	StartedAt    *time.Time     `json:"startedAt,omitempty"`
	State        StreamingState `json:"state"`
	Error        *Error         `json:"error,omitempty"`
	Reason       string         `json:"reason,omitempty"` // why it stopped: on request, room empty, max duration
	Destinations []Destination  `json:"destinations"`
}

// Destination is one RTMP output; URL has its stream key redacted.
type Destination struct {
	URL   string            `json:"url"`
	State DestinationState  `json:"state"`
	Error *DestinationError `json:"error,omitempty"`
}

// DestinationError is why a destination is reconnecting or failed: a code
// to act on and a message for a person.
type DestinationError struct {
	Code    DestinationErrorCode `json:"code"`
	Message string               `json:"message"`
}

// DestinationErrorCode says what went wrong with a destination.
type DestinationErrorCode string

// Destination error codes.
const (
	// DestinationKeyRejected: the ingest refused the stream key (wrong,
	// expired, or already live). Not retried after a few attempts.
	DestinationKeyRejected DestinationErrorCode = "destination_key_rejected"
	// DestinationUnreachable: no connection to the ingest's host:port;
	// retried with backoff.
	DestinationUnreachable DestinationErrorCode = "destination_unreachable"
	// DestinationTLSUntrusted: the rtmps certificate is not trusted for the
	// host. Not retried after a few attempts.
	DestinationTLSUntrusted DestinationErrorCode = "destination_tls_untrusted"
	// DestinationLost: the connection broke while streaming; retried.
	DestinationLost DestinationErrorCode = "destination_lost"
	// DestinationProtocol: the ingest spoke RTMP in a way roomcast cannot
	// follow; retried.
	DestinationProtocol DestinationErrorCode = "destination_protocol"
)

// RecordingStatus is the state of the composite (beam) recording or of SFU
// track recording.
type RecordingStatus struct {
	// Running is true exactly when recording has started (StartedAt set,
	// State started); while it starts, State is starting and Running false.
	Running   bool           `json:"running"`
	StartedAt *time.Time     `json:"startedAt,omitempty"`
	State     RecordingState `json:"state"`
	Error     *Error         `json:"error,omitempty"`
	Reason    string         `json:"reason,omitempty"` // why it stopped: on request, room empty, max duration
}

// RecordingStates holds the composite recording (Browser) and the SFU track
// recording (Server).
type RecordingStates struct {
	Browser RecordingStatus `json:"browser"`
	Server  RecordingStatus `json:"server"`
}

// BeamState is everything a room's peers and the API see about streaming and
// recording.
type BeamState struct {
	RTMP      RTMPState       `json:"rtmp"`
	Recording RecordingStates `json:"recording"`
	// Health is the live monitor's view of the output while a composite job
	// runs (nil otherwise).
	Health *Health `json:"health,omitempty"`
	// Layout is the composite's layout while a composite job runs (empty
	// otherwise).
	Layout Layout `json:"layout,omitempty"`
	// AudioOnly: the running composite job carries sound only (no
	// layout, no thumbnail).
	AudioOnly bool `json:"audioOnly,omitempty"`
	// Message explains a no-op, e.g. "nothing is running" on stop.
	Message string `json:"message,omitempty"`
}

// NewBeamState is the state of a room where nothing ever ran.
func NewBeamState() BeamState {
	return BeamState{
		RTMP: RTMPState{State: StreamingStateNone, Destinations: []Destination{}},
		Recording: RecordingStates{
			Browser: RecordingStatus{State: RecordingStateNone},
			Server:  RecordingStatus{State: RecordingStateNone},
		},
	}
}

// TokenRequest is the body of POST /v1/tokens: a join token for Identity
// to join Room with Role, valid for TTL seconds (0: 24 h).
type TokenRequest struct {
	Room     string `json:"room"`
	Identity string `json:"identity"`
	Role     string `json:"role"`
	TTL      int    `json:"ttl,omitempty"`
}

// TokenResponse is the answer of POST /v1/tokens: the token and the
// meeting app's path with it.
type TokenResponse struct {
	Token     string    `json:"token"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// FileLink is the answer of POST /v1/recordings/{id}/files/{name}/link: a
// path that serves the file without a token (inline, with ranges) until
// ExpiresAt.
type FileLink struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Session is the answer of GET /v1/session on a loopback-only server: a
// management token for the dashboard.
type Session struct {
	Token string `json:"token"`
}
