package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/internal/bus"
	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/internal/config"
	"github.com/roomcast/roomcast/internal/control"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/recindex"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/storage"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// uploadGrace is how long shutdown lets uploads in progress finish.
const uploadGrace = 10 * time.Second

// work runs streaming/recording jobs: the composite runner over the data
// dir (job scratch space under jobs/, recordings under recordings/), the
// uploader that takes finished recordings to their store, and, with slots,
// a worker taking jobs from NATS. serve and `roomcast worker` build it the
// same way (newWork), run it (run) and end it (finish).
type work struct {
	runner   *composite.Runner
	uploader *storage.Uploader
	worker   *control.Worker // nil with no slots
	index    *recindex.Index // the fleet's recordings, this process's mirrored into it
	s3       *storage.S3     // nil unless recordings go to S3
	log      *slog.Logger
	// Uploads run under one context that finish cancels after a grace
	// period: a store that is down cannot hold the process; what did not
	// make it is upload_failed and retried at the next start.
	uploads     context.Context
	stopUploads context.CancelFunc
}

// workConfig is what newWork needs beyond the shared parts.
type workConfig struct {
	DataDir  string
	Jobs     config.Jobs
	Slots    int    // 0: no worker (the runner still owns the recordings)
	WorkerID string // "" names it hostname-pid
	// Owner names this process in the fleet's recordings index (its files
	// are read from it); "": the worker's id.
	Owner string
	// MeetingApp is serve's own meeting app, for the warm sandboxes (a
	// worker learns its server's from the jobs).
	MeetingApp composite.MeetingApp
}

// newWork builds the jobs' parts once, from cfg. Ready recordings are
// announced as recording.ready events on events.
func newWork(ctx context.Context, cfg workConfig, b *bus.Bus, events *webhook.Publisher, log *slog.Logger) (*work, error) {
	recs, err := recordings.Open(filepath.Join(cfg.DataDir, "recordings"))
	if err != nil {
		return nil, fmt.Errorf("app: recordings: %w", err)
	}
	store, s3, err := newStore(cfg.Jobs.S3, log)
	if err != nil {
		return nil, err
	}
	j := &work{s3: s3, log: log}
	j.uploads, j.stopUploads = context.WithCancel(context.Background())
	j.uploader = storage.NewUploader(recs, store, func(rec roomcast.Recording) {
		if err := events.Publish(context.Background(), roomcast.Event{Event: roomcast.EventRecordingReady, Room: rec.Room, Recording: &rec}); err != nil {
			log.Warn("could not queue the recording.ready webhook", "err", err)
		}
	}, log)
	j.runner = &composite.Runner{WorkDir: filepath.Join(cfg.DataDir, "jobs"), Recordings: recs, Log: log,
		MaxDuration: cfg.Jobs.MaxDuration, EmptyTimeout: cfg.Jobs.EmptyTimeout, NoPrewarm: !cfg.Jobs.Prewarm,
		Keep: j.keep, RoomActivity: roomActivity(b), MeetingApp: cfg.MeetingApp}
	if cfg.Slots > 0 {
		opts := control.WorkerOptions{ID: cfg.WorkerID, Slots: cfg.Slots, Events: events,
			Limit: jobs.Cost{CPU: cfg.Jobs.CPULimit, MemoryMB: cfg.Jobs.MemoryLimitMB}, Costs: cfg.Jobs.Costs}
		if j.worker, err = control.NewWorker(ctx, b.NC, b.JS, opts, j.runner, log); err != nil {
			j.stopUploads()
			return nil, err
		}
	}
	owner := cfg.Owner
	if owner == "" && j.worker != nil {
		owner = j.worker.ID
	}
	if j.index, err = recindex.Open(ctx, b.NC, b.JS, recs, owner, log); err != nil {
		j.stopUploads()
		return nil, err
	}
	return j, nil
}

// keep takes a finished recording to its store (composite.Runner.Keep and
// trackrec.Manager.Keep).
func (j *work) keep(_ context.Context, id string) error { return j.uploader.Upload(j.uploads, id) }

// roomActivity watches what a room's SFU receives, over NATS, for the live
// monitor.
func roomActivity(b *bus.Bus) func(room string) (func() (activity.Report, bool), func(), error) {
	return func(room string) (func() (activity.Report, bool), func(), error) {
		w, err := activity.NewWatch(b.NC, room)
		if err != nil {
			return nil, nil, err
		}
		return w.Latest, w.Close, nil
	}
}

// run recovers the recordings a killed process left behind, then retries
// failed uploads and (with a worker) takes jobs until ctx ends; the worker
// ends its jobs and records how they ended before run returns. Uploads in
// progress get uploadGrace from the end of ctx.
func (j *work) run(ctx context.Context) {
	context.AfterFunc(ctx, func() { time.AfterFunc(uploadGrace, j.stopUploads) })
	var wg sync.WaitGroup
	wg.Go(func() { j.uploader.Run(ctx) }) // retries failed uploads, now and every 30 s
	if j.worker != nil {
		wg.Go(func() {
			j.runner.Recover()
			j.runner.Prewarm()
			if err := j.worker.Run(ctx); err != nil {
				j.log.Error("worker", "err", err)
			}
		})
	}
	wg.Wait()
}

// finish waits for the recordings still being finalized and uploaded (the
// uploads until uploadGrace after run's end) and releases the warm sandbox.
func (j *work) finish() {
	defer j.stopUploads()
	j.runner.Wait()
	j.runner.Close()
	j.index.Close()
}

// newStore returns where recordings are kept: the S3 bucket when one is
// configured (also returned as s3, for downloads and deletes), else the
// local folder.
func newStore(cfg storage.S3Config, log *slog.Logger) (store storage.Store, s3 *storage.S3, err error) {
	if !cfg.Enabled() {
		return storage.Local{}, nil, nil
	}
	if s3, err = storage.NewS3(cfg); err != nil {
		return nil, nil, err
	}
	log.Info("recordings go to S3", "s3", cfg)
	return s3, s3, nil
}
