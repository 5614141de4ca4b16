package composite

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// sink is one output of a job, fed by the fan-out: an RTMP destination or
// the recording. run sends until ctx ends, then what is still queued (the
// fan-out has handed on the last frame by then), and returns; it may end
// sooner, failed.
type sink interface {
	run(ctx context.Context)
}

// outputs is a job's encoder and everything it feeds while the job runs:
// the fan-out, its sinks and the live monitor. start builds it, wait says
// how the job ends, close flushes and waits for all of it.
type outputs struct {
	enc      *Encoder
	fan      *Fanout
	mon      *monitor
	stopMon  func()
	rec      *fileSink // the sink that records (set by begin, under destMu); nil: the job does not
	send     func(jobs.Progress)
	log      *slog.Logger
	reportMu sync.Mutex // one report at a time, each with every sink's state then
	opts     DestinationOptions

	destMu sync.Mutex
	dests  []*destination // the sinks that stream, in the state's order (livedests.go)
	stops  map[*destination]context.CancelFunc
	next   int // the next destination's number (its log and metrics label)

	sinkCtx context.Context
	cancel  context.CancelFunc // ends the sinks and the health loop
	wg      sync.WaitGroup     // the sinks and the health loop
	fanErr  chan error
	ended   chan struct{} // a sink ended before the stop (coalesced)
}

// outputsConfig is what a job's outputs are made of.
type outputsConfig struct {
	encoder   EncoderConfig
	recording string                  // the fragmented MP4 to write; "": the job does not record
	skew      func() (pageSkew, bool) // the page's A/V playout skew, for the monitor and the picture's delay; may be nil
}

// stream runs the encoder and the sinks, the stream let through at once,
// until ctx ends (the zero Outcome), the job stops on its own or fails
// (from auto, or its outputs fail), then flushes them.
func (r *Runner) stream(ctx context.Context, sb *Sandbox, oc outputsConfig, job jobs.Job, report func(jobs.Progress), auto <-chan jobs.Outcome, log *slog.Logger) jobs.Outcome {
	o, err := r.startOutputs(ctx, sb, oc, job, report, log)
	if err != nil {
		return jobs.Failed(err)
	}
	r.begin(o, time.Time{}, oc.recording, oc.skew)
	out := o.wait(ctx, auto)
	o.close()
	return out
}

// startOutputs starts the encoder, the fan-out (held: nothing passes
// before begin) and the destinations, which connect meanwhile.
func (r *Runner) startOutputs(ctx context.Context, sb *Sandbox, oc outputsConfig, job jobs.Job, report func(jobs.Progress), log *slog.Logger) (*outputs, error) {
	cfg := oc.encoder
	cfg.Monitor = true
	enc, err := StartEncoder(sb, cfg, log)
	if err != nil {
		return nil, rcerr.Wrap(rcerr.Unavailable, err, "could not start the encoder")
	}
	o := &outputs{enc: enc, fan: newFanout(cfg.AudioOnly), send: report, log: log, fanErr: make(chan error, 1), opts: r.Destinations,
		stops: map[*destination]context.CancelFunc{}, ended: make(chan struct{}, 1)}
	o.sinkCtx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, u := range job.Params.RTMPURLs {
		o.addDestination(u)
	}
	o.mon, o.stopMon = r.watch(job, o, log)
	for _, d := range o.destinations() {
		o.runDestination(d)
	}
	go func() { o.fanErr <- o.fan.run(enc.Stream) }()
	return o, nil
}

// begin lets the stream through from its first keyframe captured at from
// or later (when the page had joined; zero: whatever comes first),
// recording it to recording too ("": the job does not record); skew is
// the page's A/V playout skew, for the monitor and the picture's delay
// (may be nil).
func (r *Runner) begin(o *outputs, from time.Time, recording string, skew func() (pageSkew, bool)) {
	if recording != "" {
		rec := newFileSink(recording, o.fan, o.log)
		o.destMu.Lock()
		o.rec = rec
		o.destMu.Unlock()
		o.runSink(rec, o.sinkCtx)
	}
	o.wg.Go(func() { r.followMedia(o.sinkCtx, o, skew) })
	start := max(0, from.Sub(o.enc.Epoch))
	o.mon.open(start, time.Now())
	o.fan.open(start)
}

// lag is how long ago the stream's first picture was captured (from the
// display to the fan-out: the encode's own delay), once it passed.
func (o *outputs) lag() time.Duration {
	pts, _ := o.fan.startPTS()
	return time.Since(o.enc.Epoch.Add(pts))
}

// recorder is the sink that records, nil before begin or when the job
// does not record.
func (o *outputs) recorder() *fileSink {
	o.destMu.Lock()
	defer o.destMu.Unlock()
	return o.rec
}

// runSink runs s until ctx ends and then says it ended.
func (o *outputs) runSink(s sink, ctx context.Context) {
	o.wg.Go(func() {
		s.run(ctx)
		select {
		case o.ended <- struct{}{}:
		default: // one is pending: wait looks at every sink anyway
		}
	})
}

// report sends the job's progress: started (media flows), every
// destination's state and the output's health.
func (o *outputs) report() {
	o.reportMu.Lock()
	defer o.reportMu.Unlock()
	dests := o.destinations()
	p := jobs.Progress{Started: o.fan.flowing(), Destinations: make([]roomcast.Destination, len(dests))}
	if p.Started { // no health to tell while the page joins
		h := o.mon.current()
		p.Health = &h
	}
	if pts, ok := o.fan.startPTS(); ok {
		at := o.enc.Epoch.Add(pts) // when the first picture was captured
		p.StartedAt = &at
	}
	for i, d := range dests {
		p.Destinations[i] = d.status()
	}
	if len(dests) > 0 && o.failed() == len(dests) {
		p.RTMPError = &roomcast.Error{Code: roomcast.CodeDestination, Message: "every destination failed; see each destination's error"}
	}
	if rec := o.recorder(); rec != nil && rec.failure() != nil {
		p.RecordingError = recordingError(rec.failure())
	}
	o.send(p)
}

// failed counts the destinations that gave up.
func (o *outputs) failed() int {
	n := 0
	for _, d := range o.destinations() {
		if d.status().State == roomcast.DestinationFailed {
			n++
		}
	}
	return n
}

// wait returns how the job ends: a stop (ctx), its own end (auto), the
// encoder died, or no sink is left (every destination failed and nothing
// records, or the recording failed and nothing streams).
func (o *outputs) wait(ctx context.Context, auto <-chan jobs.Outcome) jobs.Outcome {
	for {
		select {
		case <-ctx.Done():
			return jobs.Outcome{}
		case out := <-auto:
			o.log.Info("stopping on its own", "outcome", out)
			return out
		case <-o.enc.Done:
			return jobs.Failed(rcerr.Wrap(rcerr.Unavailable, o.enc.Err(), "the encoder stopped unexpectedly"))
		case <-o.ended:
			if out, over := o.over(); over {
				return out
			}
			o.report() // one output is gone; the others go on
		}
	}
}

// over says whether no sink is left, and so the job fails.
func (o *outputs) over() (jobs.Outcome, bool) {
	streaming := len(o.destinations()) > o.failed()
	rec := o.recorder()
	recording := rec != nil && rec.failure() == nil
	switch {
	case streaming || recording:
		return jobs.Outcome{}, false
	case rec != nil:
		return jobs.Failed(rcerr.Wrap(rcerr.Internal, rec.failure(), recordingError(rec.failure()).Message)), true
	default:
		return jobs.Failed(rcerr.New(rcerr.Destination, "every RTMP destination failed")), true
	}
}

// maxDrain bounds how long a stop waits for the encode to catch up (on a
// loaded 2-core machine, 2 of 12 60 s jobs at 1280x720 came out 1.4 and
// 3.6 s short of their stop, stream and recording alike, when it did not
// wait).
const maxDrain = 5 * time.Second

// recordingError is what the state says of a recording that could not be
// written (its cause's text stays in the worker's log).
func recordingError(error) *roomcast.Error {
	return &roomcast.Error{Code: roomcast.CodeInternal, Message: "the recording could not be written on the worker (see its log); what was written is kept"}
}

// close flushes: the encoder hands over what it captured up to now (at
// most maxDrain later), drains and closes its outputs, the fan-out hands
// the last frames on, then the destinations send them and hang up.
func (o *outputs) close() {
	if o.fan.flowing() {
		stop := time.Now()
		waited, ok := o.fan.drainUntil(stop.Sub(o.enc.Epoch), o.enc.Done, maxDrain)
		switch {
		case !ok && o.enc.running():
			o.log.Warn("the encode had not caught up with the stop; its last moments are missing", "waited", waited)
		case !ok: // the encoder is gone: Stop says why
		case waited > 500*time.Millisecond:
			o.log.Info("the encode caught up with the stop", "waited", waited)
		default:
			o.log.Debug("the encode caught up with the stop", "waited", waited)
		}
	}
	if err := o.enc.Stop(10 * time.Second); err != nil && !isInterrupt(err) {
		o.log.Warn("encoder exit", "err", err)
	}
	o.enc.Stream.Close()
	if err := <-o.fanErr; err != nil {
		o.log.Debug("fan-out ended", "err", err)
	}
	o.cancel()
	o.wg.Wait()
	o.stopMon()
}
