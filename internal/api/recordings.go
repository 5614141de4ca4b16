package api

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
)

// WithRecordings serves the recordings in s under /v1/recordings; call it
// before Register. It returns a for chaining.
func (a *API) WithRecordings(s *recordings.Store) *API {
	a.recs = s
	return a
}

// registerRecordings adds the /v1/recordings routes when a store is set.
func (a *API) registerRecordings(mux *http.ServeMux) {
	if a.recs == nil {
		return
	}
	mux.HandleFunc("GET /v1/recordings", a.mgmtOnly(a.listRecordings))
	mux.HandleFunc("GET /v1/recordings/{id}", a.mgmtOnly(a.getRecording))
	mux.HandleFunc("GET /v1/recordings/{id}/files/{name}", a.mgmtOnly(a.downloadRecording))
	mux.HandleFunc("DELETE /v1/recordings/{id}", a.mgmtOnly(a.deleteRecording))
}

// mgmtOnly accepts only the management token: recordings span rooms, so a
// join token (even a host's) may not read or delete them.
func (a *API) mgmtOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			writeError(w, rcerr.New(rcerr.Unauthenticated, "missing Authorization: Bearer <token>; mint one with `roomcast token --management`"))
			return
		}
		c, err := a.signer.Verify(tok)
		if err != nil {
			writeError(w, err)
			return
		}
		if !c.Management {
			writeError(w, rcerr.New(rcerr.PermissionDenied, "recordings need the management token (`roomcast token --management`), not a join token"))
			return
		}
		next(w, r)
	}
}

func (a *API) listRecordings(w http.ResponseWriter, r *http.Request) {
	recs, err := a.recs.List(r.URL.Query().Get("room"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

func (a *API) getRecording(w http.ResponseWriter, r *http.Request) {
	rec, err := a.recs.Get(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (a *API) downloadRecording(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	path, err := a.recs.File(id, name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Opened here rather than with http.ServeFile so that a file that
	// vanished still gets a JSON error body.
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = rcerr.Wrap(rcerr.NotFound, err, "recording "+id+" has lost file "+name)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch filepath.Ext(name) {
	case ".mp4":
		w.Header().Set("Content-Type", "video/mp4")
	case ".json":
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, info.ModTime(), f)
}

func (a *API) deleteRecording(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := a.recs.Get(id)
	if err == nil && recordings.InProgress(rec.Status) {
		err = rcerr.New(rcerr.Conflict, "recording %s is still %s; stop the recording first", id, rec.Status)
	}
	if err == nil {
		err = a.recs.Delete(id)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "deleted"})
}

// fail logs err if it is our fault and writes it as the error body.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.logFailure(r, err)
	writeError(w, err)
}
