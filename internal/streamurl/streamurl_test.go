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
	f.Add("rtmp://live/", "%s/0", "000000") // no app in the prefix: k is the app there, not a key
	f.Fuzz(func(t *testing.T, prefix, shape, k string) {
		// rtmp[s]://host/live/: a host, then the app; in rtmp://live/ the
		// "live" is the host, and k in the shape's first segment is the app.
		if len([]rune(k)) < 6 || !strings.Contains(shape, "%s") || strings.ContainsAny(k, "/?#@:%[] \t\r\n") ||
			!strings.HasPrefix(prefix, "rtmp") || !strings.HasSuffix(prefix, "/live/") || strings.Count(prefix, "/") < 4 ||
			strings.Contains(prefix, k) {
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

// The URL forms the big platforms hand out, and exactly what each ingest
// must receive: the app (and tcUrl) in connect, the stream name with its
// query in publish.
func TestPlatformIngestForms(t *testing.T) {
	for _, c := range []struct {
		platform, url, app, name, tcURL string
	}{
		{"YouTube", "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst", "live2", "abcd-efgh-ijkl-mnop-qrst", "rtmp://a.rtmp.youtube.com/live2"},
		{"YouTube backup", "rtmp://b.rtmp.youtube.com/live2?backup=1/abcd-efgh-ijkl-mnop-qrst", "live2?backup=1", "abcd-efgh-ijkl-mnop-qrst", "rtmp://b.rtmp.youtube.com/live2?backup=1"},
		{"YouTube rtmps", "rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl-mnop-qrst", "live2", "abcd-efgh-ijkl-mnop-qrst", "rtmps://a.rtmps.youtube.com:443/live2"},
		{"Twitch", "rtmp://live.twitch.tv/app/live_123456789_AbCdEfGhIjKlMnOpQrStUvWxYz", "app", "live_123456789_AbCdEfGhIjKlMnOpQrStUvWxYz", "rtmp://live.twitch.tv/app"},
		{"Facebook", "rtmps://live-api-s.facebook.com:443/rtmp/FB-1234567890-0-AbCdEf?s_bl=1&s_psm=1&s_sc=1234&s_sw=0&s_vt=api-s&a=AbCdEfGh", "rtmp",
			"FB-1234567890-0-AbCdEf?s_bl=1&s_psm=1&s_sc=1234&s_sw=0&s_vt=api-s&a=AbCdEfGh", "rtmps://live-api-s.facebook.com:443/rtmp"},
		{"Mux", "rtmps://global-live.mux.com:443/app/0a1b2c3d-4e5f-6789-abcd-ef0123456789", "app", "0a1b2c3d-4e5f-6789-abcd-ef0123456789", "rtmps://global-live.mux.com:443/app"},
		{"Restream", "rtmp://live.restream.io/live/re_1234567_abcdef0123456789", "live", "re_1234567_abcdef0123456789", "rtmp://live.restream.io/live"},
		{"Kick", "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app/sk_us-west-2_AbCdEf123", "app", "sk_us-west-2_AbCdEf123", "rtmps://fa723fc1b171.global-contribute.live-video.net:443/app"},
		{"LinkedIn", "rtmps://1a2b3c4d5e6f.channel.media.azure.net:2935/live/0123456789abcdef/live", "live/0123456789abcdef", "live", "rtmps://1a2b3c4d5e6f.channel.media.azure.net:2935/live/0123456789abcdef"},
		{"Instagram", "rtmps://edgetee-upload-ams4-1.xx.fbcdn.net:443/rtmp/17900000000000000?s_bl=1&s_sw=0&a=AbCd", "rtmp", "17900000000000000?s_bl=1&s_sw=0&a=AbCd", "rtmps://edgetee-upload-ams4-1.xx.fbcdn.net:443/rtmp"},
		{"Cloudflare Stream", "rtmps://live.cloudflare.com:443/live/0123456789abcdef0123456789abcdefk0123456789abcdef0123456789abcdef", "live",
			"0123456789abcdef0123456789abcdefk0123456789abcdef0123456789abcdef", "rtmps://live.cloudflare.com:443/live"},
		{"AWS IVS", "rtmps://a1b2c3d4e5f6.global-contribute.live-video.net:443/app/sk_us-west-2_AbCdEfGhIjKl", "app", "sk_us-west-2_AbCdEfGhIjKl", "rtmps://a1b2c3d4e5f6.global-contribute.live-video.net:443/app"},
	} {
		u, err := Parse(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.platform, err)
			continue
		}
		if u.App != c.app || u.Key != c.name || u.TCURL() != c.tcURL {
			t.Errorf("%s: app %q name %q tcUrl %q; want %q %q %q", c.platform, u.App, u.Key, u.TCURL(), c.app, c.name, c.tcURL)
		}
		if r := u.Redacted(); len(c.name) >= 8 && strings.Contains(r, c.name) {
			t.Errorf("%s: redacted %q shows the key", c.platform, r)
		}
	}
}
