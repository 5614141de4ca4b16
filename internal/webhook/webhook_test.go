package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const streamKey = "hook-test-stream-key-9876"

// receiver is a backend's webhook endpoint: it verifies signatures and fails
// the first failures requests.
type receiver struct {
	t        *testing.T
	secret   []byte
	mu       sync.Mutex
	failures int
	events   []roomcast.Event
	attempts int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if err := roomcast.VerifyWebhook(r.secret, req.Header.Get(roomcast.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
		r.t.Errorf("bad signature: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if strings.Contains(string(body), streamKey) {
		r.t.Errorf("webhook body carries the stream key: %s", body)
	}
	if r.failures > 0 {
		r.failures--
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var ev roomcast.Event
	json.Unmarshal(body, &ev)
	if ev.ID == "" || req.Header.Get(roomcast.EventIDHeader) != ev.ID {
		r.t.Errorf("event id header %q, body id %q", req.Header.Get(roomcast.EventIDHeader), ev.ID)
	}
	r.events = append(r.events, ev)
}

func (r *receiver) got() []roomcast.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]roomcast.Event(nil), r.events...)
}

// runnerFunc runs a job until stopped, reporting media flowing at once.
func flowing(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome {
	report(jobs.Progress{Started: true})
	<-ctx.Done()
	return jobs.Outcome{}
}

// A start and a stop through the control plane reach a backend as signed
// beam.started then beam.stopped, in order, even though the endpoint fails
// at first.
func TestEventsReachTheBackendInOrder(t *testing.T) {
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := &receiver{t: t, secret: []byte("webhook-secret"), failures: 2}
	endpoint := httptest.NewServer(rec)
	defer endpoint.Close()

	events, err := webhook.NewPublisher(ctx, b.JS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhook.NewDeliverer(ctx, b.JS, endpoint.URL, rec.secret, quiet)
	if err != nil {
		t.Fatal(err)
	}
	d.MaxBackoff = 200 * time.Millisecond
	signer, _ := auth.NewSigner([]byte("test-secret-0123456789"))
	ctl, err := control.New(ctx, b.NC, b.JS, signer, control.Options{Events: events, BotURL: "http://127.0.0.1:7880"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w, err := control.NewWorker(ctx, b.NC, b.JS, control.WorkerOptions{ID: "w1", Slots: 1, Events: events}, control.RunnerFunc(flowing), quiet)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ctl.Run(runCtx) })
	wg.Go(func() { w.Run(runCtx) })
	wg.Go(func() { d.Run(runCtx) })
	defer func() { cancel(); wg.Wait() }()

	p := roomcast.StartParams{RTMPURLs: []string{"rtmp://127.0.0.1/live/" + streamKey}}
	if _, err := ctl.Start(ctx, "hooked", p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _, _ := ctl.State(ctx, "hooked")
		if st.RTMP.State == roomcast.StreamingStateStarted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job did not start: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ctl.Stop(ctx, "hooked"); err != nil {
		t.Fatal(err)
	}
	for len(rec.got()) < 2 {
		if time.Now().After(deadline.Add(15 * time.Second)) {
			t.Fatalf("events delivered: %+v", rec.got())
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := rec.got()
	if got[0].Event != roomcast.EventBeamStarted || got[1].Event != roomcast.EventBeamStopped {
		t.Fatalf("events %s, %s; want beam.started then beam.stopped", got[0].Event, got[1].Event)
	}
	if got[0].Room != "hooked" || got[0].StartDelayMs < 0 || got[0].ID == got[1].ID {
		t.Errorf("started event %+v", got[0])
	}
	if got[1].Reason != jobs.ReasonRequest || got[1].State.RTMP.State != roomcast.StreamingStateStopped {
		t.Errorf("stopped event reason %q state %+v", got[1].Reason, got[1].State.RTMP)
	}
	if rec.attempts < 4 {
		t.Errorf("%d attempts; the endpoint failed twice so want at least 4", rec.attempts)
	}
}
