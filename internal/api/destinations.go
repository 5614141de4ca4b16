package api

import (
	"context"
	"net/http"
	"strconv"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Destinations changes a running job's RTMP destinations and layout
// (control.Controller).
type Destinations interface {
	AddDestination(ctx context.Context, room, rawURL string) (roomcast.BeamState, error)
	RemoveDestination(ctx context.Context, room string, index int) (roomcast.BeamState, error)
	SetLayout(ctx context.Context, room string, l roomcast.Layout) (roomcast.BeamState, error)
}

// WithDestinations serves POST /v1/rooms/{room}/beam/destinations,
// DELETE .../destinations/{index} and POST .../beam/layout (who may start
// and stop may change them); call it before Register.
func (a *API) WithDestinations(d Destinations) *API {
	a.dests = d
	return a
}

func (a *API) registerDestinations(mux *http.ServeMux) {
	if a.dests == nil {
		return
	}
	mux.HandleFunc("POST /v1/rooms/{room}/beam/destinations", a.route(startStop, func(w http.ResponseWriter, r *http.Request) error {
		var p roomcast.DestinationParams
		if err := decodeBody(r, &p); err != nil {
			return err
		}
		if p.URL == "" {
			return rcerr.New(rcerr.InvalidArgument, "url: required, the rtmp:// or rtmps:// URL to stream to as well")
		}
		st, err := a.dests.AddDestination(r.Context(), r.PathValue("room"), p.URL)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}))
	mux.HandleFunc("POST /v1/rooms/{room}/beam/layout", a.route(startStop, func(w http.ResponseWriter, r *http.Request) error {
		var p roomcast.LayoutParams
		if err := decodeBody(r, &p); err != nil {
			return err
		}
		st, err := a.dests.SetLayout(r.Context(), r.PathValue("room"), p.Layout)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}))
	mux.HandleFunc("DELETE /v1/rooms/{room}/beam/destinations/{index}", a.route(startStop, func(w http.ResponseWriter, r *http.Request) error {
		i, err := strconv.Atoi(r.PathValue("index"))
		if err != nil || i < 0 {
			return rcerr.New(rcerr.InvalidArgument, "index: %q is not a destination's place (0, 1 or 2, as the state lists them)", r.PathValue("index"))
		}
		st, err := a.dests.RemoveDestination(r.Context(), r.PathValue("room"), i)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	}))
}
