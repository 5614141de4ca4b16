package control

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Job queue names on NATS. Every job waits on the queue of the process
// that must run it: a composite job on the worker's that accepted it (see
// admission.go), a track recording job on the server's whose SFU holds the
// room.
const (
	jobStream     = "ROOMCAST_JOBS"
	beamPrefix    = "roomcast.jobs.beam."   // + hex(worker id)
	tracksPrefix  = "roomcast.jobs.tracks." // + hex(server id)
	workerSubject = "roomcast.workers"      // + .<hex id>: a worker's advertisement
	heartbeat     = 2 * time.Second
)

func stopSubject(jobID string) string { return "roomcast.job." + jobID + ".stop" }

// queue is where jobs of a kind for target wait, and the consumer that
// takes them.
func queue(k jobs.Kind, target string) (subject, consumer string) {
	t := workerToken(target)
	if k == jobs.KindTracks {
		return tracksPrefix + t, "tracks-" + t
	}
	return beamPrefix + t, "beam-" + t
}

func ensureJobStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        jobStream,
		Description: "roomcast: jobs waiting for a worker",
		Subjects:    []string{beamPrefix + "*", tracksPrefix + "*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      time.Hour,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return fmt.Errorf("control: job stream: %w", err)
	}
	return nil
}

// ensureConsumer creates (or updates) the consumer a worker of kind k for
// target takes its jobs from; it goes away a minute after the worker does.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, k jobs.Kind, target string) (jetstream.Consumer, error) {
	subject, name := queue(k, target)
	cfg := jetstream.ConsumerConfig{
		Durable:           name,
		FilterSubject:     subject,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           30 * time.Second,
		MaxAckPending:     -1,
		InactiveThreshold: time.Minute,
	}
	c, err := js.CreateOrUpdateConsumer(ctx, jobStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("control: job consumer: %w", err)
	}
	return c, nil
}

// Runner runs one job until ctx ends (a stop), it stops on its own or it
// fails, calling report as outputs change, and says which it was. A job
// whose ctx ended returns the zero Outcome: the worker knows why it ended.
// composite.Runner runs composite jobs, trackrec.Manager track recordings.
type Runner interface {
	Run(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome
}

// Ender is a Runner told once the end of a job it ran is recorded, for
// what must follow it (a recording turns ready after its job stopped).
type Ender interface {
	Ended(job jobs.Job)
}

// Changer is a Runner that changes a job it runs while it runs (a
// composite job's destinations): the error goes back to the caller.
type Changer interface {
	Change(jobID string, c jobs.Change) error
}

// Thumbnailer is a Runner that shows a picture of a job's output while it
// runs (a composite job's latest keyframe as JPEG).
type Thumbnailer interface {
	Thumbnail(ctx context.Context, jobID string) ([]byte, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, job jobs.Job, report func(jobs.Progress)) jobs.Outcome {
	return f(ctx, job, report)
}

// Worker takes jobs of one kind from its queue, as its admission allows,
// runs them with its Runner and keeps their state current with
// heartbeats. A composite worker answers offers (admission.go).
type Worker struct {
	ID     string
	Slots  int
	kind   jobs.Kind
	adm    *admission
	target string // whose queue it takes from (track recording: this server)
	onExit string // stop reason of jobs still running when it shuts down; "": they fail
	runner Runner
	store  *Store
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]*running // by job id
	free    chan struct{}       // a slot was freed
	wg      sync.WaitGroup      // the advertisement
	runs    sync.WaitGroup      // running jobs

	draining context.Context // done once Drain began: no more jobs are taken
	drain    context.CancelFunc
	asked    chan struct{} // closed when a drain is asked over NATS (DrainRequested)
	askOnce  sync.Once
	starts   delays        // start request → media flowing, of its jobs
	stopped  atomic.Uint64 // jobs ended without failing
	failed   atomic.Uint64 // jobs that failed
}

// NewWorker returns a worker running jobs with r as opts say.
func NewWorker(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, opts WorkerOptions, r Runner, log *slog.Logger) (*Worker, error) {
	store, err := OpenStore(ctx, js)
	if err != nil {
		return nil, err
	}
	if err := ensureJobStream(ctx, js); err != nil {
		return nil, err
	}
	id := opts.ID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	kind := cmp.Or(opts.Kind, jobs.KindComposite)
	store.events = opts.Events
	w := &Worker{ID: id, Slots: max(opts.Slots, 1), kind: kind, adm: newAdmission(opts, kind), target: id, onExit: opts.ShutdownReason,
		runner: r, store: store, nc: nc, js: js, running: map[string]*running{},
		log: log.With("worker", id, "kind", kind), free: make(chan struct{}, 1)}
	w.draining, w.drain = context.WithCancel(context.Background())
	w.asked = make(chan struct{})
	return w, nil
}

// WorkerOptions configure a Worker.
type WorkerOptions struct {
	// ID names the worker; "" names it hostname-pid. A track recording
	// worker takes the jobs queued for this id (the server's).
	ID     string
	Kind   jobs.Kind          // the jobs it runs; "": composite
	Slots  int                // jobs run at once (at least 1)
	Events *webhook.Publisher // when set, the webhook events of its changes go out through it
	// ShutdownReason, when set, stops the jobs still running when the
	// worker shuts down for this reason; unset, they fail.
	ShutdownReason string
	// Limit is what a composite worker's jobs may take; zero parts default
	// to 80 % of the machine's cores and memory.
	Limit jobs.Cost
	// Costs is what a composite job costs; nil: jobs.DefaultCostModel.
	Costs jobs.CostModel
}

// Run takes jobs until ctx ends, then ends the jobs it runs and waits for them.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := ensureConsumer(ctx, w.js, w.kind, w.target)
	if err != nil {
		return fmt.Errorf("control: worker: %w", err)
	}
	if w.kind == jobs.KindComposite {
		unsub, err := w.answerOffers()
		if err != nil {
			return err
		}
		defer unsub()
		w.wg.Go(func() { w.advertise(ctx) })
	}
	w.log.Info("worker ready", "slots", w.Slots, "cpu", w.adm.limit.CPU, "memoryMB", w.adm.limit.MemoryMB)
	// A draining worker still takes the jobs it accepted before.
	for ctx.Err() == nil && (!w.Draining() || w.adm.pending(time.Now())) {
		if !w.waitSlot(ctx) {
			break
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		stopFetch := func() bool { return false }
		if !w.adm.pending(time.Now()) {
			stopFetch = context.AfterFunc(w.draining, cancel)
		}
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			stopFetch()
			cancel()
			if ctx.Err() == nil && !w.Draining() {
				w.log.Warn("fetch jobs", "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		for msg := range batch.Messages() {
			w.take(ctx, msg)
		}
		stopFetch()
		cancel()
	}
	w.wg.Wait()
	w.runs.Wait()
	return nil
}

// waitSlot waits until a job may be fetched: a composite worker's jobs
// were admitted when offered, a track recording worker's need a free slot.
func (w *Worker) waitSlot(ctx context.Context) bool {
	for {
		busy, _ := w.Load()
		if w.kind == jobs.KindComposite || busy < w.Slots {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.draining.Done():
			return false
		case <-w.free:
		}
	}
}

// advertise announces the worker (roomcast.Worker: state, capacity, load,
// jobs) every heartbeat and on a roll call, for placement, the Roster and
// operators.
func (w *Worker) advertise(ctx context.Context) {
	calls := make(chan *nats.Msg, 1)
	sub, err := w.nc.ChanSubscribe(rollCallSubject, calls)
	if err != nil {
		w.log.Warn("roll calls go unanswered", "err", err)
	} else {
		defer sub.Unsubscribe()
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	w.adm.measure()
	for {
		w.announce()
		select {
		case <-ctx.Done():
			return
		case <-calls:
		case <-t.C:
			w.adm.measure()
		}
	}
}

func (w *Worker) announce() {
	b, _ := json.Marshal(w.announcement())
	w.nc.Publish(workerSubject+"."+workerToken(w.ID), b)
}

// announcement is what the worker is doing now.
func (w *Worker) announcement() roomcast.Worker {
	a := roomcast.Worker{ID: w.ID, State: roomcast.WorkerReady, Jobs: []roomcast.WorkerJob{}}
	if w.Draining() {
		a.State = roomcast.WorkerDraining
	}
	w.adm.describe(&a, time.Now())
	slices.SortFunc(a.Jobs, func(x, y roomcast.WorkerJob) int { return cmp.Compare(x.ID, y.ID) })
	return a
}

// answerOffers accepts offered jobs that fit (reserving their cost) until
// the returned func is called; a draining worker accepts none.
func (w *Worker) answerOffers() (func(), error) {
	offers, err := w.nc.Subscribe(offerSubject(w.ID), func(m *nats.Msg) {
		var job jobs.Job
		reply := offerReply{}
		switch {
		case json.Unmarshal(m.Data, &job) != nil || job.Kind != w.kind:
			reply.Reason = "not a job this worker runs"
		case w.Draining():
			reply.Reason = "draining"
		default:
			reply = w.adm.offer(job, time.Now())
		}
		b, _ := json.Marshal(reply)
		m.Respond(b)
		if reply.Accepted {
			w.announce() // placers see the reservation at once
		}
	})
	if err != nil {
		return nil, fmt.Errorf("control: worker offers: %w", err)
	}
	drains, err := w.nc.Subscribe(drainSubject(w.ID), func(m *nats.Msg) {
		w.log.Info("drain requested")
		w.drain() // no offer is accepted from now on
		w.askOnce.Do(func() { close(w.asked) })
		b, _ := json.Marshal(w.announcement())
		m.Respond(b)
		w.announce()
	})
	if err != nil {
		offers.Unsubscribe()
		return nil, fmt.Errorf("control: worker drain requests: %w", err)
	}
	cancels, err := w.nc.Subscribe(cancelSubject(w.ID), func(m *nats.Msg) {
		w.mu.Lock()
		_, runs := w.running[string(m.Data)]
		w.mu.Unlock()
		if !runs {
			w.adm.release(string(m.Data))
		}
	})
	if err != nil {
		offers.Unsubscribe()
		drains.Unsubscribe()
		return nil, fmt.Errorf("control: worker offers: %w", err)
	}
	return func() { offers.Unsubscribe(); drains.Unsubscribe(); cancels.Unsubscribe() }, nil
}

// take claims a queued job in the room's state and starts it. A job the
// room no longer wants (stopped or failed meanwhile) is dropped.
func (w *Worker) take(ctx context.Context, msg jetstream.Msg) {
	var job jobs.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		w.log.Error("dropping undecodable job", "err", err)
		msg.Term()
		return
	}
	job.Kind = cmp.Or(job.Kind, jobs.KindComposite)
	if job.Kind != w.kind {
		w.log.Error("dropping a job of another kind", "job", job)
		msg.Term()
		return
	}
	if ok, why := w.admit(job); !ok {
		w.log.Warn("refusing a job that does not fit", "job", job, "why", why)
		w.store.Update(ctx, job.Room, func(r jobs.Record) (jobs.Record, error) {
			return jobs.Finish(r, w.kind, job.ID, jobs.Failed(rcerr.New(rcerr.ResourceExhausted, "worker %s cannot take the job: %s", w.ID, why)))
		})
		msg.Ack()
		return
	}
	j := &running{job: job}
	j.ctx, j.cancel = context.WithCancel(context.WithoutCancel(ctx))
	j.listen(w.nc, w.runner, w.log)
	_, _, err := w.store.Update(ctx, job.Room, func(r jobs.Record) (jobs.Record, error) {
		return jobs.Claim(r, w.kind, job.ID, w.ID, time.Now().UTC())
	})
	if err != nil {
		j.stopSub()
		j.cancel()
	}
	switch {
	case errors.Is(err, jobs.ErrStaleJob):
		w.log.Info("dropping job the room no longer runs", "job", job)
		w.adm.release(job.ID)
		msg.Ack()
		return
	case err != nil:
		w.log.Warn("could not claim job; leaving it queued", "job", job, "err", err)
		msg.Nak()
		return
	}
	msg.Ack()
	// Once stopped (on request, by the room, a drain or the shutdown), the
	// job still holds its slot while it winds down: offers meanwhile hear
	// that it will be free soon.
	context.AfterFunc(j.ctx, func() { w.adm.stopping(job.ID) })
	w.mu.Lock()
	w.running[job.ID] = j
	w.mu.Unlock()
	w.runs.Add(1)
	go w.run(ctx, j)
}

// admit lets job run: its reservation (or, for a job not offered, a slot
// and its cost) — a draining worker runs only jobs it accepted before.
func (w *Worker) admit(job jobs.Job) (bool, string) {
	if w.Draining() && !w.adm.holds(job.ID) {
		return false, "it is draining"
	}
	return w.adm.run(job, time.Now())
}

func (w *Worker) release(id string) {
	w.adm.release(id)
	w.mu.Lock()
	delete(w.running, id)
	w.mu.Unlock()
	if w.kind == jobs.KindComposite {
		w.announce() // placers see the free slot now, not at the next heartbeat
	}
	select {
	case w.free <- struct{}{}:
	default:
	}
}
