// Package streamurl is the one place RTMP(S) ingest URLs are parsed and
// redacted: rtmp[s]://host[:port]/app[/more]/STREAM_KEY[?query]. The stream
// key is a secret (whoever has it can broadcast on the user's channel), so
// an error never carries the URL as given, and redaction keeps only the
// scheme, host, port and app: rtmp://host:1935/live/{ab…yz}.
package streamurl

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// MaxLen is the longest ingest URL accepted.
const MaxLen = 2048

// URL is a parsed ingest URL.
type URL struct {
	Scheme string // rtmp or rtmps
	Host   string // host[:port], as given
	// App is the path before the key (RTMP's app, with any instance
	// segments), unescaped, without slashes at either end.
	App string
	// Key is the stream key: the last path segment, unescaped, with the
	// query when there is one (some services put part of the key there).
	Key string
}

// Redacted is the URL with everything after the app's first segment
// replaced by its first and last two characters (runes), or {…} when that
// is shorter than 8: rtmp://host[:port]/app/{ab…yz}. Instance segments are
// hidden too: a service may put a secret there as well.
func (u URL) Redacted() string {
	app, rest, _ := strings.Cut(u.App, "/")
	if rest != "" {
		rest += "/"
	}
	return u.Scheme + "://" + u.Host + "/" + app + "/" + redactKey(rest+u.Key)
}

// Errors Parse returns; their text names the problem, never the URL.
var (
	ErrTooLong    = fmt.Errorf("longer than %d characters", MaxLen)
	ErrNotURL     = errors.New("not a URL; want rtmp://host[:port]/app/STREAM_KEY")
	ErrScheme     = errors.New("scheme must be rtmp or rtmps")
	ErrNoHost     = errors.New("no host; want rtmp://host[:port]/app/STREAM_KEY")
	ErrPort       = errors.New("the port must be a number from 1 to 65535")
	ErrUserinfo   = errors.New("user:password in the URL is not supported")
	ErrFragment   = errors.New("a #fragment is not part of an ingest URL")
	ErrPath       = errors.New("needs an app and a stream key: rtmp://host[:port]/app/STREAM_KEY")
	ErrEmptyParts = errors.New("has an empty path segment (a doubled or trailing '/'): the stream key is the last segment, rtmp://host[:port]/app/STREAM_KEY")
	ErrSpace      = errors.New("contains a space or control character; check what was pasted")
)

// Parse checks raw strictly and splits it; the error is one of the Err
// values above.
func Parse(raw string) (URL, error) {
	if len(raw) > MaxLen {
		return URL{}, ErrTooLong
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return URL{}, ErrSpace
	}
	u, err := url.Parse(raw)
	if err != nil {
		return URL{}, ErrNotURL
	}
	if u.Scheme != "rtmp" && u.Scheme != "rtmps" {
		return URL{}, fmt.Errorf("%w, got %q", ErrScheme, u.Scheme)
	}
	switch {
	case u.User != nil:
		return URL{}, ErrUserinfo
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return URL{}, ErrFragment
	case u.Opaque != "" || u.Host == "":
		return URL{}, ErrNoHost
	}
	if err := checkHost(u.Host); err != nil {
		return URL{}, err
	}
	path := u.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		return URL{}, ErrPath
	}
	if app, ok := strings.CutPrefix(path, "/"); ok && app != "" && !strings.Contains(app, "/") && strings.Contains(u.RawQuery, "/") {
		return appQuery(u, app)
	}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		if p == "" && len(parts) < 2 {
			return URL{}, ErrPath
		}
		if parts[i], err = url.PathUnescape(p); err != nil || parts[i] == "" {
			return URL{}, ErrEmptyParts
		}
	}
	if len(parts) < 2 {
		return URL{}, ErrPath
	}
	key := parts[len(parts)-1]
	if u.RawQuery != "" || u.ForceQuery {
		key += "?" + u.RawQuery
	}
	return URL{Scheme: u.Scheme, Host: u.Host, App: strings.Join(parts[:len(parts)-1], "/"), Key: key}, nil
}

// appQuery reads the form where the app has a query and the key follows
// its last slash, as YouTube's backup ingest has it:
// rtmp://b.rtmp.youtube.com/live2?backup=1/KEY is app "live2?backup=1",
// key "KEY".
func appQuery(u *url.URL, app string) (URL, error) {
	i := strings.LastIndex(u.RawQuery, "/")
	q, rawKey := u.RawQuery[:i], u.RawQuery[i+1:]
	app, err := url.PathUnescape(app)
	if err != nil {
		return URL{}, ErrEmptyParts
	}
	key, err := url.PathUnescape(rawKey)
	if err != nil || key == "" || q == "" || strings.Contains(q, "/") {
		return URL{}, ErrEmptyParts
	}
	return URL{Scheme: u.Scheme, Host: u.Host, App: app + "?" + q, Key: key}, nil
}

// TCURL is the tcUrl a client sends in connect: the URL up to the app.
func (u URL) TCURL() string { return u.Scheme + "://" + u.Host + "/" + u.App }

// checkHost accepts host, host:port, [v6] and [v6]:port with a port from 1
// to 65535.
func checkHost(h string) error {
	host := h
	if strings.Contains(h, ":") && !strings.HasSuffix(h, "]") {
		var port string
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return ErrPort
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.HasPrefix(port, "+") {
			return ErrPort
		}
	}
	if strings.Trim(host, "[]") == "" {
		return ErrNoHost
	}
	return nil
}

// Redact returns raw with its stream key redacted. A URL that does not
// parse keeps at most its scheme and host: nothing after the host of a
// malformed URL can be told apart from a key.
func Redact(raw string) string {
	if u, err := Parse(raw); err == nil {
		return u.Redacted()
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil {
		return "[redacted url]"
	}
	return u.Scheme + "://" + u.Host + "/{…}"
}

// redactKey keeps a key's first and last two characters, counting runes,
// so a multibyte key is never cut mid-character.
func redactKey(k string) string {
	r := []rune(k)
	if len(r) < 8 {
		return "{…}"
	}
	return "{" + string(r[:2]) + "…" + string(r[len(r)-2:]) + "}"
}
