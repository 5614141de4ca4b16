package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/storage"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// RunnerConfig is what the composite worker's runner needs, on serve and
// on `roomcast worker` alike.
type RunnerConfig struct {
	DataDir      string
	MaxDuration  time.Duration
	EmptyTimeout time.Duration
	Store        storage.Store // where finished recordings go (NewStore)
	// NATS carries the rooms' activity to the live monitor (activity.Watch).
	NATS *nats.Conn
}

// NewRunner builds the composite worker's runner over the data dir: job
// scratch space under jobs/, recordings under recordings/, and the uploader
// that takes finished recordings to cfg.Store. Ready recordings are announced as
// recording.ready events on events. The uploader's Run retries failed
// uploads; its owner runs it.
func NewRunner(cfg RunnerConfig, events *webhook.Publisher, log *slog.Logger) (*composite.Runner, *storage.Uploader, error) {
	recs, err := recordings.Open(filepath.Join(cfg.DataDir, "recordings"))
	if err != nil {
		return nil, nil, fmt.Errorf("app: recordings: %w", err)
	}
	up := storage.NewUploader(recs, cfg.Store, func(rec roomcast.Recording) {
		if err := events.Publish(context.Background(), roomcast.Event{Event: roomcast.EventRecordingReady, Room: rec.Room, Recording: &rec}); err != nil {
			log.Warn("could not queue the recording.ready webhook", "err", err)
		}
	}, log)
	r := &composite.Runner{WorkDir: filepath.Join(cfg.DataDir, "jobs"), Recordings: recs, Log: log,
		MaxDuration: cfg.MaxDuration, EmptyTimeout: cfg.EmptyTimeout, Keep: up.Upload}
	if cfg.NATS != nil {
		r.RoomActivity = func(room string) (func() (activity.Report, bool), func(), error) {
			w, err := activity.NewWatch(cfg.NATS, room)
			if err != nil {
				return nil, nil, err
			}
			return w.Latest, w.Close, nil
		}
	}
	return r, up, nil
}

// NewStore returns where recordings are kept: the S3 bucket when one is
// configured (also returned as s3, for downloads and deletes), else the
// local folder.
func NewStore(cfg storage.S3Config, log *slog.Logger) (store storage.Store, s3 *storage.S3, err error) {
	if !cfg.Enabled() {
		return storage.Local{}, nil, nil
	}
	if s3, err = storage.NewS3(cfg); err != nil {
		return nil, nil, err
	}
	log.Info("recordings go to S3", "s3", cfg)
	return s3, s3, nil
}
