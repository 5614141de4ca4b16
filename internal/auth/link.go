package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
)

// A signed link lets a browser fetch one path without a token (a <video
// src> cannot send one): HMAC-SHA256 of the path and its expiry, keyed
// with a key derived from the secret for links only.

// SignLink returns the query ("exp=…&sig=…") that opens path until exp.
func (s *Signer) SignLink(path string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "exp=" + e + "&sig=" + s.linkMAC(path, e)
}

// VerifyLink checks a signed link's exp and sig for path.
func (s *Signer) VerifyLink(path, exp, sig string) error {
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return rcerr.New(rcerr.Unauthenticated, "the link's exp is not a time; ask for a new link")
	}
	if !hmac.Equal([]byte(sig), []byte(s.linkMAC(path, exp))) {
		return rcerr.New(rcerr.Unauthenticated, "the link's signature does not match; ask for a new link")
	}
	if s.now().After(time.Unix(sec, 0)) {
		return rcerr.New(rcerr.Unauthenticated, "the link has expired; ask for a new link")
	}
	return nil
}

func (s *Signer) linkMAC(path, exp string) string {
	m := hmac.New(sha256.New, []byte(Derive(s.secret, "links")))
	m.Write([]byte(path + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil))
}
