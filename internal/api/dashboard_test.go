package api

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// POST /v1/tokens mints a join token the server takes, with the meeting
// link; a bad body is 400 naming the field; a join token may not mint.
func TestMintJoinToken(t *testing.T) {
	f, _, _, _ := newRecordingsFixture(t)
	code, body := f.call(t, "POST", "/v1/tokens", f.mgmt, `{"room":"demo","identity":"ada","role":"guest"}`)
	tr := decodeRecordings[roomcast.TokenResponse](t, body)
	if code != 200 || !strings.HasPrefix(tr.URL, "/meet/demo?token=") || tr.ExpiresAt.IsZero() {
		t.Fatalf("mint: %d %s", code, body)
	}
	if c, err := f.signer.VerifyJoin(tr.Token, "demo"); err != nil || c.Identity() != "ada" || c.Role != room.Guest {
		t.Errorf("the minted token: %+v, %v", c, err)
	}
	for body, field := range map[string]string{
		`{"room":"demo","identity":"ada","role":"admin"}`:          "role",
		`{"room":"demo","identity":"","role":"guest"}`:             "identity",
		`{"room":"","identity":"ada","role":"guest"}`:              "room",
		`{"room":"demo","identity":"ada","role":"guest","ttl":-1}`: "ttl",
		`not json`: "body",
	} {
		if code, out := f.call(t, "POST", "/v1/tokens", f.mgmt, body); code != 400 || !strings.Contains(out, field) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, code, out, field)
		}
	}
	if code, _ := f.call(t, "POST", "/v1/tokens", tr.Token, `{"room":"demo","identity":"eve","role":"host"}`); code != 403 {
		t.Errorf("a guest's token minting a host's: %d, want 403", code)
	}
}

// A file link plays the file without a token, inline, with ranges; a
// tampered or foreign link is refused.
func TestRecordingFileLink(t *testing.T) {
	f, ready, other, _ := newRecordingsFixture(t)
	code, body := f.call(t, "POST", "/v1/recordings/"+ready+"/files/composite.mp4/link", f.mgmt, "")
	link := decodeRecordings[roomcast.FileLink](t, body)
	if code != 200 || !strings.Contains(link.URL, "sig=") {
		t.Fatalf("link: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", f.url+link.URL, nil)
	req.Header.Set("Range", "bytes=4-7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != mp4Bytes[4:8] || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") {
		t.Errorf("the link with a range: %d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Disposition"))
	}
	for name, u := range map[string]string{
		"tampered sig":      strings.Replace(link.URL, "sig=", "sig=0", 1),
		"another recording": strings.Replace(link.URL, ready, other, 1),
		"a later expiry":    strings.Replace(link.URL, "exp=", "exp=9", 1),
	} {
		if code, _ := f.call(t, "GET", u, "", ""); code != 401 {
			t.Errorf("%s: %d, want 401", name, code)
		}
	}
	if code, _ := f.call(t, "POST", "/v1/recordings/"+ready+"/files/nope.mp4/link", f.mgmt, ""); code != 404 {
		t.Errorf("a link to a missing file: %d, want 404", code)
	}
}

// GET /v1/session hands out a management token only on a loopback-only
// server (the fixture's is not).
func TestSessionOnlyOnLoopback(t *testing.T) {
	f, _, _, _ := newRecordingsFixture(t)
	if code, body := f.call(t, "GET", "/v1/session", "", ""); code != 403 || !strings.Contains(body, "management token") {
		t.Errorf("session on a server not marked loopback-only: %d %s", code, body)
	}
}
