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

// The SDK's TypeScript declarations come from the Go SDK's types.
//go:generate go run ../contract/gen

//go:embed static
var static embed.FS

// files is the static tree without its "static/" prefix.
var files = must(fs.Sub(static, "static"))

// Register adds the app's routes to mux:
//
//	GET /                 the dashboard (dash.js)
//	GET /meet/{room}      the meeting app (?token=T)
//	GET /sdk/roomcast.js    the browser SDK, an ES module
//	GET /sdk/roomcast.d.ts  its TypeScript declarations
//	GET /static/...         the app's scripts and styles
func Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", headers(serveFile("dash.html"), "no-store", "Content-Security-Policy", pageCSP+"; img-src 'self' blob:", "X-Frame-Options", "DENY"))
	mux.Handle("GET /meet/{room}", page("meet.html"))
	mux.Handle("GET /sdk/roomcast.js", file("sdk/roomcast.js"))
	mux.Handle("GET /sdk/roomcast.d.ts", file("sdk/roomcast.d.ts"))
	mux.Handle("GET /static/", headers(http.StripPrefix("/static/", http.FileServerFS(files)), "no-cache"))
}

// pageCSP lets a page load only this server's scripts and styles and talk
// only to it (and WebSockets), and never be framed: the meeting page's URL
// carries a join token, and the recording bot shows whatever it renders.
const pageCSP = "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// file serves one embedded file whatever the request path, revalidated on
// every use.
func file(name string) http.Handler { return headers(serveFile(name), "no-cache") }

// page serves an HTML page: never stored (the meeting page's URL carries a
// join token), its CSP, and no framing.
func page(name string) http.Handler {
	return headers(serveFile(name), "no-store", "Content-Security-Policy", pageCSP, "X-Frame-Options", "DENY")
}

func serveFile(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, files, name)
	})
}

// headers sets Cache-Control (no-cache makes browsers revalidate, so an
// upgraded server never runs with an old SDK; the files are small and
// served from memory) and the extra header pairs, keeps the join token in
// a page URL out of Referer headers, and types JavaScript.
func headers(h http.Handler, cacheControl string, extra ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", cacheControl)
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		for i := 0; i+1 < len(extra); i += 2 {
			hd.Set(extra[i], extra[i+1])
		}
		switch {
		case strings.HasSuffix(r.URL.Path, ".d.ts"):
			hd.Set("Content-Type", "application/typescript; charset=utf-8")
		case strings.HasSuffix(r.URL.Path, ".js"):
			hd.Set("Content-Type", "text/javascript; charset=utf-8")
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
