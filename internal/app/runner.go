package app

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/internal/recordings"
)

// NewRunner builds the composite worker's runner over the data dir: job
// scratch space under jobs/, recordings under recordings/.
func NewRunner(dataDir string, maxDuration, emptyTimeout time.Duration, log *slog.Logger) (*composite.Runner, error) {
	recs, err := recordings.Open(filepath.Join(dataDir, "recordings"))
	if err != nil {
		return nil, fmt.Errorf("app: recordings: %w", err)
	}
	return &composite.Runner{WorkDir: filepath.Join(dataDir, "jobs"), Recordings: recs, Log: log,
		MaxDuration: maxDuration, EmptyTimeout: emptyTimeout}, nil
}
