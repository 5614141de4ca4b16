package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// What the dashboard (and any backend) needs besides the rooms' routes:
// join links for a room, short-lived links to play a recording in the
// browser, and, on a loopback-only server, a session without a login.

// linkTTL is how long a recording file's signed link plays.
const linkTTL = time.Hour

// WithLoopbackSession serves GET /v1/session: a management token for a
// request from this machine, when the server listens on loopback only (no
// one else can reach it). Call it before Register.
func (a *API) WithLoopbackSession(on bool) *API {
	a.loopback = on
	return a
}

func (a *API) registerDashboard(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/tokens", a.route(management, a.mintJoinToken))
	mux.HandleFunc("GET /v1/session", a.session)
	if a.recs != nil {
		mux.HandleFunc("POST /v1/recordings/{id}/files/{name}/link", a.route(management, a.fileLink))
	}
}

// mintJoinToken answers POST /v1/tokens {room, identity, role, ttl}: a join
// token and the meeting app's link with it.
func (a *API) mintJoinToken(w http.ResponseWriter, r *http.Request) error {
	var p roomcast.TokenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&p); err != nil {
		return rcerr.New(rcerr.InvalidArgument, "body: want {\"room\", \"identity\", \"role\", \"ttl\"?}")
	}
	if err := room.ValidateName(p.Room); err != nil {
		return err
	}
	role, err := room.ParseRole(p.Role)
	switch {
	case err != nil:
		return rcerr.New(rcerr.InvalidArgument, "role: %q is not a role; want host, guest, viewer or beam", p.Role)
	case p.Identity == "" || len(p.Identity) > 64:
		return rcerr.New(rcerr.InvalidArgument, "identity: want 1 to 64 characters")
	case p.TTL < 0 || p.TTL > 30*24*3600:
		return rcerr.New(rcerr.InvalidArgument, "ttl: want seconds from 1 to 30 days (absent: 24 h)")
	}
	ttl := 24 * time.Hour
	if p.TTL > 0 {
		ttl = time.Duration(p.TTL) * time.Second
	}
	tok, err := a.signer.JoinToken(p.Room, p.Identity, role, ttl)
	if err != nil {
		return rcerr.Wrap(rcerr.Internal, err, "could not sign the token")
	}
	writeJSON(w, http.StatusOK, roomcast.TokenResponse{Token: tok, URL: "/meet/" + url.PathEscape(p.Room) + "?token=" + tok,
		ExpiresAt: time.Now().Add(ttl).UTC()})
	return nil
}

// fileLink answers POST /v1/recordings/{id}/files/{name}/link: a URL that
// plays the file without a token for linkTTL (inline, with ranges).
func (a *API) fileLink(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.PathValue("name")
	rec, err := a.recs.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(rec.Files, func(f roomcast.RecordingFile) bool { return f.Name == name }) {
		return rcerr.New(rcerr.NotFound, "recording %s has no file %q", id, name)
	}
	path := "/v1/recordings/" + url.PathEscape(id) + "/files/" + url.PathEscape(name)
	exp := time.Now().Add(linkTTL).UTC()
	writeJSON(w, http.StatusOK, roomcast.FileLink{URL: path + "?" + a.signer.SignLink(path, exp), ExpiresAt: exp})
	return nil
}

// session answers GET /v1/session: a management token for the dashboard,
// only on a server that listens on loopback and only to this machine.
func (a *API) session(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); !a.loopback || ip == nil || !ip.IsLoopback() {
		writeError(w, rcerr.New(rcerr.PermissionDenied, "log in with the management token (`roomcast token --management`)"))
		return
	}
	tok, err := a.signer.ManagementToken(12 * time.Hour)
	if err != nil {
		writeError(w, rcerr.Wrap(rcerr.Internal, err, "could not sign a token"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, roomcast.Session{Token: tok})
}
