package api

import (
	"context"
	"net/http"
	"strconv"
)

// Thumbnails shows a running job's output (control.Controller).
type Thumbnails interface {
	Thumbnail(ctx context.Context, room string) ([]byte, error)
}

// WithThumbnails serves GET /v1/rooms/{room}/beam/thumbnail.jpg (who may
// read the room's state may see it); call it before Register.
func (a *API) WithThumbnails(t Thumbnails) *API {
	a.thumbs = t
	return a
}

func (a *API) registerThumbnails(mux *http.ServeMux) {
	if a.thumbs == nil {
		return
	}
	mux.HandleFunc("GET /v1/rooms/{room}/beam/thumbnail.jpg", a.route(roomMember, func(w http.ResponseWriter, r *http.Request) error {
		b, err := a.thumbs.Thumbnail(r.Context(), r.PathValue("room"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
		return nil
	}))
}
