// Package auth issues and verifies roomcast's signed tokens (HS256 JWTs) and
// manages the server secret they are signed with.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Claims are the claims of a roomcast token. A join token names a room, an
// identity and a role; a management token has Management set and no room.
type Claims struct {
	Room       string    `json:"room,omitempty"`
	Role       room.Role `json:"role,omitempty"`
	Management bool      `json:"mgmt,omitempty"`
	jwt.RegisteredClaims
}

// Identity is the peer's identity (the JWT subject).
func (c *Claims) Identity() string { return c.Subject }

// Signer signs and verifies tokens with one secret.
type Signer struct {
	secret []byte
	now    func() time.Time
}

// NewSigner returns a Signer for secret, which must be at least 16 bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("auth: secret must be at least 16 bytes")
	}
	return &Signer{secret: secret, now: time.Now}, nil
}

// JoinToken returns a token for identity to join roomName with role, valid for ttl.
func (s *Signer) JoinToken(roomName, identity string, role room.Role, ttl time.Duration) (string, error) {
	if roomName == "" || identity == "" {
		return "", errors.New("auth: room and identity are required")
	}
	if _, err := room.ParseRole(string(role)); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	return s.sign(roomcast.TokenClaims{Room: roomName, Role: string(role), RegisteredClaims: s.registered(identity, ttl)})
}

// ManagementToken returns a token for the server API, valid for ttl.
func (s *Signer) ManagementToken(ttl time.Duration) (string, error) {
	return s.sign(roomcast.TokenClaims{Management: true, RegisteredClaims: s.registered("management", ttl)})
}

func (s *Signer) registered(subject string, ttl time.Duration) jwt.RegisteredClaims {
	now := s.now()
	return jwt.RegisteredClaims{
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
}

// sign signs as the Go SDK does (roomcast.SignToken): a backend's
// tokens and the server's are the same.
func (s *Signer) sign(c roomcast.TokenClaims) (string, error) {
	tok, err := roomcast.SignToken(s.secret, c)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	return tok, nil
}

// Verify checks the token's signature and expiry and returns its claims. The
// error is an *rcerr.Error with code unauthenticated and a reason a person can
// act on.
func (s *Signer) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, rcerr.Wrap(rcerr.Unauthenticated, err, "token expired; ask for a new one")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, rcerr.Wrap(rcerr.Unauthenticated, err, "token signature invalid; it was not signed by this server")
	default:
		return nil, rcerr.Wrap(rcerr.Unauthenticated, err, "token malformed or invalid")
	}
	if !c.Management {
		if c.Room == "" || c.Subject == "" {
			return nil, rcerr.New(rcerr.Unauthenticated, "token has no room or identity")
		}
		if _, err := room.ParseRole(string(c.Role)); err != nil {
			return nil, rcerr.Wrap(rcerr.Unauthenticated, err, "token has an unknown role")
		}
	}
	return &c, nil
}

// VerifyJoin verifies a join token for roomName.
func (s *Signer) VerifyJoin(token, roomName string) (*Claims, error) {
	c, err := s.Verify(token)
	if err != nil {
		return nil, err
	}
	if c.Management {
		return nil, rcerr.New(rcerr.PermissionDenied, "a management token cannot join a room; use a join token")
	}
	if c.Room != roomName {
		return nil, rcerr.New(rcerr.PermissionDenied, "token is for room %q, not %q", c.Room, roomName)
	}
	return c, nil
}
