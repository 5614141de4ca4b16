package composite

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/activity"
	"github.com/roomcast/roomcast/internal/jobs"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// live holds the monitors of the jobs running in this process, for
// /metrics (job id → *liveJob).
var live sync.Map

type liveJob struct {
	room string
	mon  *monitor
	enc  *Encoder
	fan  *Fanout
	out  *outputs // its destinations change while it runs (livedests.go)
}

// DestinationStats is one RTMP destination of a running job, for /metrics.
type DestinationStats struct {
	Job, Room  string
	Index      int
	URL        string // redacted
	State      roomcast.DestinationState
	Frames     uint64 // audio and video frames sent
	Bytes      uint64 // media payload sent (without RTMP framing)
	Reconnects uint64 // connections lost or refused after the first
}

// LiveDestinations returns the destinations of every composite job
// running in this process.
func LiveDestinations() []DestinationStats {
	var out []DestinationStats
	live.Range(func(k, v any) bool {
		j := v.(*liveJob)
		for _, d := range j.out.destinations() {
			st := d.status()
			out = append(out, DestinationStats{Job: k.(string), Room: j.room, Index: d.index, URL: st.URL, State: st.State,
				Frames: d.sentFrames.Load(), Bytes: d.sentBytes.Load(), Reconnects: d.reconnects.Load()})
		}
		return true
	})
	return out
}

// JobHealth is one running job's output as its monitor sees it.
type JobHealth struct {
	Job, Room string
	Health    roomcast.Health
	LevelDB   float64 // the output's latest sound level (RMS over 0.5 s; -inf: silence)
	// Skew is how far ahead of its sound the beam page plays a peer's
	// picture (the worst peer); SkewOK is false when no peer sends both.
	Skew   time.Duration
	SkewOK bool
	// SentSkew is how far the latest sound the job sends runs ahead of its
	// latest picture, by their timestamps; SentOK is false before both flow.
	SentSkew time.Duration
	SentOK   bool
	// Encoder is ffmpeg's account of the encode; EncoderOK is false before
	// its first report.
	Encoder   EncoderProgress
	EncoderOK bool
}

// LiveHealth returns the health of every composite job running in this
// process.
func LiveHealth() []JobHealth {
	var out []JobHealth
	live.Range(func(k, v any) bool {
		j := v.(*liveJob)
		h := j.mon.jobHealth(k.(string), j.room)
		h.SentSkew, h.SentOK = j.fan.sentSkew()
		h.Encoder, h.EncoderOK = j.enc.LatestProgress()
		out = append(out, h)
		return true
	})
	return out
}

// watch starts job's live monitor on the encoder's taps and the room's
// activity. stop ends it once the encoder has exited.
func (r *Runner) watch(job jobs.Job, o *outputs, log *slog.Logger) (*monitor, func()) {
	enc := o.enc
	var latest func() (activity.Report, bool)
	stopRoom := func() {}
	if r.RoomActivity != nil {
		var err error
		if latest, stopRoom, err = r.RoomActivity(job.Room); err != nil {
			log.Warn("watch room activity; sound health will be unknown", "err", err)
			latest, stopRoom = nil, func() {}
		}
	}
	mon := newMonitor(latest, time.Now())
	var wg sync.WaitGroup
	if enc.Pictures != nil {
		wg.Go(func() { mon.readPictures(enc.Pictures) })
		wg.Go(func() { mon.readLevels(enc.Levels) })
		wg.Go(enc.readProgress)
	}
	live.Store(job.ID, &liveJob{room: job.Room, mon: mon, enc: enc, fan: o.fan, out: o})
	return mon, func() {
		live.Delete(job.ID)
		stopRoom()
		wg.Wait()
		if enc.Pictures != nil {
			enc.Pictures.Close()
			enc.Levels.Close()
			enc.Progress.Close()
		}
	}
}

// followMedia reports the job started once media flows (and warms a
// sandbox for the next job), then re-judges the output's health twice a
// second and reports each change, and delays the stream's picture by as
// much as the page plays it ahead of its sound (read twice a second:
// the start's gap is widest before the first reading), until ctx ends.
func (r *Runner) followMedia(ctx context.Context, o *outputs, skew func() (pageSkew, bool)) {
	mon, log := o.mon, o.log
	select {
	case <-o.fan.first:
		log.Info("media flowing", "lag", o.lag().Round(time.Millisecond))
		o.report()
		r.Prewarm() // for the next job, now that this one is under way
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if skew != nil {
				if d, ok := skew(); ok {
					mon.setSkew(d.Worst)
					o.fan.delayPicture(d.Lead)
					log.Debug("page playout skew", "worst_ms", d.Worst.Milliseconds(), "lead_ms", d.Lead.Milliseconds())
				}
			}
			if h, changed := mon.update(now); changed {
				log.Info("output health", "audio", h.Audio, "video", h.Video)
				o.report()
			}
		}
	}
}
