package roomcast

import (
	"context"
	"net/http"
)

// WorkerState is whether a worker takes jobs.
type WorkerState string

// Worker states.
const (
	WorkerReady    WorkerState = "ready"    // takes jobs while it has free slots
	WorkerDraining WorkerState = "draining" // takes none; its jobs end by --drain-timeout
)

// Worker is one job worker as GET /v1/workers lists it: serve's local one
// or a `roomcast worker`, as it last announced itself (every 2 s).
type Worker struct {
	ID       string      `json:"id"`
	State    WorkerState `json:"state"`
	Capacity int         `json:"capacity"` // jobs it runs at once
	Load     int         `json:"load"`     // jobs it runs now
	Jobs     []WorkerJob `json:"jobs"`
}

// WorkerJob is a job a worker runs.
type WorkerJob struct {
	ID   string `json:"id"`
	Room string `json:"room"`
}

// Workers lists the job workers running now, by id.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var ws []Worker
	if err := c.do(ctx, http.MethodGet, "/v1/workers", nil, &ws); err != nil {
		return nil, err
	}
	return ws, nil
}
