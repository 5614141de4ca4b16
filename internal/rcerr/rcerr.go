// Package rcerr defines roomcast's error codes and how each maps to an HTTP
// status and a signaling error. The codes' values are defined in the SDK
// (sdk/roomcast), where clients can name them; their meaning lives here.
package rcerr

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Code is a stable, machine-readable error class shown to API and SDK users.
type Code string

// The fixed set of codes; their values are the SDK's (roomcast.Code*), so
// a program using the SDK can name every code it receives.
const (
	InvalidArgument   Code = roomcast.CodeInvalidArgument
	Unauthenticated   Code = roomcast.CodeUnauthenticated
	PermissionDenied  Code = roomcast.CodePermissionDenied
	NotFound          Code = roomcast.CodeNotFound
	Conflict          Code = roomcast.CodeConflict
	ResourceExhausted Code = roomcast.CodeResourceExhausted
	Unavailable       Code = roomcast.CodeUnavailable
	Destination       Code = roomcast.CodeDestination
	Internal          Code = roomcast.CodeInternal
)

// httpStatus maps each code to its HTTP status.
var httpStatus = map[Code]int{
	InvalidArgument:   http.StatusBadRequest,
	Unauthenticated:   http.StatusUnauthorized,
	PermissionDenied:  http.StatusForbidden,
	NotFound:          http.StatusNotFound,
	Conflict:          http.StatusConflict,
	ResourceExhausted: http.StatusTooManyRequests,
	Unavailable:       http.StatusServiceUnavailable,
	Destination:       http.StatusBadGateway,
	Internal:          http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status for c; unknown codes are 500.
func (c Code) HTTPStatus() int {
	if s, ok := httpStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an error with a code, a message safe to show a user, and a cause
// that is only ever logged.
type Error struct {
	Code Code
	Msg  string
	Err  error
	// Status, when set, is the HTTP status instead of the code's (no
	// worker can take a job: resource_exhausted as 503, try again).
	Status int
}

// NoCapacity is resource_exhausted answered as 503: nothing is wrong with
// the request, there is no room for it now.
func NoCapacity(format string, args ...any) *Error {
	e := New(ResourceExhausted, format, args...)
	e.Status = http.StatusServiceUnavailable
	return e
}

// StatusOf is the HTTP status to answer err with.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) && e.Status != 0 {
		return e.Status
	}
	code, _ := Public(err)
	return code.HTTPStatus()
}

// New returns an *Error with a user-facing message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with a user-facing message and a logged-only cause.
func Wrap(code Code, err error, msg string) *Error {
	return &Error{Code: code, Msg: msg, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Public returns the code and user-safe message of err. Errors that are not an
// *Error are internal and their text is never shown.
func Public(err error) (Code, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, e.Msg
	}
	return Internal, "internal error; see the server log"
}
