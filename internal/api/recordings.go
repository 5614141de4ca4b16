package api

import (
	"cmp"
	"context"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// downloadTTL is how long a presigned download URL stays valid.
const downloadTTL = 15 * time.Minute

// RemoteFiles is the object storage recordings are uploaded to;
// *storage.S3 is one.
type RemoteFiles interface {
	// URL returns a presigned GET URL for file name of the recording at
	// location, valid for ttl.
	URL(ctx context.Context, location, name string, ttl time.Duration) (string, error)
	// Delete removes every object of the recording at location.
	Delete(ctx context.Context, location string) error
	// Location is where recording id's objects are (or would be) kept.
	Location(id string) string
}

// Recordings are the recordings the API lists, serves and deletes: this
// process's (recordings.Local) or the fleet's (recindex.Index).
type Recordings interface {
	List(ctx context.Context, room string) ([]roomcast.Recording, error)
	Get(ctx context.Context, id string) (roomcast.Recording, error)
	// Open returns file name of recording id (an *os.File when it is on
	// this machine, which can serve ranges) and its size.
	Open(ctx context.Context, id, name string) (io.ReadCloser, int64, error)
	Delete(ctx context.Context, id string) error
}

// WithRecordings serves the recordings in s under /v1/recordings; call it
// before Register. It returns a for chaining.
func (a *API) WithRecordings(s Recordings) *API {
	a.recs = s
	return a
}

// WithRemoteFiles redirects downloads of uploaded recordings to presigned
// URLs of r and deletes their objects there; call it before Register.
func (a *API) WithRemoteFiles(r RemoteFiles) *API {
	a.remote = r
	return a
}

// registerRecordings adds the /v1/recordings routes when a store is set.
func (a *API) registerRecordings(mux *http.ServeMux) {
	if a.recs == nil {
		return
	}
	mux.HandleFunc("GET /v1/recordings", a.route(management, a.listRecordings))
	mux.HandleFunc("GET /v1/recordings/{id}", a.route(management, a.getRecording))
	mux.HandleFunc("GET /v1/recordings/{id}/files/{name}", a.route(managementOrLink, a.downloadRecording))
	mux.HandleFunc("DELETE /v1/recordings/{id}", a.route(management, a.deleteRecording))
}

func (a *API) listRecordings(w http.ResponseWriter, r *http.Request) error {
	recs, err := a.recs.List(r.Context(), r.URL.Query().Get("room"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, recs)
	return nil
}

func (a *API) getRecording(w http.ResponseWriter, r *http.Request) error {
	rec, err := a.recs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (a *API) downloadRecording(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.PathValue("name")
	rec, err := a.recs.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if rec.Location != "" && slices.ContainsFunc(rec.Files, func(f roomcast.RecordingFile) bool { return f.Name == name }) {
		return a.redirectToRemote(w, r, rec, name)
	}
	f, size, err := a.recs.Open(r.Context(), id, name)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", recordings.ContentType(name))
	disposition := "attachment"
	if r.URL.Query().Get("sig") != "" {
		disposition = "inline" // a signed link: played in the page
	}
	w.Header().Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": name}))
	// An hours-long recording takes longer to send than the server's
	// WriteTimeout allows a response; only the management token gets here.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, name, rec.StartedAt, rs)
		return nil
	}
	// From the worker that keeps it: sent as it arrives, no ranges.
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, f); err != nil {
		a.log.Warn("recording download broke off", "recording", id, "file", name, "err", err)
	}
	return nil
}

// redirectToRemote answers 307 with a presigned URL of the uploaded file.
func (a *API) redirectToRemote(w http.ResponseWriter, r *http.Request, rec roomcast.Recording, name string) error {
	if a.remote == nil {
		return noRemote(rec)
	}
	u, err := a.remote.URL(r.Context(), rec.Location, name, downloadTTL)
	if err != nil {
		return rcerr.Wrap(rcerr.Unavailable, err, "could not sign a download URL for recording "+rec.ID+"; try again")
	}
	w.Header().Set("Location", u)
	writeJSON(w, http.StatusTemporaryRedirect, downloadRedirect{URL: u, ExpiresAt: time.Now().Add(downloadTTL).UTC()})
	return nil
}

// downloadRedirect is the body of a download answered with a redirect.
type downloadRedirect struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func noRemote(rec roomcast.Recording) error {
	return rcerr.New(rcerr.Unavailable, "recording %s is stored at %s, but this server has no object storage configured (--s3-bucket)", rec.ID, rec.Location)
}

func (a *API) deleteRecording(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	rec, err := a.recs.Get(r.Context(), id)
	if err == nil && recordings.InProgress(rec.Status) {
		err = rcerr.New(rcerr.Conflict, "recording %s is still %s; stop the recording first", id, rec.Status)
	}
	if err == nil {
		err = a.deleteRemote(r.Context(), rec)
	}
	if err == nil {
		err = a.recs.Delete(r.Context(), id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "deleted"})
	return nil
}

// deleteRemote removes the recording's objects from object storage: those
// of an upload, or what a failed upload left. The local copy goes only
// after that succeeded, so a failure can be retried.
func (a *API) deleteRemote(ctx context.Context, rec roomcast.Recording) error {
	if a.remote == nil {
		if rec.Location != "" {
			return noRemote(rec)
		}
		return nil
	}
	loc := cmp.Or(rec.Location, a.remote.Location(rec.ID))
	if err := a.remote.Delete(ctx, loc); err != nil {
		return rcerr.Wrap(rcerr.Unavailable, err, "could not delete recording "+rec.ID+" from object storage; it is kept, try again")
	}
	return nil
}
