// Package web serves the meeting app and the browser SDK. Both are static
// files embedded in the binary: the app reads the room from its path and the
// join token from its query, and talks to the server through the SDK.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// files is the static tree without its "static/" prefix.
var files = must(fs.Sub(static, "static"))

// Register adds the app's routes to mux:
//
//	GET /                 a short page on how to join a room
//	GET /meet/{room}      the meeting app (?token=T)
//	GET /sdk/roomcast.js  the browser SDK, an ES module
//	GET /static/...       the app's scripts and styles
func Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", file("index.html"))
	mux.Handle("GET /meet/{room}", file("meet.html"))
	mux.Handle("GET /sdk/roomcast.js", file("sdk/roomcast.js"))
	mux.Handle("GET /static/", noCache(http.StripPrefix("/static/", http.FileServerFS(files))))
}

// file serves one embedded file whatever the request path.
func file(name string) http.Handler {
	return noCache(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, name)
	}))
}

// noCache makes browsers revalidate, so an upgraded server never runs with an
// old SDK; the files are small and served from memory. It also keeps the
// join token in the page URL out of Referer headers.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(r.URL.Path, ".js") {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		}
		h.ServeHTTP(w, r)
	})
}

func must(f fs.FS, err error) fs.FS {
	if err != nil {
		panic(err)
	}
	return f
}

// BaseURL is the URL browsers and the beam reach this server at: publicURL
// when configured, else the scheme and host of the request r.
func BaseURL(r *http.Request, publicURL string) string {
	if publicURL != "" {
		return strings.TrimSuffix(publicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
