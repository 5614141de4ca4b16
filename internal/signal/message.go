// Package signal speaks roomcast's WebSocket signaling protocol (version 1,
// docs/PROTOCOL.md): it authenticates peers, decodes and validates their
// messages and relays offers, answers and candidates between them and the SFU.
package signal

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Version is the protocol version this server speaks.
const Version = 1

// MaxMessageSize bounds one client message; an SDP is a few kilobytes.
const MaxMessageSize = 64 << 10

// Client message types.
const (
	TypeJoin      = "join"
	TypePublish   = "publish"
	TypeAnswer    = "answer"
	TypeCandidate = "candidate"
	TypeMedia     = "media"
	TypeScreen    = "screen"
	TypeLeave     = "leave"
	TypeBeamStart = "beam-start"
	TypeBeamStop  = "beam-stop"
	// SFU track recording (recording.server).
	// While live: the composite's layout, a destination added or removed.
	TypeBeamLayout    = "beam-layout"
	TypeBeamAddURL    = "beam-add-url"
	TypeBeamRemoveURL = "beam-remove-url"

	TypeTracksStart = "track-recording-start"
	TypeTracksStop  = "track-recording-stop"
)

// ClientMessage is any message a client sends; which fields matter depends
// on Type.
type ClientMessage struct {
	Type      string                   `json:"type"`
	V         int                      `json:"v,omitempty"`
	ID        int64                    `json:"id,omitempty"`
	Room      string                   `json:"room,omitempty"`
	Token     string                   `json:"token,omitempty"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Audio     *bool                    `json:"audio,omitempty"`
	Video     *bool                    `json:"video,omitempty"`
	Params    *roomcast.StartParams    `json:"params,omitempty"`
	// Layout (beam-layout), URL (beam-add-url; secret: it holds the
	// stream key) and Index (beam-remove-url) change a live job.
	Layout string `json:"layout,omitempty"`
	URL    string `json:"url,omitempty"`
	Index  *int   `json:"index,omitempty"`
	// On (screen): the screen share starts (true) or stops (false).
	On *bool `json:"on,omitempty"`
	// Receive (join): "audio" receives the room's sound only (an
	// audio-only beam); empty receives every track.
	Receive string `json:"receive,omitempty"`
}

// ErrInvalidMessage is wrapped by every decoding or validation error.
var ErrInvalidMessage = errors.New("invalid message")

// Decode parses and validates one client message. Every error is an
// *rcerr.Error with code invalid_argument naming the problem.
func Decode(b []byte) (*ClientMessage, error) {
	if len(b) > MaxMessageSize {
		return nil, invalid("message is %d bytes; the limit is %d", len(b), MaxMessageSize)
	}
	var m ClientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, rcerr.Wrap(rcerr.InvalidArgument, fmt.Errorf("%w: %w", ErrInvalidMessage, err), "message is not a JSON object of the protocol")
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *ClientMessage) validate() error {
	switch m.Type {
	case TypeJoin:
		switch {
		case m.V != Version:
			return invalid("join: v must be %d, got %d", Version, m.V)
		case room.ValidateName(m.Room) != nil:
			_, msg := rcerr.Public(room.ValidateName(m.Room))
			return invalid("join: %s", msg)
		case m.Token == "":
			return invalid("join: token is required")
		case m.Receive != "" && m.Receive != "audio":
			return invalid("join: receive must be \"audio\" or left out, got %q", m.Receive)
		}
	case TypePublish:
		if m.Audio == nil && m.Video == nil {
			return invalid("publish: audio or video is required")
		}
	case TypeAnswer:
		if m.SDP == "" {
			return invalid("answer: sdp is required")
		}
	case TypeCandidate:
		if m.Candidate == nil {
			return invalid("candidate: candidate is required")
		}
	case TypeMedia:
		if m.Audio == nil || m.Video == nil {
			return invalid("media: audio and video are required")
		}
	case TypeScreen:
		if m.On == nil {
			return invalid("screen: on is required (true starts the screen share, false stops it)")
		}
	case TypeBeamStart:
		if m.Params == nil {
			return invalid("beam-start: params is required")
		}
	case TypeBeamLayout:
		if m.Layout == "" {
			return invalid("beam-layout: layout is required")
		}
	case TypeBeamAddURL:
		if m.URL == "" {
			return invalid("beam-add-url: url is required")
		}
	case TypeBeamRemoveURL:
		if m.Index == nil {
			return invalid("beam-remove-url: index is required")
		}
	case TypeLeave, TypeBeamStop, TypeTracksStart, TypeTracksStop:
	case "":
		return invalid("type is required")
	default:
		return invalid("unknown message type %q", m.Type)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return rcerr.Wrap(rcerr.InvalidArgument, ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// Server messages.

type joinedMsg struct {
	Type  string         `json:"type"`
	V     int            `json:"v"`
	Self  sfu.PeerInfo   `json:"self"`
	Peers []sfu.PeerInfo `json:"peers"`
}

type sdpMsg struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type candidateMsg struct {
	Type      string                  `json:"type"`
	Candidate webrtc.ICECandidateInit `json:"candidate"`
}

type peerMsg struct {
	Type string       `json:"type"`
	Peer sfu.PeerInfo `json:"peer"`
}

type peerLeftMsg struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type okMsg struct {
	Type string `json:"type"`
	ID   int64  `json:"id"`
}

type errorMsg struct {
	Type    string     `json:"type"`
	ID      int64      `json:"id,omitempty"`
	Code    rcerr.Code `json:"code"`
	Message string     `json:"message"`
}
