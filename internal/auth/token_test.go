package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

func newSigner(t *testing.T, secret string) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyJoin(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123")
	other := newSigner(t, "another-secret-of-16+")
	good, _ := s.JoinToken("demo", "alice", room.Host, time.Hour)
	forged, _ := other.JoinToken("demo", "alice", room.Host, time.Hour)
	expired, _ := s.JoinToken("demo", "alice", room.Host, -time.Minute)
	mgmt, _ := s.ManagementToken(time.Hour)

	tests := []struct {
		name     string
		token    string
		room     string
		wantCode rcerr.Code
		wantMsg  string
	}{
		{"valid", good, "demo", "", ""},
		{"bad signature", forged, "demo", rcerr.Unauthenticated, "signature"},
		{"expired", expired, "demo", rcerr.Unauthenticated, "expired"},
		{"wrong room", good, "other", rcerr.PermissionDenied, `for room "demo"`},
		{"garbage", "not-a-jwt", "demo", rcerr.Unauthenticated, "malformed"},
		{"empty", "", "demo", rcerr.Unauthenticated, "malformed"},
		{"management cannot join", mgmt, "demo", rcerr.PermissionDenied, "management"},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb29tIjoiZGVtbyIsInJvbGUiOiJob3N0Iiwic3ViIjoiYSIsImV4cCI6OTk5OTk5OTk5OX0.", "demo", rcerr.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.VerifyJoin(tt.token, tt.room)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("VerifyJoin: %v", err)
				}
				if c.Identity() != "alice" || c.Role != room.Host {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			code, msg := rcerr.Public(err)
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("got %s %q, want %s containing %q", code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestJoinTokenRejectsBadInput(t *testing.T) {
	s := newSigner(t, "0123456789abcdef0123")
	if _, err := s.JoinToken("", "a", room.Host, time.Hour); err == nil {
		t.Error("empty room accepted")
	}
	if _, err := s.JoinToken("r", "a", room.Role("root"), time.Hour); err == nil {
		t.Error("unknown role accepted")
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
}

func TestLoadSecret(t *testing.T) {
	t.Setenv(SecretEnv, "")
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := LoadSecret(dir, false); err == nil {
		t.Fatal("missing secret without create succeeded")
	}
	first, err := LoadSecret(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadSecret(dir, false)
	if err != nil || string(again) != string(first) {
		t.Fatalf("second load = %q, %v; want %q", again, err, first)
	}
	fi, err := os.Stat(filepath.Join(dir, secretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, %v", fi.Mode(), err)
	}
	t.Setenv(SecretEnv, "from-the-environment")
	env, _ := LoadSecret(dir, false)
	if string(env) != "from-the-environment" {
		t.Errorf("env override ignored: %q", env)
	}
}

// A backend mints tokens with the Go SDK (no claims re-implemented): the
// server takes its join token for that room only, with its identity and
// role, and its management token for the API; the SDK refuses a bad role
// or a short secret.
func TestGoSDKTokensAreTheServers(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	s, err := NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := roomcast.NewJoinToken(secret, "demo", "ada", roomcast.RoleHost, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.VerifyJoin(tok, "demo")
	if err != nil || c.Identity() != "ada" || c.Role != room.Host || c.Management {
		t.Fatalf("SDK join token: %+v, %v", c, err)
	}
	if _, err := s.VerifyJoin(tok, "other"); err == nil {
		t.Error("the SDK's token for demo opens another room")
	}
	mgmt, err := roomcast.NewManagementToken(secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Verify(mgmt); err != nil || !c.Management {
		t.Errorf("SDK management token: %+v, %v", c, err)
	}
	if _, err := roomcast.NewJoinToken(secret, "demo", "ada", "admin", time.Hour); err == nil {
		t.Error("the SDK minted a token with role admin")
	}
	if _, err := roomcast.NewManagementToken([]byte("short"), time.Hour); err == nil {
		t.Error("the SDK signed with a 5-byte secret")
	}
}
