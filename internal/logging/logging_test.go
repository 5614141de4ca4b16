package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactStreamURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"rtmp://a.rtmp.youtube.com/live2/k0jv-329m-1y7f-ktth-ck48", "rtmp://a.rtmp.youtube.com/live2/{k0…48}"},
		{"rtmps://host:443/app/abcdefghyz", "rtmps://host:443/app/{ab…yz}"},
		{"rtmp://host/app/short", "rtmp://host/app/{…}"},
		{"::not a url", "[redacted url]"},
	}
	for _, tt := range tests {
		if got := RedactStreamURL(tt.in); got != tt.want {
			t.Errorf("RedactStreamURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLoggerNeverPrintsSecrets(t *testing.T) {
	const key = "k0jv-329m-1y7f-ktth-ck48"
	const token = "eyJhbGciOiJIUzI1NiJ9.eyJyb29tIjoiZGVtbyJ9.c2lnbmF0dXJlLXNlY3JldA"
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log, err := New(&buf, format, slog.LevelDebug)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("typed", "url", StreamURL("rtmp://h/live/"+key), "tok", Secret(token))
		log.Info("backstop", "url", "rtmp://h/live/"+key, "err", errors.New("dial rtmp://h/live/"+key+" with "+token))
		log.Info("already redacted", "dest", RedactStreamURL("rtmp://h/other/"+key))
		out := buf.String()
		if strings.Contains(out, key) || strings.Contains(out, token) || strings.Contains(out, "c2lnbmF0dXJl") {
			t.Errorf("%s log leaks a secret:\n%s", format, out)
		}
		if !strings.Contains(out, "rtmp://h/other/{k0…48}") || strings.Contains(out, "{…}{") {
			t.Errorf("%s log mangled an already redacted URL:\n%s", format, out)
		}
		if !strings.Contains(out, "rtmp://h/live/{k0…48}") {
			t.Errorf("%s log lost the redacted URL:\n%s", format, out)
		}
	}
}

func TestSecretNeverFormatted(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	cfg := struct {
		Bucket string
		Key    Secret
	}{"b", Secret(secret)}
	var buf bytes.Buffer
	log, err := New(&buf, "text", slog.LevelDebug)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("config", "s3", cfg, "err", fmt.Errorf("dial: %v %s %#v", cfg, cfg.Key, cfg))
	for _, out := range []string{buf.String(), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.Key)} {
		if strings.Contains(out, secret) {
			t.Errorf("a Secret was printed: %s", out)
		}
	}
	if string(cfg.Key) != secret {
		t.Error("string(Secret) must still give the value to the code that needs it")
	}
}

func TestRedactPresignedURL(t *testing.T) {
	in := "redirect to http://127.0.0.1:9000/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abcdef0123&X-Amz-Security-Token=tok123&X-Amz-Expires=900"
	got := Redact(in)
	if strings.Contains(got, "abcdef0123") || strings.Contains(got, "tok123") || !strings.Contains(got, "X-Amz-Signature=[redacted]") || !strings.Contains(got, "X-Amz-Expires=900") {
		t.Errorf("Redact() = %q", got)
	}
}

// TestBackstopCoversEveryForm: free text with an ingest URL in any shape
// (trailing slash, no app, query, bad port, multibyte key) never keeps the
// key, while an already redacted URL is left as it is.
func TestBackstopCoversEveryForm(t *testing.T) {
	const key = "k0jv-329m-1y7f-ktth-ck48"
	for _, u := range []string{"rtmp://h/live/" + key + "/", "rtmp://h/" + key + "/", "rtmp://h/" + key,
		"rtmp://h:1:2/live/" + key, "rtmps://h/live/x?k=" + key, "rtmp://h/live/ключ-" + key} {
		if got := Redact("dial " + u + ": refused"); strings.Contains(got, key) {
			t.Errorf("Redact(%q) = %q", u, got)
		}
	}
	if got := Redact("to rtmp://h:1935/live/{k0…48} ok"); got != "to rtmp://h:1935/live/{k0…48} ok" {
		t.Errorf("an already redacted URL became %q", got)
	}
}
