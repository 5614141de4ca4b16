package rtmpclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Kind is what went wrong, in terms of what a person can do about it.
type Kind string

// Kinds of failure: the codes destinations report (roomcast.DestinationErrorCode).
const (
	// Rejected: the ingest refused the publish (a wrong or expired stream
	// key, a stream already live on it). Retrying will not help.
	Rejected = Kind(roomcast.DestinationKeyRejected)
	// Unreachable: no connection to host:port (DNS, refused, timeout).
	Unreachable = Kind(roomcast.DestinationUnreachable)
	// TLSUntrusted: the rtmps server's certificate is not trusted for the
	// host (unknown authority, wrong name, expired).
	TLSUntrusted = Kind(roomcast.DestinationTLSUntrusted)
	// Lost: the connection broke after it was up.
	Lost = Kind(roomcast.DestinationLost)
	// Protocol: the server spoke RTMP in a way this client cannot follow.
	Protocol = Kind(roomcast.DestinationProtocol)
)

// Error is a classified failure. Its text never holds the stream key
// (only host:port and the server's own words).
type Error struct {
	Kind Kind
	Addr string // host:port
	Err  error
}

func (e *Error) Error() string {
	switch e.Kind {
	case Rejected:
		return fmt.Sprintf("the ingest at %s refused the stream key (%v); check the key", e.Addr, e.Err)
	case Unreachable:
		return fmt.Sprintf("cannot reach %s: %v", e.Addr, e.Err)
	case TLSUntrusted:
		return fmt.Sprintf("the TLS certificate of %s is not trusted: %v", e.Addr, e.Err)
	case Lost:
		return fmt.Sprintf("the connection to %s broke: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Addr, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's Kind, or Lost when err is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Lost
}

func classifyTLS(addr string, err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return &Error{Kind: TLSUntrusted, Addr: addr, Err: err}
	}
	return &Error{Kind: Unreachable, Addr: addr, Err: fmt.Errorf("TLS handshake: %w", err)}
}

// isHangup is the server ending the connection.
func isHangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// status reads an onStatus's level and code.
func status(cmd *message.CommandAMF0) (level, code string) {
	for _, a := range cmd.Arguments {
		if o, ok := a.(amf0.Object); ok {
			level, _ = o.GetString("level")
			code, _ = o.GetString("code")
		}
	}
	return level, code
}

// describe is what the server said: its code and description.
func describe(cmd *message.CommandAMF0) string {
	var parts []string
	for _, a := range cmd.Arguments {
		if o, ok := a.(amf0.Object); ok {
			for _, k := range []string{"code", "description"} {
				if v, ok := o.GetString(k); ok && v != "" {
					parts = append(parts, v)
				}
			}
		}
	}
	if len(parts) == 0 {
		return cmd.Name
	}
	return strings.Join(parts, ": ")
}

func lastNumber(args []any) (float64, bool) {
	for i := len(args) - 1; i >= 0; i-- {
		if n, ok := args[i].(float64); ok {
			return n, true
		}
	}
	return 0, false
}
