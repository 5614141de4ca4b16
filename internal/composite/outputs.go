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

// outputs is a job's encoder and everything it feeds while the job runs:
// the fan-out, the RTMP destinations and the live monitor. start builds it,
// wait says how the job ends, close flushes and waits for all of it.
type outputs struct {
	enc      *Encoder
	fan      *Fanout
	mon      *monitor
	stopMon  func()
	dests    []*destination // fixed once started
	record   bool           // the job records: streaming may fail alone
	send     func(jobs.Progress)
	log      *slog.Logger
	reportMu sync.Mutex // one report at a time, each with every destination's state then

	cancel    context.CancelFunc // ends the destinations and the health loop
	wg        sync.WaitGroup     // the destinations and the health loop
	fanErr    chan error
	allFailed chan struct{} // closed once every destination has failed
	failOnce  sync.Once
}

// stream runs the encoder and the destinations until ctx ends (the zero
// Outcome), the job stops on its own or fails (from auto, or its outputs
// fail), then flushes them. skew, when set, reads the page's A/V playout
// skew for the monitor.
func (r *Runner) stream(ctx context.Context, sb *Sandbox, cfg EncoderConfig, job jobs.Job, report func(jobs.Progress), auto <-chan jobs.Outcome,
	skew func() (time.Duration, bool), log *slog.Logger) jobs.Outcome {
	o, err := r.startOutputs(ctx, sb, cfg, job, report, skew, log)
	if err != nil {
		return jobs.Failed(err)
	}
	out := o.wait(ctx, auto)
	o.close()
	return out
}

func (r *Runner) startOutputs(ctx context.Context, sb *Sandbox, cfg EncoderConfig, job jobs.Job, report func(jobs.Progress),
	skew func() (time.Duration, bool), log *slog.Logger) (*outputs, error) {
	cfg.Monitor = true
	enc, err := StartEncoder(sb, cfg, log)
	if err != nil {
		return nil, rcerr.Wrap(rcerr.Unavailable, err, "could not start the encoder")
	}
	o := &outputs{enc: enc, fan: newFanout(), record: job.Params.Record, send: report, log: log,
		fanErr: make(chan error, 1), allFailed: make(chan struct{})}
	o.mon, o.stopMon = r.watch(job, enc, o.fan, log)
	destCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	for i, u := range job.Params.RTMPURLs {
		o.dests = append(o.dests, newDestination(i, u, o.fan, r.Destinations, log, func() { o.report() }))
	}
	for _, d := range o.dests {
		o.wg.Go(func() {
			d.run(destCtx)
			if o.failed() == len(o.dests) {
				o.failOnce.Do(func() { close(o.allFailed) })
			}
		})
	}
	go func() { o.fanErr <- o.fan.run(enc.Stream) }()
	o.wg.Go(func() { r.followMedia(destCtx, o.fan.first, o.mon, skew, o.report, log) })
	return o, nil
}

// report sends the job's progress: started (media flows), every
// destination's state and the output's health.
func (o *outputs) report() {
	o.reportMu.Lock()
	defer o.reportMu.Unlock()
	h := o.mon.current()
	p := jobs.Progress{Started: true, Destinations: make([]roomcast.Destination, len(o.dests)), Health: &h}
	if pts, ok := o.fan.startPTS(); ok {
		at := o.enc.Epoch.Add(pts) // when the first picture was captured
		p.StartedAt = &at
	}
	for i, d := range o.dests {
		p.Destinations[i] = d.status()
	}
	if len(o.dests) > 0 && o.failed() == len(o.dests) {
		p.RTMPError = &roomcast.Error{Code: roomcast.CodeDestination, Message: "every destination failed; see each destination's error"}
	}
	o.send(p)
}

// failed counts the destinations that gave up.
func (o *outputs) failed() int {
	n := 0
	for _, d := range o.dests {
		if d.status().State == roomcast.DestinationFailed {
			n++
		}
	}
	return n
}

// wait returns how the job ends: a stop (ctx), its own end (auto), every
// destination failed while nothing records, or the encoder died.
func (o *outputs) wait(ctx context.Context, auto <-chan jobs.Outcome) jobs.Outcome {
	select {
	case <-ctx.Done():
		return jobs.Outcome{}
	case out := <-auto:
		o.log.Info("stopping on its own", "outcome", out)
		return out
	case <-o.allFailed:
		if !o.record {
			return jobs.Failed(rcerr.New(rcerr.Destination, "every RTMP destination failed"))
		}
		select { // streaming is over; the recording goes on until stopped
		case <-ctx.Done():
			return jobs.Outcome{}
		case out := <-auto:
			return out
		case <-o.enc.Done:
		}
	case <-o.enc.Done:
	}
	return jobs.Failed(rcerr.Wrap(rcerr.Unavailable, o.enc.Err(), "the encoder stopped unexpectedly"))
}

// close flushes: the encoder drains and closes its outputs, the fan-out
// hands the last frames on, then the destinations send them and hang up.
func (o *outputs) close() {
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
