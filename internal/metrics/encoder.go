package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/composite"
)

// encoderCollector exports ffmpeg's own account of each running composite
// job's encode (-progress): its frame rate, its speed against the clock and
// the frames it had to drop or repeat.
type encoderCollector struct{ fps, speed, frames, dropped, duplicated *prometheus.Desc }

func newEncoderCollector() *encoderCollector {
	l := []string{"room", "job"}
	return &encoderCollector{
		fps:    prometheus.NewDesc("roomcast_encoder_fps", "Frames a running job's encoder encoded per second since it started.", l, nil),
		speed:  prometheus.NewDesc("roomcast_encoder_speed", "A running job's encoded time over wall time since it started: 1 is realtime; less falls behind.", l, nil),
		frames: prometheus.NewDesc("roomcast_encoder_frames_total", "Frames a running job's encoder encoded.", l, nil),
		dropped: prometheus.NewDesc("roomcast_encoder_dropped_frames_total",
			"Captured frames a running job's encoder dropped to keep its frame rate.", l, nil),
		duplicated: prometheus.NewDesc("roomcast_encoder_duplicated_frames_total",
			"Frames a running job's encoder repeated because none was captured in time (a stalled capture).", l, nil),
	}
}

func (c *encoderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.fps, c.speed, c.frames, c.dropped, c.duplicated} {
		ch <- d
	}
}

func (c *encoderCollector) Collect(ch chan<- prometheus.Metric) {
	for _, j := range composite.LiveHealth() {
		if !j.EncoderOK {
			continue
		}
		p := j.Encoder
		ch <- prometheus.MustNewConstMetric(c.fps, prometheus.GaugeValue, p.FPS, j.Room, j.Job)
		ch <- prometheus.MustNewConstMetric(c.speed, prometheus.GaugeValue, p.Speed, j.Room, j.Job)
		ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(p.Frames), j.Room, j.Job)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(p.Dropped), j.Room, j.Job)
		ch <- prometheus.MustNewConstMetric(c.duplicated, prometheus.CounterValue, float64(p.Duplicated), j.Room, j.Job)
	}
}
