package roomcast

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// defaultTimeout is a backstop for callers whose context has no deadline.
const defaultTimeout = 30 * time.Second

// Client calls roomcast's REST API (/v1) with a management token, or with a
// join token whose role may start and stop (host). It is safe for
// concurrent use.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc instead of a
// default client with a 30-second timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// NewClient returns a client for the server at baseURL (for example
// "http://localhost:7880") that authenticates with token.
func NewClient(baseURL, token string, opts ...Option) *Client {
	c := &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		hc:    &http.Client{Timeout: defaultTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// StartRTMPOrRecording starts streaming to p.RTMPURLs, recording (p.Record),
// or both together in room. It returns the room's state as accepted (202);
// progress shows later in BeamState. A start while something runs fails
// with code "conflict".
func (c *Client) StartRTMPOrRecording(ctx context.Context, room string, p StartParams) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/beam/start", p)
}

// StopRTMPAndRecording stops streaming and recording in room together. When
// nothing runs it succeeds and the state's Message says so.
func (c *Client) StopRTMPAndRecording(ctx context.Context, room string) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/beam/stop", nil)
}

// BeamState returns the streaming and recording state of room.
func (c *Client) BeamState(ctx context.Context, room string) (BeamState, error) {
	return c.roomState(ctx, http.MethodGet, room, "/beam", nil)
}

// StartTrackRecording starts SFU recording of every track in room.
func (c *Client) StartTrackRecording(ctx context.Context, room string) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/track-recording/start", nil)
}

// StopTrackRecording stops SFU track recording in room.
func (c *Client) StopTrackRecording(ctx context.Context, room string) (BeamState, error) {
	return c.roomState(ctx, http.MethodPost, room, "/track-recording/stop", nil)
}

// Recordings lists stored recordings, of room only when room is not empty.
func (c *Client) Recordings(ctx context.Context, room string) ([]Recording, error) {
	path := "/v1/recordings"
	if room != "" {
		path += "?" + url.Values{"room": {room}}.Encode()
	}
	var recs []Recording
	if err := c.do(ctx, http.MethodGet, path, nil, &recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// Recording returns one stored recording: its status, duration and files.
func (c *Client) Recording(ctx context.Context, id string) (Recording, error) {
	var rec Recording
	if id == "" {
		return rec, &Error{Code: CodeInvalidArgument, Message: "recording id is required"}
	}
	err := c.do(ctx, http.MethodGet, "/v1/recordings/"+url.PathEscape(id), nil, &rec)
	return rec, err
}

// DeleteRecording deletes a recording and its files (in object storage
// too).
func (c *Client) DeleteRecording(ctx context.Context, id string) error {
	if id == "" {
		return &Error{Code: CodeInvalidArgument, Message: "recording id is required"}
	}
	return c.do(ctx, http.MethodDelete, "/v1/recordings/"+url.PathEscape(id), nil, nil)
}

// DownloadFile writes one file of a recording (a name from its Files) to
// w, following the server to object storage when the file is there (the
// token is not sent on). The client's HTTP timeout (30 s by default) bounds
// the whole download: give a large file's a client of its own
// (WithHTTPClient).
func (c *Client) DownloadFile(ctx context.Context, id, name string, w io.Writer) error {
	if id == "" || name == "" {
		return &Error{Code: CodeInvalidArgument, Message: "recording id and file name are required"}
	}
	return c.do(ctx, http.MethodGet, "/v1/recordings/"+url.PathEscape(id)+"/files/"+url.PathEscape(name), nil, w)
}

// JoinLink mints a join token on the server (POST /v1/tokens) and returns
// it with the meeting app's path (NewJoinToken does it without a call,
// given the secret).
func (c *Client) JoinLink(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	var out TokenResponse
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &out)
	return out, err
}

// FileLink returns a path that serves one file of a recording without a
// token for an hour (a browser's <video src>, with ranges).
func (c *Client) FileLink(ctx context.Context, id, name string) (FileLink, error) {
	var out FileLink
	if id == "" || name == "" {
		return out, &Error{Code: CodeInvalidArgument, Message: "recording id and file name are required"}
	}
	err := c.do(ctx, http.MethodPost, "/v1/recordings/"+url.PathEscape(id)+"/files/"+url.PathEscape(name)+"/link", nil, &out)
	return out, err
}

// roomState calls /v1/rooms/{room}{suffix} and decodes the BeamState answer.
func (c *Client) roomState(ctx context.Context, method, room, suffix string, body any) (BeamState, error) {
	if room == "" {
		return BeamState{}, &Error{Code: CodeInvalidArgument, Message: "room name is required"}
	}
	var st BeamState
	err := c.do(ctx, method, "/v1/rooms/"+url.PathEscape(room)+suffix, body, &st)
	return st, err
}

// do sends one request to path (already escaped) with body as JSON when not
// nil, and decodes a 2xx answer into out (a *[]byte gets the bytes, an
// io.Writer has them written to it, nil drops them). Errors name the
// method and path, never the token.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("roomcast: %s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("roomcast: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("roomcast: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFrom(resp)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *[]byte: // not JSON: the bytes themselves
		if *o, err = io.ReadAll(resp.Body); err != nil {
			return fmt.Errorf("roomcast: %s %s: read answer: %w", method, path, err)
		}
		return nil
	case io.Writer:
		if _, err := io.Copy(o, resp.Body); err != nil {
			return fmt.Errorf("roomcast: %s %s: read answer: %w", method, path, err)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("roomcast: %s %s: decode %d answer: %w", method, path, resp.StatusCode, err)
	}
	return nil
}

// errorFrom turns a non-2xx answer into an *Error. A body that is not the
// API's {"code","message"} (a proxy's page, say) becomes "unavailable" for
// gateway statuses and "internal" otherwise.
func errorFrom(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e Error
	if json.Unmarshal(b, &e) == nil && e.Code != "" {
		if e.Message == "" {
			e.Message = statusText(resp.StatusCode)
		}
		e.Status = resp.StatusCode
		return &e
	}
	code := CodeInternal
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		code = CodeUnavailable
	}
	return &Error{
		Code:    code,
		Message: fmt.Sprintf("server answered %s without an API error body", statusText(resp.StatusCode)),
		Status:  resp.StatusCode,
	}
}

// statusText is "409 Conflict", or the bare number for unknown statuses.
func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("%d %s", status, t)
	}
	return fmt.Sprint(status)
}
