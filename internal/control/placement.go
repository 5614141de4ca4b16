package control

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// offerTimeout is how long a worker may take to answer an offer before
// the next one is asked.
const offerTimeout = 500 * time.Millisecond

// placer chooses the worker a composite job runs on: the least loaded one
// the job fits on, by the workers' announcements and
// the jobs this placer gave them since (which the next announcement
// lists). The worker has the last word: it accepts the offer only if the
// job still fits there (another placer may have been first), else the next
// one is asked.
type placer struct {
	nc     *nats.Conn
	roster *Roster
	costs  jobs.CostModel

	mu     sync.Mutex
	placed map[string][]placedJob // by worker id: not in its announcement yet
}

type placedJob struct {
	id   string
	cost jobs.Cost
	at   time.Time
}

func newPlacer(nc *nats.Conn, roster *Roster, costs jobs.CostModel) *placer {
	if costs == nil {
		costs = jobs.DefaultCostModel
	}
	return &placer{nc: nc, roster: roster, costs: costs, placed: map[string][]placedJob{}}
}

// place offers job to the workers it fits on, best first, and returns the
// one that accepted; resource_exhausted when none does.
func (p *placer) place(ctx context.Context, job jobs.Job) (string, error) {
	cost := p.costs.Of(job.Kind, job.Params)
	asked := map[string]bool{}
	var declined, skipped []string
	for round := range 2 {
		var cands []string
		cands, skipped = p.candidates(cost, asked)
		for _, w := range cands {
			asked[w] = true
			ok, why := p.offer(ctx, w, job)
			if ok {
				p.remember(w, job.ID, cost)
				return w, nil
			}
			declined = append(declined, w+": "+why)
		}
		if round == 0 {
			p.roster.rollCall(ctx) // workers not heard of yet (just started?) or changed since
		}
	}
	res := roomcast.DefaultResolution
	if job.Params.Resolution != nil {
		res = *job.Params.Resolution
	}
	why := "no worker is running"
	if all := append(declined, skipped...); len(all) > 0 {
		why = joinN(all, 3)
	}
	return "", rcerr.New(rcerr.ResourceExhausted, "no worker can take a %dx%d job (%.2f cores, %d MB) now (%s); try again later or add workers (roomcast worker --nats URL)",
		res.Width, res.Height, cost.CPU, cost.MemoryMB, why)
}

// candidates are the ready workers cost fits on and that were not asked
// yet, the most CPU left first; skipped says why each other one is not.
func (p *placer) candidates(cost jobs.Cost, asked map[string]bool) (ids, skipped []string) {
	type cand struct {
		id   string
		free float64
		load int
	}
	now := time.Now()
	var out []cand
	p.mu.Lock()
	for _, w := range p.roster.Workers() {
		if asked[w.ID] {
			continue
		}
		if w.State != roomcast.WorkerReady {
			skipped = append(skipped, w.ID+": "+string(w.State))
			continue
		}
		mine := p.pendingLocked(w, now)
		used := jobs.Cost{CPU: w.CPU.Reserved + mine.CPU, MemoryMB: w.Memory.ReservedMB + mine.MemoryMB}
		limit := jobs.Cost{CPU: w.CPU.Limit, MemoryMB: w.Memory.LimitMB}
		load := w.Load + len(p.placed[w.ID])
		if load >= w.Capacity {
			skipped = append(skipped, fmt.Sprintf("%s: all %d slots are taken", w.ID, w.Capacity))
			continue
		}
		if !used.Add(cost).Fits(limit) {
			skipped = append(skipped, fmt.Sprintf("%s: %.2f of %.2f cores and %d of %d MB in use", w.ID, used.CPU, limit.CPU, used.MemoryMB, limit.MemoryMB))
			continue
		}
		// The least loaded first: what is left after its reservations or
		// its machine's measured load, whichever is more.
		out = append(out, cand{id: w.ID, free: limit.CPU - max(used.CPU, w.CPU.Measured), load: load})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.free, a.free), cmp.Compare(a.load, b.load), cmp.Compare(a.id, b.id))
	})
	for _, c := range out {
		ids = append(ids, c.id)
	}
	return ids, skipped
}

// pendingLocked is the cost of the jobs placed on w that its announcement
// does not list yet; the others are forgotten.
func (p *placer) pendingLocked(w roomcast.Worker, now time.Time) jobs.Cost {
	listed := map[string]bool{}
	for _, j := range w.Jobs {
		listed[j.ID] = true
	}
	var sum jobs.Cost
	keep := p.placed[w.ID][:0]
	for _, j := range p.placed[w.ID] {
		if listed[j.id] || now.Sub(j.at) > acceptHold {
			continue
		}
		keep = append(keep, j)
		sum = sum.Add(j.cost)
	}
	if len(keep) == 0 {
		delete(p.placed, w.ID)
	} else {
		p.placed[w.ID] = keep
	}
	return sum
}

func (p *placer) remember(worker, job string, cost jobs.Cost) {
	p.mu.Lock()
	p.placed[worker] = append(p.placed[worker], placedJob{id: job, cost: cost, at: time.Now()})
	p.mu.Unlock()
}

// offer asks worker to take job.
func (p *placer) offer(ctx context.Context, worker string, job jobs.Job) (bool, string) {
	b, err := json.Marshal(job)
	if err != nil {
		return false, err.Error()
	}
	octx, cancel := context.WithTimeout(ctx, offerTimeout)
	defer cancel()
	m, err := p.nc.RequestWithContext(octx, offerSubject(worker), b)
	if err != nil {
		return false, "no answer (" + err.Error() + ")"
	}
	var r offerReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return false, "an answer it could not read"
	}
	return r.Accepted, r.Reason
}

// cancel tells worker that a job it accepted will not come (the start
// lost a race), so its reservation goes now.
func (p *placer) cancel(worker, job string) {
	p.nc.Publish(cancelSubject(worker), []byte(job))
	p.mu.Lock()
	defer p.mu.Unlock()
	p.placed[worker] = slices.DeleteFunc(p.placed[worker], func(j placedJob) bool { return j.id == job })
}

func joinN(parts []string, n int) string {
	if len(parts) > n {
		parts = append(parts[:n:n], "…")
	}
	return strings.Join(parts, "; ")
}
