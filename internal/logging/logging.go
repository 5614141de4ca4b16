// Package logging sets up roomcast's slog logger and keeps secrets out of it:
// Secret and StreamURL redact themselves, and a ReplaceAttr backstop redacts
// anything that looks like a token or an RTMP stream key. Repeated warnings
// are rate-limited, so no client can flood the log.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/roomcast/roomcast/internal/streamurl"
)

// New returns a logger writing format ("text" or "json") at level to w.
// Warnings and errors repeated with the same message are limited to 5 per
// 10 s, followed by one line counting the rest.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("logging: unknown format %q (want text or json)", format)
	}
	return slog.New(newLimitHandler(h, repeatBurst, repeatWindow)), nil
}

// Secret is a string that never appears in logs.
type Secret string

// LogValue redacts the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String redacts the secret in fmt output too (%v, %s, and inside structs).
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret for %#v.
func (Secret) GoString() string { return `"[redacted]"` }

// StreamURL is an RTMP(S) ingest URL whose last path segment is a stream key.
type StreamURL string

// LogValue returns the URL with its stream key redacted.
func (u StreamURL) LogValue() slog.Value { return slog.StringValue(RedactStreamURL(string(u))) }

// RedactStreamURL keeps scheme, host, port and app of an ingest URL and
// replaces the stream key with its first and last two characters:
// rtmp://host:1935/live/{ab…yz} (streamurl.Redact).
func RedactStreamURL(s string) string { return streamurl.Redact(s) }

var (
	jwtRe  = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	rtmpRe = regexp.MustCompile(`rtmps?://[^\s"'{}]+`)
	// sigRe matches the signature of a presigned S3 URL: whoever holds it
	// can download the object until it expires.
	sigRe = regexp.MustCompile(`(?i)(X-Amz-Signature|X-Amz-Security-Token)=[^&\s"']+`)
)

// Redact removes tokens, stream keys and presigned URL signatures from free
// text.
func Redact(s string) string {
	s = jwtRe.ReplaceAllString(s, "[redacted token]")
	s = sigRe.ReplaceAllString(s, "$1=[redacted]")
	var b strings.Builder
	last := 0
	for _, m := range rtmpRe.FindAllStringIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		// Punctuation after a URL in a sentence ("dial rtmp://h/k/: ...")
		// is not part of it.
		u := strings.TrimRight(s[m[0]:m[1]], ":.,;)!")
		m[1] = m[0] + len(u)
		if strings.HasSuffix(u, "/") && m[1] < len(s) && s[m[1]] == '{' {
			b.WriteString(u) // the key that follows is already redacted: {ab…yz}
		} else {
			b.WriteString(RedactStreamURL(u))
		}
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// replaceAttr is the backstop: string values and errors are scrubbed even
// when a caller forgot to wrap them.
func replaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(Redact(a.Value.String()))
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			a.Value = slog.StringValue(Redact(err.Error()))
		}
	}
	return a
}
