package jobs

import (
	"log/slog"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Outcome is how a job ended: stopped, with the reason the state shows, or
// failed, with the error whose public message the state shows. The zero
// Outcome is a stop on request.
type Outcome struct {
	// Reason says why the job stopped ("" is a stop on request).
	Reason string
	// Err, when set, failed the job; Reason is then unused.
	Err error
}

// Stopped is a job that ended without failing, for reason.
func Stopped(reason string) Outcome { return Outcome{Reason: reason} }

// Failed is a job that ended because of err.
func Failed(err error) Outcome { return Outcome{Err: err} }

// Failed says whether the job failed.
func (o Outcome) Failed() bool { return o.Err != nil }

// reason is the stop reason the state shows.
func (o Outcome) reason() string {
	if o.Reason == "" {
		return ReasonRequest
	}
	return o.Reason
}

// LogValue logs the outcome as its String (an error's text included).
func (o Outcome) LogValue() slog.Value { return slog.StringValue(o.String()) }

// String is for logs.
func (o Outcome) String() string {
	if o.Err != nil {
		return "failed: " + o.Err.Error()
	}
	return "stopped: " + o.reason()
}

// public is the error the state shows, nil for a stop.
func (o Outcome) public() *roomcast.Error {
	if o.Err == nil {
		return nil
	}
	code, msg := rcerr.Public(o.Err)
	return &roomcast.Error{Code: string(code), Message: msg}
}
