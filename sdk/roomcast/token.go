package roomcast

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles a join token may carry: host (publishes, starts and stops
// streaming and recording), guest (publishes), viewer (watches), beam
// (the bot: watches, hidden).
const (
	RoleHost   = "host"
	RoleGuest  = "guest"
	RoleViewer = "viewer"
	RoleBeam   = "beam"
)

// TokenClaims are a roomcast token's claims, an HS256 JWT signed with the
// server's secret: a join token names a room, an identity (the subject)
// and a role; a management token, for the HTTP API, has Management.
type TokenClaims struct {
	Room       string `json:"room,omitempty"`
	Role       string `json:"role,omitempty"`
	Management bool   `json:"mgmt,omitempty"`
	jwt.RegisteredClaims
}

// NewJoinToken mints a token for identity to join room with role, valid
// for ttl, as a backend hands it to its user's browser (the meeting app's
// ?token=, or the browser SDK's join). secret is the server's secret
// (ROOMCAST_SECRET, or the secret file in serve's data directory).
func NewJoinToken(secret []byte, room, identity, role string, ttl time.Duration) (string, error) {
	if room == "" || identity == "" {
		return "", errors.New("roomcast: room and identity are required")
	}
	switch role {
	case RoleHost, RoleGuest, RoleViewer, RoleBeam:
	default:
		return "", fmt.Errorf("roomcast: role %q: want host, guest, viewer or beam", role)
	}
	return SignToken(secret, TokenClaims{Room: room, Role: role, RegisteredClaims: registered(identity, ttl, time.Now())})
}

// NewManagementToken mints a token for the HTTP API (NewClient), valid for
// ttl.
func NewManagementToken(secret []byte, ttl time.Duration) (string, error) {
	return SignToken(secret, TokenClaims{Management: true, RegisteredClaims: registered("management", ttl, time.Now())})
}

// SignToken signs c with secret (at least 16 bytes).
func SignToken(secret []byte, c TokenClaims) (string, error) {
	if len(secret) < 16 {
		return "", errors.New("roomcast: the secret must be at least 16 bytes")
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("roomcast: sign token: %w", err)
	}
	return tok, nil
}

func registered(subject string, ttl time.Duration, now time.Time) jwt.RegisteredClaims {
	return jwt.RegisteredClaims{Subject: subject, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}
}
