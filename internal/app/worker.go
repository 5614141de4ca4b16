package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/webhook"
)

// Worker is a running `roomcast worker`: job slots on another machine,
// taking jobs from the server's NATS (serve --nats-listen) or a cluster.
// Its jobs are built as serve's local worker's are (newJobs).
type Worker struct {
	bus  *bus.Bus
	jobs *jobs
	log  *slog.Logger
}

// NewWorker connects to cfg's NATS and builds the worker's parts.
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
	j, err := newJobs(ctx, jobsConfig{DataDir: cfg.DataDir, Jobs: cfg.Jobs, Slots: cfg.Slots, WorkerID: cfg.ID}, b, events, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &Worker{bus: b, jobs: j, log: log}, nil
}

// Run takes jobs until ctx ends, then ends them, waits for their
// recordings and disconnects.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("worker running", "id", w.jobs.worker.ID, "slots", w.jobs.worker.Slots)
	w.jobs.run(ctx)
	w.jobs.finish()
	w.bus.Close()
	w.log.Info("stopped")
	return nil
}
