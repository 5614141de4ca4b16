package roomcast

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testToken = "sekret-token"

// seen is what the fake server saw of one request.
type seen struct {
	method, path, query, auth, contentType string
	body                                   []byte
}

// newServer returns a Client for a server that records each request into
// *got and answers with status and body.
func newServer(t *testing.T, status int, body string) (*Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{
			method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery,
			auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type"), body: b,
		}
		if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return NewClient(srv.URL+"/", testToken, WithHTTPClient(srv.Client())), got
}

func stateJSON(t *testing.T, st BeamState) string {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestClientRoomCalls(t *testing.T) {
	started := NewBeamState()
	started.RTMP.Running, started.RTMP.State = true, StreamingStateStarting
	started.RTMP.Destinations = []Destination{{URL: "rtmp://h:1935/live/{ab…yz}", State: DestinationStarting}}
	idle := NewBeamState()
	idle.Message = "nothing is running"

	tests := []struct {
		name     string
		call     func(context.Context, *Client) (BeamState, error)
		status   int
		answer   BeamState
		method   string
		path     string
		wantBody bool
	}{
		{"start", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.StartRTMPOrRecording(ctx, "demo", StartParams{RTMPURLs: []string{"rtmp://h/live/k"}})
		}, http.StatusAccepted, started, "POST", "/v1/rooms/demo/beam/start", true},
		{"stop", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.StopRTMPAndRecording(ctx, "demo")
		}, http.StatusOK, idle, "POST", "/v1/rooms/demo/beam/stop", false},
		{"state", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.BeamState(ctx, "demo")
		}, http.StatusOK, started, "GET", "/v1/rooms/demo/beam", false},
		{"track start", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.StartTrackRecording(ctx, "demo")
		}, http.StatusAccepted, idle, "POST", "/v1/rooms/demo/track-recording/start", false},
		{"track stop", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.StopTrackRecording(ctx, "demo")
		}, http.StatusOK, idle, "POST", "/v1/rooms/demo/track-recording/stop", false},
		{"escaped room", func(ctx context.Context, c *Client) (BeamState, error) {
			return c.BeamState(ctx, "a b/c")
		}, http.StatusOK, idle, "GET", "/v1/rooms/a%20b%2Fc/beam", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := newServer(t, tt.status, stateJSON(t, tt.answer))
			st, err := tt.call(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st, tt.answer) {
				t.Errorf("state = %+v, want %+v", st, tt.answer)
			}
			if got.method != tt.method || got.path != tt.path {
				t.Errorf("request = %s %s, want %s %s", got.method, got.path, tt.method, tt.path)
			}
			if got.auth != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got.auth)
			}
			if hasBody := len(got.body) > 0; hasBody != tt.wantBody {
				t.Errorf("body = %q, want body: %v", got.body, tt.wantBody)
			}
		})
	}
}

func TestClientStartBody(t *testing.T) {
	c, got := newServer(t, http.StatusAccepted, stateJSON(t, NewBeamState()))
	p := StartParams{
		MeetingURL: "https://meet.example/demo",
		RTMPURLs:   []string{"rtmp://a/live/k1", "rtmps://b:443/app/k2"},
		Record:     true,
		Resolution: &Resolution{Width: 640, Height: 360},
	}
	if _, err := c.StartRTMPOrRecording(t.Context(), "demo", p); err != nil {
		t.Fatal(err)
	}
	if got.contentType != "application/json" {
		t.Errorf("Content-Type = %q", got.contentType)
	}
	var sent StartParams
	if err := json.Unmarshal(got.body, &sent); err != nil {
		t.Fatalf("body %q: %v", got.body, err)
	}
	if !reflect.DeepEqual(sent, p) {
		t.Errorf("sent %+v, want %+v", sent, p)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		code       string
		msg        string
	}{
		{"invalid", `{"code":"invalid_argument","message":"rtmpURLs[0]: no stream key"}`, 400, "invalid_argument", "rtmpURLs[0]: no stream key"},
		{"conflict", `{"code":"conflict","message":"streaming is running; stop it first"}`, 409, "conflict", "streaming is running; stop it first"},
		{"unauthenticated", `{"code":"unauthenticated","message":"token expired"}`, 401, "unauthenticated", "token expired"},
		{"no message", `{"code":"not_found"}`, 404, "not_found", "404 Not Found"},
		{"proxy html", `<html>bad gateway</html>`, 502, "unavailable", "502 Bad Gateway"},
		{"plain 500", `oops`, 500, "internal", "500 Internal Server Error"},
		{"empty 401", ``, 401, "internal", "401 Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newServer(t, tt.status, tt.body)
			_, err := c.StartRTMPOrRecording(t.Context(), "demo", StartParams{Record: true})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if e.Code != tt.code || e.Status != tt.status || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("err = %+v, want code %s status %d message containing %q", e, tt.code, tt.status, tt.msg)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func TestClientTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c := NewClient(srv.URL, testToken)
	_, err := c.BeamState(t.Context(), "demo")
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err = %v, want a transport error", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error %q contains the token", err)
	}
}

func TestClientEmptyRoom(t *testing.T) {
	c := NewClient("http://127.0.0.1:1", testToken)
	_, err := c.BeamState(t.Context(), "")
	var e *Error
	if !errors.As(err, &e) || e.Code != "invalid_argument" {
		t.Fatalf("err = %v, want invalid_argument", err)
	}
}

func TestClientRecordings(t *testing.T) {
	body := `[{"id":"r1","room":"a b","kind":"composite","status":"ready",
		"startedAt":"2025-01-02T03:04:05Z","duration":12.5,"size":2048,
		"files":[{"name":"r1.mp4","size":2048}]}]`
	want := []Recording{{
		ID: "r1", Room: "a b", Kind: RecordingKindComposite, Status: RecordingPhaseReady,
		StartedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 12.5, Size: 2048,
		Files: []RecordingFile{{Name: "r1.mp4", Size: 2048}},
	}}
	for _, tt := range []struct{ room, query string }{{"a b", "room=a+b"}, {"", ""}} {
		t.Run("room="+tt.room, func(t *testing.T) {
			c, got := newServer(t, http.StatusOK, body)
			recs, err := c.Recordings(t.Context(), tt.room)
			if err != nil {
				t.Fatal(err)
			}
			if got.method != "GET" || got.path != "/v1/recordings" || got.query != tt.query {
				t.Errorf("request = %s %s?%s", got.method, got.path, got.query)
			}
			if !reflect.DeepEqual(recs, want) {
				t.Errorf("recordings = %+v, want %+v", recs, want)
			}
			if l := recs[0].Length(); l != 12500*time.Millisecond {
				t.Errorf("Length = %v", l)
			}
		})
	}
}
