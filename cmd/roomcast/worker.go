package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/roomcast/roomcast/internal/app"
	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/logging"
	"github.com/roomcast/roomcast/internal/storage"
	"github.com/roomcast/roomcast/internal/webhook"
)

// worker runs `roomcast worker --nats URL`: job slots on another machine,
// taking jobs from the server's NATS (serve --nats-listen) or a cluster.
func worker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsURL := fs.String("nats", "", "NATS URL of the server (serve --nats-listen) or cluster (required)")
	data := fs.String("data", "./roomcast-data", "data directory: the secret (or set ROOMCAST_SECRET), recordings in progress")
	slots := fs.Int("slots", 1, "jobs this worker runs at once")
	id := fs.String("id", "", "worker id (default: hostname-pid)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	maxDuration := fs.Duration("max-duration", 4*time.Hour, "jobs end after this long")
	emptyTimeout := fs.Duration("empty-timeout", 60*time.Second, "jobs end when the room has had nobody publishing for this long")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	var s3 storage.S3Config
	s3Env := config.S3Flags(fs, &s3)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(s3Env(), s3.Validate()); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if *natsURL == "" {
		return errors.New("worker: --nats is required (e.g. nats://server:4222, where serve runs with --nats-listen :4222)")
	}
	log, err := logging.New(stderr, *logFormat, level)
	if err != nil {
		return err
	}
	secret, err := auth.LoadSecret(*data, false)
	if err != nil {
		return err
	}
	b, err := bus.Open(ctx, bus.Config{URL: *natsURL, Token: auth.Derive(secret, "nats"), Name: "roomcast-worker"}, log)
	if err != nil {
		return err
	}
	defer b.Close()
	events, err := webhook.NewPublisher(ctx, b.JS, log)
	if err != nil {
		return err
	}
	store, _, err := app.NewStore(s3, log)
	if err != nil {
		return err
	}
	runner, uploader, err := app.NewRunner(app.RunnerConfig{DataDir: *data, MaxDuration: *maxDuration,
		EmptyTimeout: *emptyTimeout, Store: store, NATS: b.NC}, events, log)
	if err != nil {
		return err
	}
	w, err := control.NewWorker(ctx, b.NC, b.JS, *id, *slots, runner, log)
	if err != nil {
		return err
	}
	w.WithEvents(events)
	runner.Recover()
	runner.Prewarm()
	defer runner.Close()
	defer runner.Wait()
	// Failed uploads are retried in the background until the worker stops.
	upCtx, stopUploads := context.WithCancel(context.WithoutCancel(ctx))
	uploads := make(chan struct{})
	go func() {
		defer close(uploads)
		uploader.Run(upCtx)
	}()
	defer func() { stopUploads(); <-uploads }()
	return w.Run(ctx)
}
