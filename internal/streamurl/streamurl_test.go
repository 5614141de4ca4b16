package streamurl

import (
	"errors"
	"strings"
	"testing"
)

const key = "k0jv-329m-1y7f-ktth-ck48"

func TestParse(t *testing.T) {
	cases := []struct {
		in       string
		err      error
		redacted string
	}{
		{"rtmp://a.rtmp.youtube.com/live2/" + key, nil, "rtmp://a.rtmp.youtube.com/live2/{k0…48}"},
		{"rtmps://live.twitch.tv:443/app/" + key, nil, "rtmps://live.twitch.tv:443/app/{k0…48}"},
		{"rtmp://[::1]:1935/live/" + key, nil, "rtmp://[::1]:1935/live/{k0…48}"},
		{"rtmp://host/a/b/" + key, nil, "rtmp://host/a/{b/…48}"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/FB-123?s_bl=1&a=" + key, nil, "rtmps://live-api-s.facebook.com:443/rtmp/{FB…48}"},
		{"rtmp://host/live/" + key + "/", ErrEmptyParts, "rtmp://host/{…}"},
		{"rtmp://host//live/" + key, ErrEmptyParts, "rtmp://host/{…}"},
		{"rtmp://host/" + key + "/", ErrEmptyParts, "rtmp://host/{…}"},
		{"rtmp://host/" + key, ErrPath, "rtmp://host/{…}"},
		{"rtmp://host", ErrPath, "rtmp://host/{…}"},
		{"rtmp://host:1:2/live/" + key, ErrPort, "rtmp://host:1:2/{…}"},
		{"rtmp://host:0/live/" + key, ErrPort, "rtmp://host:0/{…}"},
		{"rtmp://host:70000/live/" + key, ErrPort, "rtmp://host:70000/{…}"},
		{"rtmp://host:/live/" + key, ErrPort, "rtmp://host:/{…}"},
		{"rtmp://user:" + key + "@host/live/x", ErrUserinfo, "[redacted url]"},
		{"rtmp://host/live/x#" + key, ErrFragment, "rtmp://host/{…}"},
		{"http://host/live/" + key, ErrScheme, "http://host/{…}"},
		{"rtmp:/live/" + key, ErrNoHost, "[redacted url]"},
		{"::notaurl" + key, ErrNotURL, "[redacted url]"},
		{"rtmp://host/live/" + key + " ", ErrSpace, "rtmp://host/{…}"},
		{" rtmp://host/live/" + key, ErrSpace, "[redacted url]"},
		{"rtmp://host/live/" + key + "\n", ErrSpace, "[redacted url]"},
		{"rtmp://host/live/" + strings.Repeat("k", MaxLen), ErrTooLong, "rtmp://host/{…}"},
		{"rtmp://host/live/ключ-трансляции-секрет", nil, "rtmp://host/live/{кл…ет}"},
		{"rtmp://host/live/short", nil, "rtmp://host/live/{…}"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		if !errors.Is(err, c.err) {
			t.Errorf("Parse(%.60q) = %v, want %v", c.in, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("Parse(%.60q): the error carries the key: %v", c.in, err)
		}
		got := Redact(c.in)
		if got != c.redacted {
			t.Errorf("Redact(%.60q) = %q, want %q", c.in, got, c.redacted)
		}
		if strings.Contains(got, key) || strings.Contains(got, "ключ") || strings.Contains(got, "kkkkkk") {
			t.Errorf("Redact(%.60q) = %q: the key shows", c.in, got)
		}
	}
}

// FuzzRedactNeverShowsTheKey: whatever follows the app, valid or not (a
// trailing or doubled slash, a query, a fragment, more segments, escapes,
// Unicode), the redaction never shows the key and an error never carries it.
func FuzzRedactNeverShowsTheKey(f *testing.F) {
	for _, s := range []string{"%s", "%s/", "/%s", "x/%s", "%s?x=1", "b?k=%s", "b#%s", "%s/%s", "%s%%2F", "ключ%s"} {
		for _, prefix := range []string{"rtmp://h/live/", "rtmps://h:1:2/live/", "rtmp://h:443/live/"} {
			f.Add(prefix, s, "k0jv-329m-1y7f")
		}
	}
	f.Fuzz(func(t *testing.T, prefix, shape, k string) {
		if len([]rune(k)) < 6 || !strings.Contains(shape, "%s") || strings.ContainsAny(k, "/?#@:%[] \t\r\n") ||
			!strings.HasPrefix(prefix, "rtmp") || !strings.HasSuffix(prefix, "/live/") || strings.Contains(prefix, k) {
			return // the property is about the key where a key goes, not in the host
		}
		raw := prefix + strings.ReplaceAll(shape, "%s", k)
		if got := Redact(raw); strings.Contains(got, k) {
			t.Errorf("Redact(%q) = %q shows the key %q", raw, got, k)
		}
		if _, err := Parse(raw); err != nil && strings.Contains(err.Error(), k) {
			t.Errorf("Parse(%q): %v carries the key", raw, err)
		}
	})
}
