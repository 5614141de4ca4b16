// Package control is the streaming and recording control plane: it applies
// the seed's start/stop rules (package beam) to the room state kept in NATS
// JetStream KV, queues jobs on a JetStream stream for workers, fails jobs
// nobody takes or whose worker goes silent, and tells listeners about every
// state change.
package control

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/roomcast/roomcast/internal/auth"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/internal/room"
	"github.com/roomcast/roomcast/internal/urlpolicy"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Defaults for Options.
const (
	DefaultTakeTimeout = 10 * time.Second
	DefaultSilence     = 10 * time.Second
	DefaultStopTimeout = 20 * time.Second
	beamTokenTTL       = 12 * time.Hour
)

// Options configure a Controller.
type Options struct {
	Policy jobs.Policy
	// BotURL is the server's base URL the bot opens the meeting app on when
	// a start names no meetingURL: --public-url, else the listen address.
	// It is never taken from a request (a Host header would steer the bot
	// and its beam token anywhere).
	BotURL      string
	TakeTimeout time.Duration // a job its worker does not take fails after this
	Silence     time.Duration // a job whose worker is silent this long fails
	StopTimeout time.Duration // how long stop waits for the worker to confirm
	// OnChange is called with every room's state as it changes (in order
	// per room, with the KV revision).
	OnChange func(room string, st roomcast.BeamState, rev uint64)
	// Events, when set, receives the webhook events of the changes this
	// controller makes.
	Events *webhook.Publisher
	// RecordsTracks says this server runs a track recording worker (a
	// Worker of kind tracks with ServerID as its id) for its SFU's rooms;
	// ServerID names this server in the state and its job queue.
	RecordsTracks bool
	ServerID      string
	// Costs is what a composite job costs, for placement (the workers
	// admit by their own); nil: jobs.DefaultCostModel.
	Costs jobs.CostModel
	// Fleet, when set, returns the public URLs of every room server: the
	// bot's browser may follow its page's redirect to any of them (the
	// room may live on another server than the one it opens).
	Fleet func() []string
	// RoomServer, when set, returns the id of the server room lives on,
	// placing it if it lives nowhere yet: its track recording runs there.
	// Unset: this server (ServerID).
	RoomServer func(ctx context.Context, room string) (string, error)
}

// Controller starts and stops beam jobs. Several server processes may run
// one each against the same NATS.
type Controller struct {
	opts   Options
	store  *Store
	js     jetstream.JetStream
	nc     *nats.Conn
	signer *auth.Signer
	roster *Roster
	placer *placer
	log    *slog.Logger
	now    func() time.Time

	bg      sync.WaitGroup // Run's helpers
	mu      sync.Mutex
	active  map[string]jobs.Record      // rooms with a job, from the watch
	pending map[string][]roomcast.Event // rooms whose record has an outbox, from the watch
}

// New prepares the KV bucket and job stream.
func New(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, signer *auth.Signer, opts Options, log *slog.Logger) (*Controller, error) {
	if opts.TakeTimeout == 0 {
		opts.TakeTimeout = DefaultTakeTimeout
	}
	if opts.Silence == 0 {
		opts.Silence = DefaultSilence
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	store, err := OpenStore(ctx, js)
	if err != nil {
		return nil, err
	}
	store.events, store.log = opts.Events, log
	if err := ensureJobStream(ctx, js); err != nil {
		return nil, err
	}
	roster, err := NewRoster(nc)
	if err != nil {
		return nil, err
	}
	return &Controller{opts: opts, store: store, js: js, nc: nc, signer: signer, roster: roster, placer: newPlacer(nc, roster, opts.Costs),
		log: log, now: time.Now, active: map[string]jobs.Record{}, pending: map[string][]roomcast.Event{}}, nil
}

// Roster is the composite workers as they announce themselves.
func (c *Controller) Roster() *Roster { return c.roster }

// Workers lists the composite workers running now (GET /v1/workers).
func (c *Controller) Workers() []roomcast.Worker { return c.roster.Workers() }

// DrainWorker asks worker id to drain: it takes no new job, lets its jobs
// go on for its --drain-timeout, stops them and exits. It answers with the
// worker as it is then (draining); not_found when no such worker answers.
func (c *Controller) DrainWorker(ctx context.Context, id string) (roomcast.Worker, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := c.nc.RequestWithContext(rctx, drainSubject(id), nil)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) {
		return roomcast.Worker{}, rcerr.New(rcerr.NotFound, "no worker %q is running (GET /v1/workers lists them)", id)
	}
	if err != nil {
		return roomcast.Worker{}, rcerr.Wrap(rcerr.Unavailable, err, "could not reach the worker; try again")
	}
	var w roomcast.Worker
	if err := json.Unmarshal(m.Data, &w); err != nil {
		return roomcast.Worker{}, fmt.Errorf("control: drain answer: %w", err)
	}
	return w, nil
}

// Store returns the state store (workers share it).
func (c *Controller) Store() *Store { return c.store }

// Start validates p and starts streaming and/or recording in room. Without
// a meetingURL the bot opens this server's meeting app at Options.BotURL.
func (c *Controller) Start(ctx context.Context, roomName string, p roomcast.StartParams) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	p, err := jobs.Validate(ctx, p, c.opts.Policy)
	if err != nil {
		return roomcast.BeamState{}, err
	}
	if p.MeetingURL == "" {
		if p.MeetingURL, err = c.meetingURL(roomName); err != nil {
			return roomcast.BeamState{}, err
		}
	}
	job := jobs.Job{ID: newID(), Kind: jobs.KindComposite, Room: roomName, Params: p, URLs: c.botPolicy(), CreatedAt: c.now().UTC()}
	// A conflict answers before any worker is asked; placement answers
	// before anything is written, so a start no worker can take leaves
	// the room as it was.
	conflict := func() (jobs.Record, error) { // the room as it is, and what a start would say of it
		rec, _, err := c.store.Get(ctx, roomName)
		if err == nil {
			_, err = jobs.Start(rec, roomName, p, job.ID, "", job.CreatedAt)
		}
		return rec, err
	}
	rec, err := conflict()
	if err != nil {
		return rec.State, err
	}
	placedAt := time.Now()
	worker, err := c.placer.place(ctx, job)
	if err != nil {
		// A start that raced this one may have taken the room (and the
		// worker): that is the conflict to report.
		if now, cerr := conflict(); cerr != nil {
			if code, _ := rcerr.Public(cerr); code == rcerr.Conflict {
				return now.State, cerr
			}
		}
		return rec.State, err
	}
	c.log.Debug("composite job placed", "job", job.ID, "worker", worker, "took", time.Since(placedAt))
	rec, _, err = c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		return jobs.Start(r, roomName, p, job.ID, worker, job.CreatedAt)
	})
	if err != nil {
		c.placer.cancel(worker, job.ID)
		return rec.State, err
	}
	if err := c.enqueue(ctx, job, worker); err != nil {
		// Nothing may stay half-started: the state goes back to failed.
		cause := rcerr.Wrap(rcerr.Unavailable, err, "could not queue the job for a worker (NATS unavailable); try again")
		c.finish(context.WithoutCancel(ctx), roomName, jobs.KindComposite, job.ID, jobs.Failed(cause))
		return roomcast.BeamState{}, cause
	}
	c.log.Info("composite job queued", "job", job, "worker", worker)
	return rec.State, nil
}

func (c *Controller) meetingURL(roomName string) (string, error) {
	base := strings.TrimSuffix(c.opts.BotURL, "/")
	if base == "" {
		return "", rcerr.New(rcerr.InvalidArgument, "meetingURL: required when the server has no --public-url")
	}
	tok, err := c.signer.JoinToken(roomName, "roomcast-beam", room.Beam, beamTokenTTL)
	if err != nil {
		return "", fmt.Errorf("control: beam token: %w", err)
	}
	return base + "/meet/" + url.PathEscape(roomName) + "?token=" + url.QueryEscape(tok), nil
}

// Stop stops streaming and recording together. With nothing running it
// changes nothing and the state's message says so.
func (c *Controller) Stop(ctx context.Context, roomName string) (roomcast.BeamState, error) {
	return c.stopJob(ctx, roomName, jobs.KindComposite, "")
}

// stopJob stops the room's job of kind k for reason ("": on request). The
// worker running it ends it itself, so the last seconds are flushed; one
// that does not answer within StopTimeout has it ended in the state only.
func (c *Controller) stopJob(ctx context.Context, roomName string, k jobs.Kind, reason string) (roomcast.BeamState, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, err
	}
	rec, _, err := c.store.Get(ctx, roomName)
	if err != nil {
		return rec.State, err
	}
	if idle, ok := jobs.Stopping(rec, k, reason); !ok {
		return idle.State, nil // nothing runs: the message says so
	}
	asked := false // its worker, which did not confirm
	if j := rec.Ref(k); j != nil && j.Worker != "" {
		asked = true
		sctx, cancel := context.WithTimeout(ctx, c.opts.StopTimeout)
		_, err := c.nc.RequestWithContext(sctx, stopSubject(j.ID), []byte(reason))
		cancel()
		if err == nil {
			rec, _, err = c.store.Get(ctx, roomName)
			if err == nil && rec.Ref(k) == nil {
				return rec.State, nil
			}
		}
		c.log.Warn("worker did not confirm stop; stopping in state only", "room", roomName, "kind", k, "job", j.ID, "err", err)
	}
	var last jobs.JobRef // the job as the write below found it
	rec, _, err = c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		if j := r.Ref(k); j != nil {
			last = *j
		}
		if r, ok := jobs.Stopping(r, k, cmp.Or(reason, jobs.ReasonRequest)); ok {
			return r, nil
		}
		return r, errNothingToDo // ended meanwhile
	})
	if errors.Is(err, errNothingToDo) {
		return rec.State, nil
	}
	if err != nil {
		return rec.State, err
	}
	switch {
	case last.Worker != "" && !asked:
		// Claimed between the read above and this write: its worker runs
		// it, so it is stopped there too (else it ran, holding its slot,
		// until its next report found it stale), and the stop returns once
		// the slot is free, as for a job that ran.
		sctx, cancel := context.WithTimeout(ctx, c.opts.StopTimeout)
		if _, err := c.nc.RequestWithContext(sctx, stopSubject(last.ID), []byte(reason)); err != nil {
			c.log.Warn("worker did not confirm the stop of a job it had just taken", "room", roomName, "kind", k, "job", last.ID, "err", err)
		}
		cancel()
	case last.Worker == "" && last.Target != "" && k == jobs.KindComposite:
		// Stopped before its worker claimed it, it will never run there:
		// the worker's reservation for it goes now, not when its hold
		// expires (a start right after the stop found every slot taken).
		c.placer.cancel(last.Target, last.ID)
	}
	return rec.State, nil
}

// State returns room's state and its revision (0: never started).
func (c *Controller) State(ctx context.Context, roomName string) (roomcast.BeamState, uint64, error) {
	if err := room.ValidateName(roomName); err != nil {
		return roomcast.BeamState{}, 0, err
	}
	rec, rev, err := c.store.Get(ctx, roomName)
	if err != nil {
		return rec.State, 0, err
	}
	return rec.State, rev, nil
}

// Run watches the state, reports changes to OnChange and fails overdue jobs,
// until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.roster.Close()
	defer c.bg.Wait()
	c.bg.Go(func() { c.supervise(ctx) })
	for ctx.Err() == nil {
		err := c.store.Watch(ctx, func(roomName string, rec jobs.Record, rev uint64) {
			c.mu.Lock()
			if rec.Job != nil || rec.Tracks != nil {
				c.active[roomName] = rec
			} else {
				delete(c.active, roomName)
			}
			if len(rec.Outbox) > 0 {
				c.pending[roomName] = rec.Outbox
			} else {
				delete(c.pending, roomName)
			}
			c.mu.Unlock()
			if c.opts.OnChange != nil {
				c.opts.OnChange(roomName, rec.State, rev)
			}
		})
		if err != nil && ctx.Err() == nil {
			c.log.Warn("state watch ended; restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (c *Controller) supervise(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		type job struct {
			room string
			kind jobs.Kind
		}
		var due []job
		for roomName, rec := range c.active {
			for _, k := range []jobs.Kind{jobs.KindComposite, jobs.KindTracks} {
				if jobs.Overdue(rec, k, c.now(), c.opts.TakeTimeout, c.opts.Silence) != "" {
					due = append(due, job{roomName, k})
				}
			}
		}
		var unsent = map[string][]roomcast.Event{}
		for roomName, outbox := range c.pending {
			if stale(outbox, c.now()) {
				unsent[roomName] = outbox
			}
		}
		c.mu.Unlock()
		for roomName, outbox := range unsent {
			// The writer did not flush its events (it died, or NATS
			// refused them): any process may, exactly once.
			if c.opts.Events != nil {
				c.store.flush(ctx, roomName, outbox)
			}
		}
		for _, j := range due {
			c.failOverdue(ctx, j.room, j.kind)
		}
	}
}

// failOverdue re-reads the record (another process may have acted) and
// fails its job of kind k if it is still overdue.
func (c *Controller) failOverdue(ctx context.Context, roomName string, k jobs.Kind) {
	var reason string
	_, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		reason = jobs.Overdue(r, k, c.now(), c.opts.TakeTimeout, c.opts.Silence)
		if reason == "" {
			return r, errNothingToDo
		}
		return jobs.Finish(r, k, r.Ref(k).ID, jobs.Failed(rcerr.New(rcerr.Unavailable, "%s", reason)))
	})
	if err == nil {
		c.log.Warn("job failed", "room", roomName, "kind", k, "reason", reason)
	} else if !errors.Is(err, errNothingToDo) && !errors.Is(err, jobs.ErrStaleJob) {
		c.log.Warn("could not fail overdue job", "room", roomName, "err", err)
	}
}

var errNothingToDo = errors.New("nothing to do")

// finish ends job id of kind k in room's state as out says.
func (c *Controller) finish(ctx context.Context, roomName string, k jobs.Kind, id string, out jobs.Outcome) {
	_, _, err := c.store.Update(ctx, roomName, func(r jobs.Record) (jobs.Record, error) {
		return jobs.Finish(r, k, id, out)
	})
	if err != nil && !errors.Is(err, jobs.ErrStaleJob) {
		c.log.Warn("could not end job in state", "room", roomName, "err", err)
	}
}

// botPolicy is what the bot's browser may load: the server's policy, with
// every room server of the fleet as one of its own.
func (c *Controller) botPolicy() urlpolicy.Policy {
	pol := c.opts.Policy.URLs
	if c.opts.Fleet == nil {
		return pol
	}
	pol.Self = slices.Clone(pol.Self)
	for _, base := range c.opts.Fleet() {
		if o, err := urlpolicy.SelfOrigin(base); err == nil && !slices.Contains(pol.Self, o) {
			pol.Self = append(pol.Self, o)
		}
	}
	return pol
}

// enqueue queues job for the worker that must run it: any worker for a
// composite job, target's for a track recording.
func (c *Controller) enqueue(ctx context.Context, job jobs.Job, target string) error {
	b, err := json.Marshal(job)
	if err != nil {
		return err
	}
	subject, _ := queue(job.Kind, target)
	_, err = c.js.Publish(ctx, subject, b, jetstream.WithMsgID(job.ID))
	return err
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
