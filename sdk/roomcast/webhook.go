package roomcast

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook headers.
const (
	SignatureHeader = "Roomcast-Signature" // t=<unix>,v1=<hex HMAC-SHA256 of "t.body">
	EventIDHeader   = "Roomcast-Event-Id"  // the event's id, for idempotency
)

// Webhook event names.
const (
	EventBeamStarted           = "beam.started"
	EventBeamStopped           = "beam.stopped"
	EventBeamFailed            = "beam.failed"
	EventBeamDestinationFailed = "beam.destination.failed"
	// EventBeamDestinationAdded and EventBeamDestinationRemoved: a
	// destination was added to a running job (the last of its
	// destinations now) or removed from it (Index is where it was).
	EventBeamDestinationAdded   = "beam.destination.added"
	EventBeamDestinationRemoved = "beam.destination.removed"
	// EventBeamWarning: the output's health turned bad (sound lost, picture
	// frozen or black); the event carries the health.
	EventBeamWarning    = "beam.warning"
	EventRecordingReady = "recording.ready"
)

// Event is the JSON body of a webhook.
type Event struct {
	Event string    `json:"event"`
	Room  string    `json:"room"`
	ID    string    `json:"id"`
	At    time.Time `json:"at"`
	// StartDelayMs (beam.started): from the start request to media flowing.
	StartDelayMs int64 `json:"startDelayMs,omitempty"`
	// Reason (beam.stopped): stopped on request, room empty, max duration.
	Reason string `json:"reason,omitempty"`
	// Error (beam.failed, beam.destination.failed): what went wrong.
	Error *Error `json:"error,omitempty"`
	// Destination (beam.destination.failed, .added, .removed), its URL
	// redacted.
	Destination *Destination `json:"destination,omitempty"`
	// Index (beam.destination.removed): the place it had in the
	// destinations.
	Index *int `json:"index,omitempty"`
	// Recording (recording.ready): files, duration, size and id.
	Recording *Recording `json:"recording,omitempty"`
	// Health (beam.warning): the output's health when it turned bad.
	Health *Health `json:"health,omitempty"`
	// State is the room's state after the change (beam.* events).
	State *BeamState `json:"state,omitempty"`
}

// Sign returns the Roomcast-Signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a webhook's Roomcast-Signature header against its raw
// body: the HMAC must match and the timestamp be within tolerance of now
// (replay protection; 5 minutes is a good tolerance).
func VerifyWebhook(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	if ts == "" || sig == "" {
		return errors.New("roomcast: signature header lacks t= or v1=")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("roomcast: signature timestamp %q: %w", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("roomcast: signature timestamp is %v away from now; replayed or clock skew", d.Round(time.Second))
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return errors.New("roomcast: signature does not match the body")
	}
	return nil
}
