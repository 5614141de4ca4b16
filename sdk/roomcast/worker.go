package roomcast

import (
	"context"
	"net/http"
	"net/url"
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
	Capacity int         `json:"capacity"` // jobs it runs at once, at most
	Load     int         `json:"load"`     // jobs it runs now (or has accepted)
	Jobs     []WorkerJob `json:"jobs"`
	// CPU and Memory are what its jobs may take and what they take: a
	// worker accepts a job while the job's cost fits in what is left.
	CPU    WorkerCPU    `json:"cpu"`
	Memory WorkerMemory `json:"memory"`
}

// WorkerCPU is a worker's CPU, in cores.
type WorkerCPU struct {
	Limit    float64 `json:"limit"`    // what its jobs may take (--cpu-limit)
	Reserved float64 `json:"reserved"` // the cost of the jobs it runs or has accepted
	Measured float64 `json:"measured"` // busy cores on its machine, whatever the cause
}

// WorkerMemory is a worker's memory, in MB.
type WorkerMemory struct {
	LimitMB    int `json:"limitMB"`    // what its jobs may take (--memory-limit-mb)
	ReservedMB int `json:"reservedMB"` // the cost of the jobs it runs or has accepted
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

// DrainWorker asks worker id to drain: it takes no new job, lets its jobs
// go on for its --drain-timeout, then stops them and exits. It returns the
// worker as it is then (draining).
func (c *Client) DrainWorker(ctx context.Context, id string) (Worker, error) {
	var w Worker
	if err := c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/drain", nil, &w); err != nil {
		return Worker{}, err
	}
	return w, nil
}
