package main

import (
	"context"
	"fmt"
	"io"

	"github.com/roomcast/roomcast/internal/app"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/logging"
)

// worker runs `roomcast worker --nats URL`: job slots on another machine,
// taking jobs from the server's NATS (serve --nats-listen) or a cluster.
func worker(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := config.LoadWorker(args)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	w, err := app.NewWorker(cfg, log)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
