package app

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/internal/recordings"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// NewRunner builds the composite worker's runner over the data dir: job
// scratch space under jobs/, recordings under recordings/.
// Ready recordings are announced as recording.ready events on events.
func NewRunner(dataDir string, maxDuration, emptyTimeout time.Duration, events *webhook.Publisher, log *slog.Logger) (*composite.Runner, error) {
	recs, err := recordings.Open(filepath.Join(dataDir, "recordings"))
	if err != nil {
		return nil, fmt.Errorf("app: recordings: %w", err)
	}
	return &composite.Runner{WorkDir: filepath.Join(dataDir, "jobs"), Recordings: recs, Log: log,
		MaxDuration: maxDuration, EmptyTimeout: emptyTimeout,
		OnRecording: func(rec roomcast.Recording) {
			events.Publish(context.Background(), roomcast.Event{Event: roomcast.EventRecordingReady, Room: rec.Room, Recording: &rec})
		}}, nil
}
