package rcerr

import (
	"errors"
	"fmt"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code Code
		want int
	}{
		{InvalidArgument, 400},
		{Unauthenticated, 401},
		{PermissionDenied, 403},
		{NotFound, 404},
		{Conflict, 409},
		{ResourceExhausted, 429},
		{Internal, 500},
		{Destination, 502},
		{Unavailable, 503},
		{Code("bogus"), 500},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			if got := tt.code.HTTPStatus(); got != tt.want {
				t.Errorf("HTTPStatus() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestPublicHidesCause(t *testing.T) {
	cause := errors.New("secret detail")
	err := fmt.Errorf("outer: %w", Wrap(Conflict, cause, "already running"))
	code, msg := Public(err)
	if code != Conflict || msg != "already running" {
		t.Errorf("Public() = %q, %q", code, msg)
	}
	if !errors.Is(err, cause) {
		t.Error("cause not reachable with errors.Is")
	}
	code, msg = Public(cause)
	if code != Internal || msg == cause.Error() {
		t.Errorf("Public(plain) = %q, %q; want internal without the cause", code, msg)
	}
}
