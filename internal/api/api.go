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
	beams   Beams
	rooms   Rooms
	signer  *auth.Signer
	log     *slog.Logger
	recs    Recordings
	remote  RemoteFiles  // nil unless recordings go to object storage
	workers Workers      // nil: GET /v1/workers is not served
	list    RoomList     // nil: GET /v1/rooms is not served
	dests   Destinations // nil: destinations are fixed at start
	thumbs  Thumbnails   // nil: no thumbnail
	// loopback: GET /v1/session hands this machine a management token.
	loopback bool
}

// RoomList returns the live rooms with their visible peers, by name (the
// beam state is the API's to add).
type RoomList func(ctx context.Context) []roomcast.Room

// WithRoomList serves GET /v1/rooms (management token only): list's rooms
// with each one's beam state; call it before Register.
func (a *API) WithRoomList(list RoomList) *API {
	a.list = list
	return a
}

// Workers lists the job workers running now and drains one
// (control.Controller).
type Workers interface {
	Workers() []roomcast.Worker
	DrainWorker(ctx context.Context, id string) (roomcast.Worker, error)
}

// WithWorkers serves w's list at GET /v1/workers and a drain at POST
// /v1/workers/{id}/drain (management token only); call it before Register.
func (a *API) WithWorkers(w Workers) *API {
	a.workers = w
	return a
}

// New returns the API.
func New(beams Beams, rooms Rooms, signer *auth.Signer, log *slog.Logger) *API {
	return &API{beams: beams, rooms: rooms, signer: signer, log: log}
}

//go:embed openapi.json
var openAPI []byte

// Register adds the /v1 routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/rooms/{room}/beam/start", a.route(startStop, a.start))
	mux.HandleFunc("POST /v1/rooms/{room}/beam/stop", a.route(startStop, a.action(http.StatusOK, Beams.Stop)))
	mux.HandleFunc("GET /v1/rooms/{room}/beam", a.route(roomMember, a.state))
	mux.HandleFunc("POST /v1/rooms/{room}/track-recording/start", a.route(startStop, a.action(http.StatusAccepted, Beams.StartTracks)))
	mux.HandleFunc("POST /v1/rooms/{room}/track-recording/stop", a.route(startStop, a.action(http.StatusOK, Beams.StopTracks)))
	a.registerRecordings(mux)
	a.registerDestinations(mux)
	a.registerThumbnails(mux)
	if a.list != nil {
		mux.HandleFunc("GET /v1/rooms", a.route(management, a.listRooms))
	}
	if a.workers != nil {
		mux.HandleFunc("GET /v1/workers", a.route(management, func(w http.ResponseWriter, _ *http.Request) error {
			writeJSON(w, http.StatusOK, a.workers.Workers())
			return nil
		}))
		mux.HandleFunc("POST /v1/workers/{id}/drain", a.route(management, func(w http.ResponseWriter, r *http.Request) error {
			wk, err := a.workers.DrainWorker(r.Context(), r.PathValue("id"))
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusAccepted, wk)
			return nil
		}))
	}
	a.registerDashboard(mux)
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, rcerr.New(rcerr.NotFound, "no such API route: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
	})
}

// handler is an API handler: it writes its answer, or returns why it could
// not, and route answers that.
type handler func(w http.ResponseWriter, r *http.Request) error

// access is who may call a route.
type access int

const (
	roomMember       access = iota // the management token, or a join token for the room in the path
	startStop                      // as roomMember, and the join token's role may start and stop
	management                     // the management token only
	managementOrLink               // the management token, or a signed link to this very path (exp, sig: SignLink)
)

// route checks the caller's token for acc before anything reads the body
// (a refusal is not kept waiting for it: refuse), then runs h. An error h
// returns is written as the JSON error body with its code's status, and
// logged once when it is the server's fault (internal or unavailable).
func (a *API) route(acc access, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := a.allow(r, acc); err != nil {
			refuse(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			if code, _ := rcerr.Public(err); code == rcerr.Internal || code == rcerr.Unavailable {
				a.log.Warn("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, err)
		}
	}
}

// allow says why r's token may not call a route for acc, or nil.
func (a *API) allow(r *http.Request, acc access) error {
	if q := r.URL.Query(); acc == managementOrLink && q.Get("sig") != "" {
		return a.signer.VerifyLink(r.URL.EscapedPath(), q.Get("exp"), q.Get("sig"))
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return rcerr.New(rcerr.Unauthenticated, "missing Authorization: Bearer <token>; mint one with `roomcast token --management`")
	}
	c, err := a.signer.Verify(tok)
	switch {
	case err != nil:
		return err
	case c.Management:
		return nil
	case acc == management || acc == managementOrLink:
		// Recordings and workers span rooms, so a join token (even a
		// host's) may not read them.
		if strings.HasPrefix(r.URL.Path, "/v1/workers") {
			return rcerr.New(rcerr.PermissionDenied, "the worker list needs the management token (`roomcast token --management`), not a join token")
		}
		return rcerr.New(rcerr.PermissionDenied, "recordings need the management token (`roomcast token --management`), not a join token")
	case c.Room != r.PathValue("room"):
		return rcerr.New(rcerr.PermissionDenied, "token is for room %q, not %q", c.Room, r.PathValue("room"))
	case acc == startStop && !c.Role.Permissions().StartStop:
		return rcerr.New(rcerr.PermissionDenied, "role %q may not start or stop streaming and recording (host may)", c.Role)
	}
	return nil
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

func (a *API) start(w http.ResponseWriter, r *http.Request) error {
	var p roomcast.StartParams
	if err := decodeBody(r, &p); err != nil {
		return err
	}
	st, err := a.beams.Start(r.Context(), r.PathValue("room"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, st)
	return nil
}

// action is a body-less room action that answers the room's state with
// status.
func (a *API) action(status int, do func(Beams, context.Context, string) (roomcast.BeamState, error)) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		st, err := do(a.beams, r.Context(), r.PathValue("room"))
		if err != nil {
			return err
		}
		writeJSON(w, status, st)
		return nil
	}
}

func (a *API) state(w http.ResponseWriter, r *http.Request) error {
	roomName := r.PathValue("room")
	st, rev, err := a.beams.State(r.Context(), roomName)
	if err != nil {
		return err
	}
	if rev == 0 && !a.rooms.Has(roomName) {
		return rcerr.New(rcerr.NotFound, "room %q has no peers and never streamed or recorded", roomName)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
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
	writeJSON(w, rcerr.StatusOf(err), roomcast.Error{Code: string(code), Message: msg})
}

// RoomsFunc adapts a function to Rooms.
type RoomsFunc func(room string) bool

// Has calls f.
func (f RoomsFunc) Has(room string) bool { return f(room) }

func (a *API) listRooms(w http.ResponseWriter, r *http.Request) error {
	rooms := a.list(r.Context())
	for i := range rooms {
		st, _, err := a.beams.State(r.Context(), rooms[i].Room)
		if err != nil {
			return err
		}
		rooms[i].Beam = st
	}
	writeJSON(w, http.StatusOK, rooms)
	return nil
}
