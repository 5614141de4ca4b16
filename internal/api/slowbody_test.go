package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/testkit"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// TestFinding5SlowBodyWithoutTokenGets401: a client announcing a 60000-byte
// body and sending a byte a second is refused at once (401 without a
// token, 403 with a guest's), told Connection: close, and the connection is
// closed rather than kept to drain the body.
func TestFinding5SlowBodyWithoutTokenGets401(t *testing.T) {
	signer, _ := auth.NewSigner([]byte("api-test-secret-0123456789"))
	guest, _ := signer.JoinToken("R", "someone", room.Guest, time.Hour)
	mux := http.NewServeMux()
	// No controller: a refused request never reaches it.
	New(nil, RoomsFunc(func(string) bool { return false }), signer, slog.New(slog.DiscardHandler)).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tests := []struct {
		name, auth, code string
		status           int
	}{
		{"no token", "", "unauthenticated", http.StatusUnauthorized},
		{"guest token", "Authorization: Bearer " + guest + "\r\n", "permission_denied", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, br := testkit.SlowPost(t, srv.Listener.Addr().String(), "/v1/rooms/R/beam/start", tt.auth)
			start := time.Now()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer within 3 s: %v", err)
			}
			var e roomcast.Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != tt.status || e.Code != tt.code {
				t.Errorf("got %d %+v (%v); want %d %s", resp.StatusCode, e, err, tt.status, tt.code)
			}
			if !resp.Close {
				t.Error("the answer does not say Connection: close")
			}
			if !testkit.Closed(br) {
				t.Errorf("the connection is still open %v after the answer", time.Since(start).Round(time.Millisecond))
			}
		})
	}
}
