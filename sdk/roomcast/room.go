package roomcast

import (
	"context"
	"net/http"
)

// Room is a live room as GET /v1/rooms lists it: its visible peers
// (whichever room server it lives on) and its streaming and recording
// state.
type Room struct {
	Room  string     `json:"room"`
	Peers []RoomPeer `json:"peers"`
	Beam  BeamState  `json:"beam"`
}

// RoomPeer is a visible peer of a room (hidden ones, the beam, are not
// listed).
type RoomPeer struct {
	ID       string `json:"id"`
	Identity string `json:"identity"`
	Role     string `json:"role"`
}

// ListRooms lists the rooms with peers now, on every room server, by name.
func (c *Client) ListRooms(ctx context.Context) ([]Room, error) {
	var rs []Room
	if err := c.do(ctx, http.MethodGet, "/v1/rooms", nil, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}
