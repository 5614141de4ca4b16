package roomcast

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// maxWebhookBody bounds a webhook's body (events are a few kB).
const maxWebhookBody = 1 << 20

// WebhookHandler returns the http.Handler a backend mounts at its
// --webhook-url: it checks each delivery's signature against secret
// (ROOMCAST_WEBHOOK_SECRET, or the server's secret) within 5 minutes,
// decodes the event and calls handle. It answers 204 when handle returns
// nil, 401 for a bad signature, 400 for a body that is not an event and
// 500 when handle fails (roomcast then delivers it again: handle should
// treat a repeated event ID as done).
func WebhookHandler(secret []byte, handle func(r *http.Request, e Event) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
		if err != nil || len(body) > maxWebhookBody {
			http.Error(w, "unreadable or too large body", http.StatusBadRequest)
			return
		}
		if err := VerifyWebhook(secret, r.Header.Get(SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e Event
		if err := json.Unmarshal(body, &e); err != nil || e.Event == "" {
			http.Error(w, "not a roomcast event", http.StatusBadRequest)
			return
		}
		if err := handle(r, e); err != nil {
			http.Error(w, "the handler failed; deliver again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
