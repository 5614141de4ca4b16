package roomcast

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// DestinationParams is the body of POST /v1/rooms/{room}/beam/destinations.
type DestinationParams struct {
	URL string `json:"url"` // rtmp:// or rtmps://, with app and stream key
}

// AddDestination streams room's running job to one more RTMP(S) URL as
// well (at most 3 in all), without disturbing the others or the
// recording. A job that only recorded streams from then on.
func (c *Client) AddDestination(ctx context.Context, room, rtmpURL string) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/beam/destinations", DestinationParams{URL: rtmpURL})
}

// RemoveDestination stops streaming room's running job to the
// destination at index (its place in the state's destinations, from 0);
// the others and the recording go on. The last one can be removed only
// while the job records: a job that only streams is stopped instead.
func (c *Client) RemoveDestination(ctx context.Context, room string, index int) (BeamState, error) {
	return c.roomState(ctx, http.MethodDelete, room, "/beam/destinations/"+strconv.Itoa(index), nil)
}

// Thumbnail returns a JPEG of what room's running job sends now (its
// latest keyframe, at most 2 s old); a *Error with CodeNotFound when no
// job with video runs.
func (c *Client) Thumbnail(ctx context.Context, room string) ([]byte, error) {
	var b []byte
	err := c.do(ctx, http.MethodGet, "/v1/rooms/"+url.PathEscape(room)+"/beam/thumbnail.jpg", nil, &b)
	return b, err
}
