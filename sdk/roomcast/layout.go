package roomcast

import (
	"context"
	"net/http"
)

// Layout is how the composite arranges the room (start parameter layout,
// changeable while live).
type Layout string

// Layouts.
const (
	// LayoutGrid: every publisher in an equal tile.
	LayoutGrid Layout = "grid"
	// LayoutSpeaker: the active speaker large, the others in a strip.
	LayoutSpeaker Layout = "speaker"
	// LayoutSingleSpeaker: only the active speaker.
	LayoutSingleSpeaker Layout = "single-speaker"
)

// LayoutParams is the body of POST /v1/rooms/{room}/beam/layout.
type LayoutParams struct {
	Layout Layout `json:"layout"`
}

// SetLayout changes the layout of room's running composite job; the
// picture changes at once, the stream and the recording go on.
func (c *Client) SetLayout(ctx context.Context, room string, layout Layout) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/beam/layout", LayoutParams{Layout: layout})
}
