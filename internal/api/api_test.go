package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const streamKey = "abcd-1234-efgh-5678"

type fixture struct {
	url    string
	signer *auth.Signer
	mgmt   string
	logs   *testkit.LogBuffer
}

// newFixture serves the API over a real controller on an embedded NATS,
// with a worker that takes jobs and never starts them: started jobs stay
// "starting".
func newFixture(t *testing.T) *fixture {
	t.Helper()
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := bus.Open(context.Background(), bus.Config{DataDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	signer, _ := auth.NewSigner([]byte("api-test-secret-0123456789"))
	ctl, err := control.New(context.Background(), b.NC, b.JS, signer, control.Options{RecordsTracks: true, ServerID: "api-test", BotURL: "http://127.0.0.1:7880"}, log)
	if err != nil {
		t.Fatal(err)
	}
	// This server's track recording worker, recording nothing.
	tracks, err := control.NewWorker(context.Background(), b.NC, b.JS, control.WorkerOptions{ID: "api-test", Kind: jobs.KindTracks, Slots: 10},
		control.RunnerFunc(func(ctx context.Context, _ jobs.Job, report func(jobs.Progress)) jobs.Outcome {
			report(jobs.Progress{Started: true})
			<-ctx.Done()
			return jobs.Outcome{}
		}), log)
	if err != nil {
		t.Fatal(err)
	}
	beams, err := control.NewWorker(context.Background(), b.NC, b.JS, control.WorkerOptions{ID: "api-test-beams", Slots: 10, Limit: jobs.Cost{CPU: 100, MemoryMB: 1 << 20}},
		control.RunnerFunc(func(ctx context.Context, _ jobs.Job, _ func(jobs.Progress)) jobs.Outcome {
			<-ctx.Done()
			return jobs.Outcome{}
		}), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tracks.Run(ctx) })
	wg.Go(func() { beams.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	mux := http.NewServeMux()
	New(ctl, RoomsFunc(func(r string) bool { return r == "live" }), signer, log).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mgmt, _ := signer.ManagementToken(time.Hour)
	return &fixture{url: srv.URL, signer: signer, mgmt: mgmt, logs: logs}
}

func (f *fixture) join(t *testing.T, roomName string, role room.Role) string {
	tok, err := f.signer.JoinToken(roomName, "someone", role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call makes a request and returns the status and body.
func (f *fixture) call(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e roomcast.Error
		if json.Unmarshal(b, &e) != nil || e.Code == "" || e.Message == "" {
			t.Errorf("%s %s: error body %s is not {code, message}", method, path, b)
		}
	}
	return resp.StatusCode, string(b)
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	other, _ := auth.NewSigner([]byte("another-secret-0123456789"))
	forged, _ := other.ManagementToken(time.Hour)
	start := `{"record": true}`
	tests := []struct {
		name, method, path, token string
		status                    int
		want                      string
	}{
		{"no token", "POST", "/v1/rooms/a/beam/start", "", 401, "unauthenticated"},
		{"garbage token", "POST", "/v1/rooms/a/beam/start", "not-a-jwt", 401, "token malformed"},
		{"forged token", "POST", "/v1/rooms/a/beam/start", forged, 401, "token signature invalid"},
		{"guest may not start", "POST", "/v1/rooms/a/beam/start", f.join(t, "a", room.Guest), 403, `role \"guest\" may not start`},
		{"viewer may not stop", "POST", "/v1/rooms/a/beam/stop", f.join(t, "a", room.Viewer), 403, "permission_denied"},
		{"host of another room", "POST", "/v1/rooms/a/beam/start", f.join(t, "b", room.Host), 403, `token is for room \"b\"`},
		{"host may start", "POST", "/v1/rooms/a/beam/start", f.join(t, "a", room.Host), 202, `"state":"starting"`},
		{"guest may read", "GET", "/v1/rooms/a/beam", f.join(t, "a", room.Guest), 200, `"browser"`},
		{"management may stop", "POST", "/v1/rooms/a/beam/stop", f.mgmt, 200, `"state":"stopped"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, tt.method, tt.path, tt.token, start)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s; want %d containing %s", status, body, tt.status, tt.want)
			}
		})
	}
}

func TestStartValidationAndRules(t *testing.T) {
	f := newFixture(t)
	yt := "rtmp://a.rtmp.youtube.com/live2/" + streamKey
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty body", "", 400, "body is empty"},
		{"not JSON", "{", 400, "not valid JSON"},
		{"unknown field", `{"record": true, "recrod": true}`, 400, `unknown field \"recrod\"`},
		{"wrong type", `{"record": "yes"}`, 400, "record: must be a boolean"},
		{"rtmpURLs not a list", `{"rtmpURLs": "` + yt + `"}`, 400, "rtmpURLs: must be an array"},
		{"resolution wrong type", `{"record": true, "resolution": {"width": "640", "height": 360}}`, 400, "resolution.width: must be a number"},
		{"neither", `{}`, 400, "nothing to start"},
		{"too large", `{"meetingURL": "` + strings.Repeat("x", 70000) + `"}`, 400, "body is larger than 65536 bytes"},
		{"too many URLs", `{"rtmpURLs": ["` + yt + `1","` + yt + `2","` + yt + `3","` + yt + `4"]}`, 400, "rtmpURLs: at most 3"},
		{"bad scheme", `{"rtmpURLs": ["https://x/live/` + streamKey + `"]}`, 400, "rtmpURLs[0]: scheme must be rtmp or rtmps"},
		{"no key", `{"rtmpURLs": ["rtmp://x/live"]}`, 400, "rtmpURLs[0]"},
		{"odd resolution", `{"record": true, "resolution": {"width": 1279, "height": 720}}`, 400, "resolution: width and height must be even"},
		{"max duration over the cap", `{"record": true, "maxDuration": 86401}`, 400, "maxDuration: 86401 seconds is more than this server allows"},
		{"max duration negative", `{"record": true, "maxDuration": -1}`, 400, "maxDuration: must be a positive number"},
		{"max duration fraction", `{"record": true, "maxDuration": 1.5}`, 400, "maxDuration"},
		{"max duration string", `{"record": true, "maxDuration": "60"}`, 400, "maxDuration"},
		{"file meeting URL", `{"record": true, "meetingURL": "file:///etc/passwd"}`, 400, "meetingURL: scheme must be http or https"},
		{"metadata meeting URL", `{"record": true, "meetingURL": "http://169.254.169.254/"}`, 400, "meetingURL:"},
		{"stream", `{"rtmpURLs": ["` + yt + `"]}`, 202, `"url":"rtmp://a.rtmp.youtube.com/live2/{ab…78}"`},
		{"then record", `{"record": true}`, 409, "streaming is already running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, "POST", "/v1/rooms/demo/beam/start", f.mgmt, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("got %d %s; want %d containing %s", status, body, tt.status, tt.want)
			}
			if strings.Contains(body, streamKey) {
				t.Errorf("the answer carries the stream key: %s", body)
			}
		})
	}
	// Stop stops both; stopping again says nothing runs.
	if status, body := f.call(t, "POST", "/v1/rooms/demo/beam/stop", f.mgmt, ""); status != 200 || !strings.Contains(body, `"state":"stopped"`) {
		t.Errorf("stop: %d %s", status, body)
	}
	if status, body := f.call(t, "POST", "/v1/rooms/demo/beam/stop", f.mgmt, ""); status != 200 || !strings.Contains(body, `"message":"nothing is running"`) {
		t.Errorf("second stop: %d %s", status, body)
	}
	if strings.Contains(f.logs.String(), streamKey) {
		t.Errorf("the log carries the stream key:\n%s", f.logs.String())
	}
}

func TestReadState(t *testing.T) {
	f := newFixture(t)
	if status, body := f.call(t, "GET", "/v1/rooms/nobody-here/beam", f.mgmt, ""); status != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("unknown room: %d %s", status, body)
	}
	// A room with peers and nothing ever started has the empty state.
	status, body := f.call(t, "GET", "/v1/rooms/live/beam", f.mgmt, "")
	var st roomcast.BeamState
	if status != 200 || json.Unmarshal([]byte(body), &st) != nil || st.RTMP.State != roomcast.StreamingStateNone || st.RTMP.Destinations == nil {
		t.Errorf("live room: %d %s", status, body)
	}
	if status, _ := f.call(t, "GET", "/v1/nope", f.mgmt, ""); status != 404 {
		t.Errorf("unknown route: %d", status)
	}
}

func TestTrackRecordingRoutes(t *testing.T) {
	f := newFixture(t)
	const start, stop = "/v1/rooms/live/track-recording/start", "/v1/rooms/live/track-recording/stop"
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		want                      string
	}{
		{"no token", "POST", start, "", 401, "unauthenticated"},
		{"guest may not", "POST", start, f.join(t, "live", room.Guest), 403, "permission_denied"},
		{"host of another room", "POST", start, f.join(t, "other", room.Host), 403, "permission_denied"},
		{"stop with none running", "POST", stop, f.mgmt, 200, `"message":"track recording is not running"`},
		{"start", "POST", start, f.mgmt, 202, `"server":{"running":true`},
		{"start again", "POST", start, f.join(t, "live", room.Host), 409, "conflict"},
		{"beam start alongside", "POST", "/v1/rooms/live/beam/start", f.mgmt, 202, `"browser":{"running":false,"state":"starting"`},
		{"stop", "POST", stop, f.join(t, "live", room.Host), 200, `"server":{"running":false,"startedAt"`},
		{"beam still running", "GET", "/v1/rooms/live/beam", f.mgmt, 200, `"browser":{"running":false,"state":"starting"`},
	} {
		body := ""
		if strings.HasSuffix(tc.path, "beam/start") {
			body = `{"record": true}`
		}
		status, got := f.call(t, tc.method, tc.path, tc.token, body)
		if status != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %d %s, want %d containing %s", tc.name, status, got, tc.status, tc.want)
		}
	}
}
