package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/metrics"
	"github.com/roomcast/roomcast/internal/webhook"
)

// Worker is a running `roomcast worker`: job slots on another machine,
// taking jobs from the server's NATS (serve --nats-listen) or a cluster.
// Its jobs are built as serve's local worker's are (newWork).
type Worker struct {
	cfg  config.Worker
	bus  *bus.Bus
	work *work
	ln   net.Listener // /healthz and /metrics; nil without --addr
	srv  *http.Server
	log  *slog.Logger
}

// NewWorker connects to cfg's NATS, builds the worker's parts and opens its
// --addr, so Addr is known before Run.
func NewWorker(cfg config.Worker, log *slog.Logger) (*Worker, error) {
	secret, err := auth.LoadSecret(cfg.DataDir, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{URL: cfg.NATSURL, Token: auth.Derive(secret, "nats"), Name: "roomcast-worker"}, log)
	if err != nil {
		return nil, err
	}
	events, err := webhook.NewPublisher(ctx, b.JS, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	j, err := newWork(ctx, workConfig{DataDir: cfg.DataDir, Jobs: cfg.Jobs, Slots: cfg.Slots, WorkerID: cfg.ID}, b, events, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	w := &Worker{cfg: cfg, bus: b, work: j, log: log}
	if cfg.Addr != "" {
		if w.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			j.finish()
			b.Close()
			return nil, fmt.Errorf("app: listen %s: %w", cfg.Addr, err)
		}
		w.srv = newHTTPServer(w.routes(), defaultLimits)
	}
	return w, nil
}

// Addr is where /healthz and /metrics are served (nil without --addr).
func (w *Worker) Addr() net.Addr {
	if w.ln == nil {
		return nil
	}
	return w.ln.Addr()
}

func (w *Worker) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		if w.work.worker.Draining() {
			http.Error(rw, "draining", http.StatusServiceUnavailable)
			return
		}
		rw.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", metrics.WorkerHandler(w.work.worker))
	return mux
}

// Run takes jobs until ctx ends (SIGTERM) or a drain is asked, then drains: no new jobs, the
// running ones go on for up to --drain-timeout and are then stopped
// ("worker drained"); it returns once their recordings are finalized and
// stored, and the worker disconnected.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if w.srv != nil {
		wg.Go(func() {
			if err := w.srv.Serve(w.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				w.log.Error("worker http", "err", err)
			}
		})
	}
	w.log.Info("worker running", "id", w.work.worker.ID, "slots", w.work.worker.Slots, "addr", w.cfg.Addr)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { w.work.run(runCtx) })
	select {
	case <-ctx.Done(): // SIGTERM
	case <-w.work.worker.DrainRequested(): // roomcast worker drain, POST /v1/workers/{id}/drain
	}
	w.work.worker.Drain(w.cfg.DrainTimeout)
	stop()
	if w.srv != nil {
		shutCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		w.srv.Shutdown(shutCtx)
		cancel()
	}
	wg.Wait()
	w.work.finish()
	w.bus.Close()
	w.log.Info("stopped")
	return nil
}
