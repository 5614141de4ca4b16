package app

import (
	"context"

	"github.com/roomcast/roomcast/internal/beam"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/rcerr"
)

// Runner returns what the local worker runs jobs with. The composite
// worker (Chromium on a virtual display, one encode, RTMP fan-out) is not
// built yet; until it is, a job fails at once with a message saying so
// instead of pretending to stream.
func Runner() control.Runner {
	return control.RunnerFunc(func(context.Context, beam.Job, func(beam.Progress)) error {
		return rcerr.New(rcerr.Unavailable, "this roomcast build has no composite worker yet; streaming and recording cannot run")
	})
}
