package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// healthCollector exports the live monitor of every composite job running
// in this process.
type healthCollector struct{ level, audio, video, skew, sent *prometheus.Desc }

func newHealthCollector() *healthCollector {
	return &healthCollector{
		level: prometheus.NewDesc("roomcast_beam_output_audio_level_dbfs",
			"Sound level of a running composite job's output (RMS over the last 0.5 s; -120: silence).", []string{"room", "job"}, nil),
		audio: prometheus.NewDesc("roomcast_beam_output_audio_health",
			"1 for the state the live monitor gives a running job's sound (ok, quiet, lost, unknown).", []string{"room", "job", "state"}, nil),
		skew: prometheus.NewDesc("roomcast_beam_page_av_skew_seconds",
			"How far ahead of its sound the beam page plays a peer's picture (the worst peer; positive: sound late).", []string{"room", "job"}, nil),
		sent: prometheus.NewDesc("roomcast_beam_output_av_timestamp_skew_seconds",
			"How far the latest sound a running job sends runs ahead of its latest picture, by their timestamps.", []string{"room", "job"}, nil),
		video: prometheus.NewDesc("roomcast_beam_output_video_health",
			"1 for the state the live monitor gives a running job's picture (ok, frozen, black, unknown).", []string{"room", "job", "state"}, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.level
	ch <- c.audio
	ch <- c.video
	ch <- c.skew
	ch <- c.sent
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	for _, j := range composite.LiveHealth() {
		ch <- prometheus.MustNewConstMetric(c.level, prometheus.GaugeValue, max(j.LevelDB, -120), j.Room, j.Job)
		if j.SentOK {
			ch <- prometheus.MustNewConstMetric(c.sent, prometheus.GaugeValue, j.SentSkew.Seconds(), j.Room, j.Job)
		}
		if j.SkewOK {
			ch <- prometheus.MustNewConstMetric(c.skew, prometheus.GaugeValue, j.Skew.Seconds(), j.Room, j.Job)
		}
		for _, s := range []roomcast.AudioHealth{roomcast.AudioOK, roomcast.AudioQuiet, roomcast.AudioLost, roomcast.AudioUnknown} {
			ch <- prometheus.MustNewConstMetric(c.audio, prometheus.GaugeValue, is(j.Health.Audio == s), j.Room, j.Job, string(s))
		}
		for _, s := range []roomcast.VideoHealth{roomcast.VideoOK, roomcast.VideoFrozen, roomcast.VideoBlack, roomcast.VideoUnknown} {
			ch <- prometheus.MustNewConstMetric(c.video, prometheus.GaugeValue, is(j.Health.Video == s), j.Room, j.Job, string(s))
		}
	}
}

func is(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
