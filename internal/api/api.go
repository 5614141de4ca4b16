// Package api serves roomcast's REST API under /v1 (SPEC §7): start and
// stop streaming and recording for a room and read its state. Every error
// body is {"code","message"}; stream keys never appear in answers.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// maxBody bounds a request body.
const maxBody = 64 << 10

// Beams starts and stops streaming and recording; control.Controller is one.
type Beams interface {
	Start(ctx context.Context, room string, p roomcast.StartParams) (roomcast.BeamState, error)
	Stop(ctx context.Context, room string) (roomcast.BeamState, error)
	State(ctx context.Context, room string) (roomcast.BeamState, uint64, error)
	StartTracks(ctx context.Context, room string) (roomcast.BeamState, error)
	StopTracks(ctx context.Context, room string) (roomcast.BeamState, error)
}

// Rooms says whether a room has peers now (rooms never started and empty
// are unknown: 404 on read).
type Rooms interface {
	Has(room string) bool
}

// API is the /v1 handler set.
type API struct {
	beams  Beams
	rooms  Rooms
	signer *auth.Signer
	log    *slog.Logger
	recs   *recordings.Store
	remote RemoteFiles // nil unless recordings go to object storage
}

// New returns the API.
func New(beams Beams, rooms Rooms, signer *auth.Signer, log *slog.Logger) *API {
	return &API{beams: beams, rooms: rooms, signer: signer, log: log}
}

//go:embed openapi.json
var openAPI []byte

// Register adds the /v1 routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/rooms/{room}/beam/start", a.auth(true, a.start))
	mux.HandleFunc("POST /v1/rooms/{room}/beam/stop", a.auth(true, a.stop))
	mux.HandleFunc("GET /v1/rooms/{room}/beam", a.auth(false, a.state))
	mux.HandleFunc("POST /v1/rooms/{room}/track-recording/start", a.auth(true, a.startTracks))
	mux.HandleFunc("POST /v1/rooms/{room}/track-recording/stop", a.auth(true, a.stopTracks))
	a.registerRecordings(mux)
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, rcerr.New(rcerr.NotFound, "no such API route: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
	})
}

// auth accepts the management token, or a join token for the room in the
// path; with startStop, the join token's role must be allowed to start/stop.
// It runs before anything reads the body, and a refusal is not kept waiting
// for it (refuse).
func (a *API) auth(startStop bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			refuse(w, r, rcerr.New(rcerr.Unauthenticated, "missing Authorization: Bearer <token>; mint one with `roomcast token --management`"))
			return
		}
		c, err := a.signer.Verify(tok)
		if err != nil {
			refuse(w, r, err)
			return
		}
		if !c.Management {
			roomName := r.PathValue("room")
			switch {
			case c.Room != roomName:
				refuse(w, r, rcerr.New(rcerr.PermissionDenied, "token is for room %q, not %q", c.Room, roomName))
				return
			case startStop && !c.Role.Permissions().StartStop:
				refuse(w, r, rcerr.New(rcerr.PermissionDenied, "role %q may not start or stop streaming and recording (host may)", c.Role))
				return
			}
		}
		next(w, r)
	}
}

// refuse answers a request with err without reading its body, and closes
// the connection after the answer. Left to itself, net/http reads up to
// 256 KiB of an unread body before it sends the answer, so a client with no
// token sending a byte a second would hold the connection and never hear
// "401"; Connection: close makes it answer first, and the past read
// deadline makes its cleanup read fail at once instead of draining the rest.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		// Not every ResponseWriter has deadlines (httptest.ResponseRecorder);
		// without one the answer is still sent first.
		http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	writeError(w, err)
}

func (a *API) start(w http.ResponseWriter, r *http.Request) {
	var p roomcast.StartParams
	if err := decodeBody(r, &p); err != nil {
		writeError(w, err)
		return
	}
	st, err := a.beams.Start(r.Context(), r.PathValue("room"), p)
	if err != nil {
		a.logFailure(r, err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (a *API) stop(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, http.StatusOK, a.beams.Stop)
}

func (a *API) startTracks(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, http.StatusAccepted, a.beams.StartTracks)
}

func (a *API) stopTracks(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, http.StatusOK, a.beams.StopTracks)
}

// respond runs a body-less room action and writes its state with status.
func (a *API) respond(w http.ResponseWriter, r *http.Request, status int, action func(context.Context, string) (roomcast.BeamState, error)) {
	st, err := action(r.Context(), r.PathValue("room"))
	if err != nil {
		a.logFailure(r, err)
		writeError(w, err)
		return
	}
	writeJSON(w, status, st)
}

func (a *API) state(w http.ResponseWriter, r *http.Request) {
	roomName := r.PathValue("room")
	st, rev, err := a.beams.State(r.Context(), roomName)
	if err != nil {
		writeError(w, err)
		return
	}
	if rev == 0 && !a.rooms.Has(roomName) {
		writeError(w, rcerr.New(rcerr.NotFound, "room %q has no peers and never streamed or recorded", roomName))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *API) logFailure(r *http.Request, err error) {
	if code, _ := rcerr.Public(err); code == rcerr.Internal || code == rcerr.Unavailable {
		a.log.Warn("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// decodeBody reads a JSON object into v; unknown fields and wrong types are
// errors naming the field.
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return rcerr.New(rcerr.InvalidArgument, "body must be JSON (Content-Type: application/json), got %q", ct)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		if dec.More() {
			return rcerr.New(rcerr.InvalidArgument, "body must be one JSON object")
		}
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server's read deadline passed (serve allows a request 10 s).
		return rcerr.Wrap(rcerr.InvalidArgument, err, "the request body did not arrive in time; send it all at once")
	case errors.Is(err, io.EOF):
		return rcerr.New(rcerr.InvalidArgument, "body is empty; send a JSON object")
	case errors.As(err, &typeErr):
		return rcerr.New(rcerr.InvalidArgument, "%s: must be %s, got %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return rcerr.New(rcerr.InvalidArgument, "body is not valid JSON (at byte %d)", syntaxErr.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return rcerr.New(rcerr.InvalidArgument, "body is not valid JSON (it ends early)")
	case errors.As(err, &tooBig):
		return rcerr.New(rcerr.InvalidArgument, "body is larger than %d bytes", maxBody)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return rcerr.New(rcerr.InvalidArgument, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return rcerr.Wrap(rcerr.InvalidArgument, err, "body is not a valid request")
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "a number"
	}
	return "a " + goKind
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code, msg := rcerr.Public(err)
	writeJSON(w, code.HTTPStatus(), roomcast.Error{Code: string(code), Message: msg})
}

// RoomsFunc adapts a function to Rooms.
type RoomsFunc func(room string) bool

// Has calls f.
func (f RoomsFunc) Has(room string) bool { return f(room) }
