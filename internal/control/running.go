package control

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// ReasonDrained ends the jobs a drained worker still ran at its deadline.
const ReasonDrained = "worker drained"

// running is a job a worker runs: how to stop it, and why it was stopped.
type running struct {
	job    jobs.Job
	ctx    context.Context // the job's own: a stop cancels it
	cancel context.CancelFunc

	mu       sync.Mutex
	reason   string      // the first stop's reason ("": on request)
	stops    int         // stops asked
	requests []*nats.Msg // stop requests, answered once the job's end is recorded
	subs     []*nats.Subscription
}

// listen takes the job's stop requests from now on (before the job is
// claimed, so a stop right after the claim finds it listening), and its
// changes when the runner is a Changer; stopSub ends that.
func (j *running) listen(nc *nats.Conn, r Runner, log *slog.Logger) {
	sub, err := nc.Subscribe(stopSubject(j.job.ID), func(m *nats.Msg) {
		log.Info("stop requested", "job", j.job, "reason", string(m.Data))
		j.stop(string(m.Data), m)
	})
	if err != nil {
		log.Error("subscribe to stop requests", "job", j.job, "err", err)
		return
	}
	j.subs = append(j.subs, sub)
	if th, ok := r.(Thumbnailer); ok {
		sub, err = nc.Subscribe(thumbnailSubject(j.job.ID), func(m *nats.Msg) {
			b, err := th.Thumbnail(j.ctx, j.job.ID)
			reply := nats.NewMsg(m.Reply)
			if err != nil {
				code, msg := rcerr.Public(err)
				reply.Header.Set(errorCodeHeader, string(code))
				b = []byte(msg)
			}
			reply.Data = b
			m.RespondMsg(reply)
		})
		if err != nil {
			log.Error("subscribe to thumbnail requests", "job", j.job, "err", err)
			return
		}
		j.subs = append(j.subs, sub)
	}
	ch, ok := r.(Changer)
	if !ok {
		return
	}
	sub, err = nc.Subscribe(changeSubject(j.job.ID), func(m *nats.Msg) {
		var c jobs.Change
		err := json.Unmarshal(m.Data, &c)
		if err == nil {
			err = ch.Change(j.job.ID, c)
		}
		var a changeAnswer
		if err != nil {
			code, msg := rcerr.Public(err)
			a = changeAnswer{Code: code, Message: msg}
			log.Info("change refused", "job", j.job, "err", err)
		}
		b, _ := json.Marshal(a)
		m.Respond(b)
	})
	if err != nil {
		log.Error("subscribe to changes", "job", j.job, "err", err)
		return
	}
	j.subs = append(j.subs, sub)
}

func (j *running) stopSub() {
	for _, s := range j.subs {
		s.Unsubscribe()
	}
}

// stop ends the job for reason; the first stop's reason is kept.
func (j *running) stop(reason string, req *nats.Msg) {
	j.mu.Lock()
	if j.stops == 0 {
		j.reason = reason
	}
	j.stops++
	if req != nil {
		j.requests = append(j.requests, req)
	}
	j.mu.Unlock()
	j.cancel()
}

// stopReason is why the job was stopped, "" when it was not (or on request).
func (j *running) stopReason() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.reason
}

// answer tells whoever asked for a stop that the job's end is recorded.
func (j *running) answer() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, m := range j.requests {
		m.Respond([]byte("stopped"))
	}
}

// run runs one job: a stop request (or Drain) cancels it; heartbeats keep
// it alive in the state; its end is written as stopped or failed.
func (w *Worker) run(ctx context.Context, j *running) {
	defer w.runs.Done()
	defer j.cancel()
	defer j.stopSub()
	job := j.job
	log := w.log.With("job", job)
	// Reports and heartbeats go on while a stopped job winds down (its
	// files are flushed): they are bounded by time, not by the stop.
	var once sync.Once
	update := func(p jobs.Progress) error {
		if p.Started {
			once.Do(func() { w.starts.observe(time.Since(job.CreatedAt)) })
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*heartbeat)
		defer cancel()
		_, _, err := w.store.Update(uctx, job.Room, func(r jobs.Record) (jobs.Record, error) {
			return jobs.Report(r, w.kind, job.ID, p, time.Now().UTC())
		})
		if errors.Is(err, jobs.ErrStaleJob) {
			log.Info("room no longer runs this job; stopping it")
			j.cancel()
		}
		return err
	}
	done := make(chan jobs.Outcome, 1)
	go func() { done <- w.runner.Run(j.ctx, job, func(p jobs.Progress) { update(p) }) }()
	log.Info("job started")
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	var out jobs.Outcome
loop:
	for {
		select {
		case out = <-done: // stopped (on request, or on its own), or failed
			break loop
		case <-ctx.Done(): // the worker shuts down
			j.cancel()
			if out = <-done; !out.Failed() {
				out = jobs.Failed(rcerr.New(rcerr.Unavailable, "worker %s shut down while the job ran", w.ID))
				if w.onExit != "" {
					out = jobs.Stopped(w.onExit)
				}
			}
			break loop
		case <-t.C:
			update(jobs.Progress{})
		}
	}
	if out == (jobs.Outcome{}) {
		out.Reason = j.stopReason()
	}
	if out.Failed() {
		w.failed.Add(1)
	} else {
		w.stopped.Add(1)
	}
	_, _, err := w.store.Update(context.WithoutCancel(ctx), job.Room, func(r jobs.Record) (jobs.Record, error) {
		return jobs.Finish(r, w.kind, job.ID, out)
	})
	if err != nil && !errors.Is(err, jobs.ErrStaleJob) {
		log.Warn("could not record the job's end", "err", err)
	}
	log.Info("job ended", "outcome", out)
	if e, ok := w.runner.(Ender); ok {
		e.Ended(job)
	}
	w.release(job.ID) // before the stop is answered: a start right after it finds the slot free
	j.answer()
}

// DrainRequested is closed when a drain was asked over NATS (the API's
// POST /v1/workers/{id}/drain, `roomcast worker drain`): the worker takes
// no new job from then on; its owner calls Drain as it would on SIGTERM.
func (w *Worker) DrainRequested() <-chan struct{} { return w.asked }

// Draining says whether Drain began.
func (w *Worker) Draining() bool { return w.draining.Err() != nil }

// Drain stops taking jobs (a job fetched meanwhile goes back to the queue
// for another worker), lets the running ones go on for up to timeout, then
// stops them with ReasonDrained, and returns once every job's end is
// recorded. Run returns when its ctx ends after that.
func (w *Worker) Drain(timeout time.Duration) {
	w.drain()
	if w.kind == jobs.KindComposite {
		w.announce() // placers stop offering it jobs now
	}
	w.log.Info("draining", "timeout", timeout)
	done := make(chan struct{})
	go func() { w.runs.Wait(); close(done) }() // ends below, either way
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case <-done:
		return
	case <-deadline.C:
	}
	w.mu.Lock()
	left := make([]*running, 0, len(w.running))
	for _, j := range w.running {
		left = append(left, j)
	}
	w.mu.Unlock()
	for _, j := range left {
		j.stop(ReasonDrained, nil)
	}
	<-done
}

// Load returns the jobs running and the slots.
func (w *Worker) Load() (busy, slots int) { return w.adm.load(time.Now()) }

// Status is the worker as it announces itself: state, slots, CPU and
// memory, jobs.
func (w *Worker) Status() roomcast.Worker { return w.announcement() }

// StartDelays is the histogram of its jobs' start delays (start request
// to media flowing), in seconds: cumulative counts per upper bound.
func (w *Worker) StartDelays() (count uint64, sum float64, buckets map[float64]uint64) {
	return w.starts.snapshot()
}

// startDelayBounds are the histogram's upper bounds, in seconds.
var startDelayBounds = []float64{0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30}

// delays is a histogram of durations.
type delays struct {
	mu     sync.Mutex
	counts []uint64 // per bound, not cumulative
	n      uint64
	sum    float64
}

func (d *delays) observe(v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.counts == nil {
		d.counts = make([]uint64, len(startDelayBounds))
	}
	s := v.Seconds()
	d.n++
	d.sum += s
	for i, b := range startDelayBounds {
		if s <= b {
			d.counts[i]++
			break
		}
	}
}

func (d *delays) snapshot() (uint64, float64, map[float64]uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[float64]uint64, len(startDelayBounds))
	var cum uint64
	for i, b := range startDelayBounds {
		if d.counts != nil {
			cum += d.counts[i]
		}
		out[b] = cum
	}
	return d.n, d.sum, out
}

// Ended counts the jobs this worker ended: stopped and failed.
func (w *Worker) Ended() (stopped, failed uint64) { return w.stopped.Load(), w.failed.Load() }
