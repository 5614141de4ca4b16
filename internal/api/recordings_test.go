package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

const mp4Bytes = "\x00\x00\x00\x18ftypisom-not-really-a-movie"

// newRecordingsFixture serves only the recordings routes over a store with
// a ready recording in room "a" (returned first), a ready one in room "b"
// and one still recording in "a".
func newRecordingsFixture(t *testing.T) (f *fixture, ready, other, live string) {
	t.Helper()
	store, err := recordings.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ready = addRecording(t, store, "a", t0, true)
	other = addRecording(t, store, "b", t0.Add(time.Minute), true)
	live = addRecording(t, store, "a", t0.Add(2*time.Minute), false)

	signer, _ := auth.NewSigner([]byte("recordings-test-secret-0123456789"))
	mux := http.NewServeMux()
	New(nil, nil, signer, slog.New(slog.DiscardHandler)).WithRecordings(recordings.Local{Store: store}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mgmt, _ := signer.ManagementToken(time.Hour)
	return &fixture{url: srv.URL, signer: signer, mgmt: mgmt}, ready, other, live
}

func addRecording(t *testing.T, s *recordings.Store, roomName string, at time.Time, finish bool) string {
	t.Helper()
	id, dir, err := s.Begin(roomName, roomcast.RecordingKindComposite, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "composite.mp4"), []byte(mp4Bytes), 0o640); err != nil {
		t.Fatal(err)
	}
	if finish {
		if err := s.Finish(id, 4.5); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func decodeRecordings[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return v
}

func TestListRecordings(t *testing.T) {
	f, ready, other, live := newRecordingsFixture(t)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{live, other, ready}},
		{"?room=a", []string{live, ready}},
		{"?room=b", []string{other}},
		{"?room=nobody", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := f.call(t, "GET", "/v1/recordings"+tt.query, f.mgmt, "")
			recs := decodeRecordings[[]roomcast.Recording](t, body)
			var got []string
			for _, r := range recs {
				got = append(got, r.ID)
			}
			if status != 200 || strings.Join(got, ",") != strings.Join(tt.want, ",") || strings.TrimSpace(body) == "null" {
				t.Errorf("status %d, ids %v, want 200 and %v; body %s", status, got, tt.want, body)
			}
		})
	}
}

func TestGetRecording(t *testing.T) {
	f, ready, _, _ := newRecordingsFixture(t)
	status, body := f.call(t, "GET", "/v1/recordings/"+ready, f.mgmt, "")
	rec := decodeRecordings[roomcast.Recording](t, body)
	want := []roomcast.RecordingFile{{Name: "composite.mp4", Size: int64(len(mp4Bytes))}}
	if status != 200 || rec.ID != ready || rec.Status != roomcast.RecordingPhaseReady || rec.Duration != 4.5 ||
		len(rec.Files) != 1 || rec.Files[0] != want[0] || rec.Size != want[0].Size {
		t.Errorf("GET recording: %d %s", status, body)
	}
}

func TestDownloadRecording(t *testing.T) {
	f, ready, _, _ := newRecordingsFixture(t)
	req, _ := http.NewRequest("GET", f.url+"/v1/recordings/"+ready+"/files/composite.mp4", nil)
	req.Header.Set("Authorization", "Bearer "+f.mgmt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != mp4Bytes {
		t.Errorf("download: %d, %q", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type = %q, want video/mp4", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=composite.mp4` {
		t.Errorf("Content-Disposition = %q", cd)
	}
}

func TestRecordingsNotFound(t *testing.T) {
	f, ready, _, live := newRecordingsFixture(t)
	tests := []struct{ name, path, want string }{
		{"unknown id", "/v1/recordings/0123456789abcdef01234567", "no recording"},
		{"malformed id", "/v1/recordings/not-an-id", "no recording"},
		{"unknown file", "/v1/recordings/" + ready + "/files/other.mp4", `no file \"other.mp4\"`},
		{"metadata file", "/v1/recordings/" + ready + "/files/recording.json", "no file"},
		{"escaped traversal", "/v1/recordings/" + ready + "/files/..%2F..%2Fsecret", "no file"},
		{"file of unknown id", "/v1/recordings/0123456789abcdef01234567/files/composite.mp4", "no recording"},
		{"file still recording", "/v1/recordings/" + live + "/files/composite.mp4", "still recording"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, "GET", tt.path, f.mgmt, "")
			if status != 404 || !strings.Contains(body, `"not_found"`) || !strings.Contains(body, tt.want) {
				t.Errorf("GET %s: %d %s, want 404 not_found with %q", tt.path, status, body, tt.want)
			}
		})
	}
}

func TestRecordingsAuth(t *testing.T) {
	f, ready, _, _ := newRecordingsFixture(t)
	host := f.join(t, "a", room.Host)
	one, file := "/v1/recordings/"+ready, "/v1/recordings/"+ready+"/files/composite.mp4"
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"list without token", "GET", "/v1/recordings", "", 401},
		{"get with garbage token", "GET", one, "not-a-jwt", 401},
		{"list with host join token", "GET", "/v1/recordings?room=a", host, 403},
		{"get with host join token", "GET", one, host, 403},
		{"download with host join token", "GET", file, host, 403},
		{"delete with host join token", "DELETE", one, host, 403},
		{"download without token", "GET", file, "", 401},
		{"list with management", "GET", "/v1/recordings", f.mgmt, 200},
		{"get with management", "GET", one, f.mgmt, 200},
		{"download with management", "GET", file, f.mgmt, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := f.call(t, tt.method, tt.path, tt.token, ""); status != tt.status {
				t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, status, body, tt.status)
			}
		})
	}
}

func TestDeleteRecording(t *testing.T) {
	f, ready, _, live := newRecordingsFixture(t)
	status, body := f.call(t, "DELETE", "/v1/recordings/"+live, f.mgmt, "")
	if status != 409 || !strings.Contains(body, "stop the recording first") {
		t.Errorf("delete while recording: %d %s, want 409", status, body)
	}
	status, body = f.call(t, "DELETE", "/v1/recordings/"+ready, f.mgmt, "")
	if status != 200 || !strings.Contains(body, `"message":"deleted"`) {
		t.Errorf("delete: %d %s", status, body)
	}
	for _, p := range []string{"/v1/recordings/" + ready, "/v1/recordings/" + ready + "/files/composite.mp4"} {
		if status, body := f.call(t, "GET", p, f.mgmt, ""); status != 404 {
			t.Errorf("GET %s after delete: %d %s, want 404", p, status, body)
		}
	}
	if status, body := f.call(t, "DELETE", "/v1/recordings/"+ready, f.mgmt, ""); status != 404 {
		t.Errorf("second delete: %d %s, want 404", status, body)
	}
	status, body = f.call(t, "GET", "/v1/recordings", f.mgmt, "")
	if status != 200 || strings.Contains(body, ready) || !strings.Contains(body, live) {
		t.Errorf("list after delete: %d %s", status, body)
	}
}
