package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		path, status, ctype, contains string
	}{
		{"/", "200", "text/html", "roomcast token --management"},
		{"/meet/demo?token=x", "200", "text/html", `id="join"`},
		{"/meet/with%20space", "200", "text/html", `src="/static/meet.js"`},
		{"/sdk/roomcast.js", "200", "text/javascript", "export function createClient"},
		{"/sdk/roomcast.d.ts", "200", "application/typescript", "export declare function createClient"},
		{"/static/meet.js", "200", "text/javascript", "from '/sdk/roomcast.js'"},
		{"/static/meet.css", "200", "text/css", "body.beam"},
		{"/static/nope.js", "404", "", ""},
		{"/meet/", "404", "", ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Status[:3]; got != tt.status {
			t.Errorf("GET %s: status %s, want %s", tt.path, got, tt.status)
			continue
		}
		if tt.status != "200" {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.ctype)
		}
		// Scripts and styles are revalidated (pages: TestFinding6...).
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(tt.ctype, "text/html") && cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tt.path, cc)
		}
		if !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.contains)
		}
	}
}

// The SDK exports the names the seed and SPEC §3 fix.
// Issue 13 finding 6: the pages (a meeting page's URL carries a join
// token) are never stored, have a Content-Security-Policy and cannot be
// framed.
func TestFinding6MeetingPagesAreNotStoredOrFramed(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, path := range []string{"/", "/meet/demo?token=x"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") ||
			!strings.Contains(csp, "connect-src 'self' ws: wss:") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q, want DENY", path, xfo)
		}
	}
}

func TestSDKExportsContractNames(t *testing.T) {
	b, err := static.ReadFile("static/sdk/roomcast.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"export function createClient", "export class RoomcastError",
		"export const RecordingState", "export const StreamingState",
		"export const selectRecordingState", "export const selectRTMPState",
		"export const selectPeers", "export const selectTracksByPeer",
		"'none'", "'started'", "'stopped'", "'failed'",
	} {
		if !strings.Contains(string(b), name) {
			t.Errorf("roomcast.js lacks %q", name)
		}
	}
}
