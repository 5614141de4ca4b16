package composite

import (
	"context"
	"slices"

	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/internal/rcerr"
)

// destinations returns the job's RTMP destinations now, in the state's
// order.
func (o *outputs) destinations() []*destination {
	o.destMu.Lock()
	defer o.destMu.Unlock()
	return slices.Clone(o.dests)
}

// addDestination adds a destination for raw, not running yet.
func (o *outputs) addDestination(raw string) *destination {
	o.destMu.Lock()
	defer o.destMu.Unlock()
	d := newDestination(o.next, raw, o.fan, o.opts, o.log, func() { o.report() })
	o.next++
	o.dests = append(o.dests, d)
	return d
}

// runDestination runs d until the job's outputs close or d is removed.
func (o *outputs) runDestination(d *destination) {
	ctx, stop := context.WithCancel(o.sinkCtx)
	o.destMu.Lock()
	o.stops[d] = stop
	o.destMu.Unlock()
	o.runSink(d, ctx)
}

// change applies a change to the running job's destinations: an added one
// starts at the next keyframe, a removed one hangs up; the others and the
// recording are not touched. The state hears of it at once.
func (o *outputs) change(c jobs.Change) error {
	switch {
	case c.AddURL != "":
		o.destMu.Lock()
		n := len(o.dests)
		i := slices.IndexFunc(o.dests, func(d *destination) bool { return d.rawURL == c.AddURL })
		o.destMu.Unlock()
		if i >= 0 {
			return rcerr.New(rcerr.InvalidArgument, "url: the job streams to it already (destination %d)", i)
		}
		if n >= jobs.MaxDestinations {
			return rcerr.New(rcerr.InvalidArgument, "url: the job streams to %d destinations, the most there may be", n)
		}
		o.runDestination(o.addDestination(c.AddURL))
	case c.Remove != nil:
		o.destMu.Lock()
		i := *c.Remove
		if i < 0 || i >= len(o.dests) {
			o.destMu.Unlock()
			return rcerr.New(rcerr.NotFound, "the job has no destination %d (it has %d)", i, len(o.dests))
		}
		d := o.dests[i]
		o.dests = slices.Delete(o.dests, i, i+1)
		stop := o.stops[d]
		delete(o.stops, d)
		o.destMu.Unlock()
		o.fan.remove(d.frames)
		stop()
		d.log.Info("destination removed")
	default:
		return rcerr.New(rcerr.InvalidArgument, "empty change")
	}
	o.report()
	return nil
}

// Change applies c to job jobID while it runs here (control.Changer).
func (r *Runner) Change(jobID string, c jobs.Change) error {
	v, ok := live.Load(jobID)
	if !ok {
		return rcerr.New(rcerr.Unavailable, "the job is not streaming yet (its page is still joining); try again in a moment")
	}
	return v.(*liveJob).out.change(c)
}
