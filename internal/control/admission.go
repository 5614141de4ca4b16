package control

import (
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/procstat"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Placement subjects: a composite job is offered to one worker at a time
// (offerSubject, request-reply); the worker that accepts reserves the
// job's cost and takes the job from its own queue. A roll call makes
// every worker announce itself at once.
const rollCallSubject = "roomcast.rollcall"

func workerToken(id string) string   { return hex.EncodeToString([]byte(id)) }
func offerSubject(id string) string  { return "roomcast.offer." + workerToken(id) }
func cancelSubject(id string) string { return "roomcast.offer." + workerToken(id) + ".cancel" }
func drainSubject(id string) string  { return "roomcast.drain." + workerToken(id) }

// acceptHold is how long an accepted job's cost stays reserved before the
// job arrives from the worker's queue: past it, the job is presumed lost
// (its placer died before queueing it) and the reservation goes.
const acceptHold = 15 * time.Second

// offerReply is a worker's answer to an offer: accepted with the cost it
// reserved, or why not; Soon says a job of its is stopping, so it may have
// room in a moment.
type offerReply struct {
	Accepted bool    `json:"accepted"`
	CPU      float64 `json:"cpu,omitempty"`
	MemoryMB int     `json:"memoryMB,omitempty"`
	Reason   string  `json:"reason,omitempty"`
	Soon     bool    `json:"soon,omitempty"`
}

// admission is a worker's capacity and what its jobs reserve of it. A job
// is admitted while a slot is free and its cost fits in limit − reserved,
// reserved being the cost of the jobs it runs or has accepted. The
// machine's measured busy cores are announced and rank the workers (the
// least loaded first), but do not refuse a job: they include the jobs' own
// start-up spikes (Chromium starting takes a core for a second), which
// would refuse jobs that fit.
type admission struct {
	limit     jobs.Cost
	slots     int
	costs     jobs.CostModel
	unlimited bool // track recording: the SFU's work, no admission
	busy      procstat.Busy

	mu       sync.Mutex
	measured float64
	held     map[string]hold // by job id
}

// hold is one job's reservation.
type hold struct {
	room     string
	cost     jobs.Cost
	expires  time.Time // zero once the job runs
	stopping bool      // stopped, winding down: free soon
}

func newAdmission(opts WorkerOptions, kind jobs.Kind) *admission {
	a := &admission{limit: opts.Limit, slots: max(opts.Slots, 1), costs: opts.Costs, unlimited: kind == jobs.KindTracks,
		held: map[string]hold{}}
	if a.costs == nil {
		a.costs = jobs.DefaultCostModel
	}
	if a.limit.CPU == 0 {
		a.limit.CPU = 0.8 * float64(runtime.NumCPU())
	}
	if a.limit.MemoryMB == 0 {
		a.limit.MemoryMB = procstat.MemoryMB() * 8 / 10
	}
	return a
}

// measure samples the machine's busy cores (each heartbeat).
func (a *admission) measure() {
	m := a.busy.Sample()
	a.mu.Lock()
	a.measured = m
	a.mu.Unlock()
}

// offer answers an offer of job: accepted with the cost it reserves (held
// acceptHold for the job to arrive), or why not.
func (a *admission) offer(job jobs.Job, now time.Time) offerReply {
	cost, why := a.reserve(job, now, false)
	if why == "" {
		return offerReply{Accepted: true, CPU: cost.CPU, MemoryMB: cost.MemoryMB}
	}
	r := offerReply{Reason: why}
	if r.Soon = a.anyStopping(); r.Soon {
		r.Reason += "; a job is stopping"
	}
	return r
}

// run turns job's reservation into a running job's, reserving it first if
// it was never offered (or its hold expired); why says why it does not fit.
func (a *admission) run(job jobs.Job, now time.Time) (ok bool, why string) {
	_, why = a.reserve(job, now, true)
	return why == "", why
}

// reserve holds job's cost if it fits: until acceptHold from now, or with
// running for as long as the job runs (a held job then keeps its
// reservation, without expiry). why says why it does not fit ("": it does).
func (a *admission) reserve(job jobs.Job, now time.Time, running bool) (cost jobs.Cost, why string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.held[job.ID]; ok { // offered again (a retry), or arriving
		if running {
			h.expires = time.Time{}
			a.held[job.ID] = h
		}
		return h.cost, ""
	}
	a.expire(now)
	cost = a.costs.Of(job.Kind, job.Params)
	if len(a.held) >= a.slots {
		return cost, fmt.Sprintf("all %d slots are taken", a.slots)
	}
	if !a.unlimited {
		used := a.reservedLocked()
		if !used.Add(cost).Fits(a.limit) {
			return cost, fmt.Sprintf("the job needs %.2f cores and %d MB; %.2f of %.2f cores and %d of %d MB are in use",
				cost.CPU, cost.MemoryMB, used.CPU, a.limit.CPU, used.MemoryMB, a.limit.MemoryMB)
		}
	}
	h := hold{room: job.Room, cost: cost, expires: now.Add(acceptHold)}
	if running {
		h.expires = time.Time{}
	}
	a.held[job.ID] = h
	return cost, ""
}

// load is the jobs held (running or accepted) and the slots.
func (a *admission) load(now time.Time) (held, slots int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	return len(a.held), a.slots
}

// stopping marks job id as winding down.
func (a *admission) stopping(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.held[id]; ok {
		h.stopping = true
		a.held[id] = h
	}
}

func (a *admission) anyStopping() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range a.held {
		if h.stopping {
			return true
		}
	}
	return false
}

// holds says whether job id has a reservation.
func (a *admission) holds(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.held[id]
	return ok
}

// release frees job id's reservation.
func (a *admission) release(id string) {
	a.mu.Lock()
	delete(a.held, id)
	a.mu.Unlock()
}

// pending says whether some accepted job has not arrived yet.
func (a *admission) pending(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	for _, h := range a.held {
		if !h.expires.IsZero() {
			return true
		}
	}
	return false
}

func (a *admission) expire(now time.Time) {
	for id, h := range a.held {
		if !h.expires.IsZero() && now.After(h.expires) {
			delete(a.held, id)
		}
	}
}

func (a *admission) reservedLocked() jobs.Cost {
	var c jobs.Cost
	for _, h := range a.held {
		c = c.Add(h.cost)
	}
	return c
}

// describe fills w's capacity, load and jobs.
func (a *admission) describe(w *roomcast.Worker, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	r := a.reservedLocked()
	w.Capacity, w.Load = a.slots, len(a.held)
	w.CPU = roomcast.WorkerCPU{Limit: a.limit.CPU, Reserved: r.CPU, Measured: a.measured}
	w.Memory = roomcast.WorkerMemory{LimitMB: a.limit.MemoryMB, ReservedMB: r.MemoryMB}
	for id, h := range a.held {
		w.Jobs = append(w.Jobs, roomcast.WorkerJob{ID: id, Room: h.room})
	}
}
