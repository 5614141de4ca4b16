package roomcast

import (
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
