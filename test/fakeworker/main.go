// Command fakeworker is a roomcast worker whose jobs cost no CPU, for the
// placement tests: the real control.Worker (offers and admission, its own
// job queue, claims, heartbeats, announcements) with a runner that reports
// media flowing at once and waits to be stopped. SIGTERM drains it as
// roomcast worker does (no new jobs; the running ones go on for
// --drain-timeout, then stop as "worker drained"), then it exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/jobs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fakeworker:", err)
		os.Exit(1)
	}
}

func run() error {
	natsURL := flag.String("nats", "", "NATS URL")
	id := flag.String("id", "", "worker id")
	slots := flag.Int("slots", 16, "jobs at once, at most")
	cpu := flag.Float64("cpu-limit", 2, "cores its jobs may take")
	mem := flag.Int("memory-limit-mb", 4096, "MB its jobs may take")
	costs := flag.String("job-costs", jobs.DefaultCostModel.String(), "job costs")
	data := flag.String("data", "", "a server's data dir: its secret gives the NATS token (serve --nats-listen)")
	neverStart := flag.Bool("never-start", false, "take jobs and never start them (they stay starting)")
	drainTimeout := flag.Duration("drain-timeout", 0, "how long its jobs go on after SIGTERM")
	flag.Parse()
	var token string
	if *data != "" {
		secret, err := auth.LoadSecret(*data, false)
		if err != nil {
			return err
		}
		token = auth.Derive(secret, "nats")
	}
	model, err := jobs.ParseCostModel(*costs)
	if err != nil {
		return err
	}
	term, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := bus.Open(ctx, bus.Config{URL: *natsURL, Token: token, Name: "fakeworker"}, log)
	if err != nil {
		return err
	}
	defer b.Close()
	idle := control.RunnerFunc(func(ctx context.Context, _ jobs.Job, report func(jobs.Progress)) jobs.Outcome {
		if !*neverStart {
			report(jobs.Progress{Started: true})
		}
		<-ctx.Done()
		return jobs.Outcome{}
	})
	opts := control.WorkerOptions{ID: *id, Slots: *slots, Limit: jobs.Cost{CPU: *cpu, MemoryMB: *mem}, Costs: model}
	w, err := control.NewWorker(ctx, b.NC, b.JS, opts, idle, log)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	select {
	case err := <-ran:
		return err
	case <-term.Done():
	}
	w.Drain(*drainTimeout)
	cancel()
	return <-ran
}
