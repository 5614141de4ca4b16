package roomcast

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWebhookSignature(t *testing.T) {
	secret, body := []byte("hook-secret"), []byte(`{"event":"beam.started"}`)
	now := time.Unix(1_800_000_000, 0)
	h := Sign(secret, now, body)
	if err := VerifyWebhook(secret, h, body, 5*time.Minute, now.Add(time.Minute)); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	for name, tc := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
	}{
		"tampered body":  {secret, h, []byte(`{"event":"beam.stopped"}`), now},
		"other secret":   {[]byte("other"), h, body, now},
		"replayed later": {secret, h, body, now.Add(10 * time.Minute)},
		"no signature":   {secret, "t=1800000000", body, now},
		"garbage":        {secret, "nonsense", body, now},
		"bad timestamp":  {secret, "t=abc,v1=00", body, now},
	} {
		if err := VerifyWebhook(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// WebhookHandler takes a signed event and hands it on; a bad signature, a
// stale one or a body that is not an event never reaches the handler,
// and a failing handler asks for the event again.
func TestWebhookHandler(t *testing.T) {
	secret := []byte("webhook-secret-0123456789")
	var got []Event
	fail := false
	h := WebhookHandler(secret, func(r *http.Request, e Event) error {
		if fail {
			return errors.New("database down")
		}
		got = append(got, e)
		return nil
	})
	post := func(body, sig string) int {
		req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
		req.Header.Set(SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	ev := `{"event":"recording.ready","room":"demo","id":"e1","at":"2026-12-02T10:00:00Z"}`
	now := time.Now()
	if code := post(ev, Sign(secret, now, []byte(ev))); code != http.StatusNoContent || len(got) != 1 || got[0].Event != EventRecordingReady || got[0].Room != "demo" {
		t.Fatalf("a signed event: %d, handled %+v", code, got)
	}
	for name, tc := range map[string]struct {
		body, sig string
		want      int
	}{
		"wrong secret": {ev, Sign([]byte("another-secret-0123456"), now, []byte(ev)), http.StatusUnauthorized},
		"stale":        {ev, Sign(secret, now.Add(-time.Hour), []byte(ev)), http.StatusUnauthorized},
		"tampered":     {strings.Replace(ev, "demo", "other", 1), Sign(secret, now, []byte(ev)), http.StatusUnauthorized},
		"not an event": {`[1,2]`, Sign(secret, now, []byte(`[1,2]`)), http.StatusBadRequest},
	} {
		if code := post(tc.body, tc.sig); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	if len(got) != 1 {
		t.Errorf("refused deliveries reached the handler: %+v", got)
	}
	fail = true
	if code := post(ev, Sign(secret, now, []byte(ev))); code != http.StatusInternalServerError {
		t.Errorf("failing handler: %d, want 500 (deliver again)", code)
	}
}
