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
// the next one is asked; soonWait how long a start waits for a worker
// whose job is stopping (its media flushing) to free its place.
const (
	offerTimeout = 500 * time.Millisecond
	soonWait     = 10 * time.Second
)

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

// place offers job to the workers, the least loaded first, and returns
// the one that accepted; resource_exhausted (503) when none does. A worker
// is picked and counted as holding the job at once (under the lock), so
// starts at the same moment spread over the workers instead of all asking
// the same one.
func (p *placer) place(ctx context.Context, job jobs.Job) (string, error) {
	est := p.costs.Of(job.Kind, job.Params) // until the worker says what it reserved
	asked := map[string]bool{}
	var declined, skipped, soon []string
	deadline := time.Now().Add(soonWait)
rounds:
	for round := 0; ; round++ {
		soon = soon[:0]
		for {
			var w string
			w, skipped = p.pick(est, asked, job.ID)
			if w == "" {
				break
			}
			asked[w] = true
			r := p.offer(ctx, w, job)
			if r.Accepted {
				p.settle(w, job.ID, jobs.Cost{CPU: r.CPU, MemoryMB: r.MemoryMB})
				return w, nil
			}
			p.forget(w, job.ID)
			declined = append(declined, w+": "+r.Reason)
			if r.Soon {
				soon = append(soon, w)
			}
		}
		// Then every worker is asked once more: after a roll call (workers
		// not heard of yet, or whose last job ended a moment ago), and while
		// one says a job of its is stopping, each time it announces a
		// change, until soonWait.
		switch {
		case len(soon) > 0 && time.Now().Before(deadline) && ctx.Err() == nil:
			p.roster.awaitChange(ctx, soon, time.Until(deadline))
		case round == 0:
			p.roster.rollCall(ctx)
		default:
			break rounds
		}
		clear(asked)
		declined = declined[:0]
	}
	what := "an audio-only"
	if !job.Params.AudioOnly {
		res := roomcast.DefaultResolution
		if job.Params.Resolution != nil {
			res = *job.Params.Resolution
		}
		what = fmt.Sprintf("a %dx%d", res.Width, res.Height)
	}
	why := "no worker is running"
	if all := append(declined, skipped...); len(all) > 0 {
		why = joinN(all, 3)
	}
	return "", rcerr.NoCapacity("no worker can take %s job now (%s); try again later or add workers (roomcast worker --nats URL)",
		what, why)
}

// pick returns the least loaded ready worker not asked yet and counts job
// (at cost est) as placed on it; "" when there is none, and why each other
// one is out. The worker itself decides whether the job fits.
func (p *placer) pick(est jobs.Cost, asked map[string]bool, job string) (best string, skipped []string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	type rank struct {
		full bool    // its slots look taken
		free float64 // cores left
		load int
	}
	// better: not full before full, then more free, fewer jobs, the id.
	better := func(a rank, aID string, b rank, bID string) bool {
		if a.full != b.full {
			return !a.full
		}
		return cmp.Or(cmp.Compare(b.free, a.free), cmp.Compare(a.load, b.load), cmp.Compare(aID, bID)) < 0
	}
	var bestRank rank
	for _, w := range p.roster.Workers() {
		if asked[w.ID] {
			continue
		}
		if w.State != roomcast.WorkerReady {
			skipped = append(skipped, w.ID+": "+string(w.State))
			continue
		}
		mine := p.pendingLocked(w, now)
		load := w.Load + len(p.placed[w.ID])
		// What is left after its reservations or its machine's measured
		// load, whichever is more; a worker that looks full (its slots
		// taken) comes last, but is still asked: its announcement may be
		// older than its last job's end.
		r := rank{full: load >= w.Capacity, free: w.CPU.Limit - max(w.CPU.Reserved+mine.CPU, w.CPU.Measured), load: load}
		if best == "" || better(r, w.ID, bestRank, best) {
			best, bestRank = w.ID, r
		}
	}
	if best != "" {
		p.placed[best] = append(p.placed[best], placedJob{id: job, cost: est, at: now})
	}
	return best, skipped
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

// settle records what worker reserved for job.
func (p *placer) settle(worker, job string, cost jobs.Cost) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, j := range p.placed[worker] {
		if j.id == job {
			p.placed[worker][i].cost = cost
		}
	}
}

// forget drops job from what this placer put on worker.
func (p *placer) forget(worker, job string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.placed[worker] = slices.DeleteFunc(p.placed[worker], func(j placedJob) bool { return j.id == job })
}

// offer asks worker to take job.
func (p *placer) offer(ctx context.Context, worker string, job jobs.Job) offerReply {
	b, err := json.Marshal(job)
	if err != nil {
		return offerReply{Reason: err.Error()}
	}
	octx, cancel := context.WithTimeout(ctx, offerTimeout)
	defer cancel()
	m, err := p.nc.RequestWithContext(octx, offerSubject(worker), b)
	if err != nil {
		return offerReply{Reason: "no answer (" + err.Error() + ")"}
	}
	var r offerReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return offerReply{Reason: "an answer it could not read"}
	}
	return r
}

// cancel tells worker that a job it accepted will not come (the start
// lost a race), so its reservation goes now.
func (p *placer) cancel(worker, job string) {
	p.nc.Publish(cancelSubject(worker), []byte(job))
	p.forget(worker, job)
}

func joinN(parts []string, n int) string {
	if len(parts) > n {
		parts = append(parts[:n:n], "…")
	}
	return strings.Join(parts, "; ")
}
