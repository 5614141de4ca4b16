package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/roomcast/roomcast/internal/composite"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// destinationCollector exports every RTMP destination of the composite
// jobs running in this process (composite.LiveDestinations).
type destinationCollector struct{ state, frames, bytes, reconnects *prometheus.Desc }

func newDestinationCollector() *destinationCollector {
	labels := []string{"room", "job", "destination", "url"}
	return &destinationCollector{
		state: prometheus.NewDesc("roomcast_destination_state", "1 for a destination's current state (starting, started, reconnecting, failed, stopped).",
			append(labels, "state"), nil),
		frames: prometheus.NewDesc("roomcast_destination_frames_sent_total", "Audio and video frames a destination sent.", labels, nil),
		bytes:  prometheus.NewDesc("roomcast_destination_media_bytes_sent_total", "Media payload a destination sent (H.264 and AAC, without RTMP framing).", labels, nil),
		reconnects: prometheus.NewDesc("roomcast_destination_reconnects_total",
			"Times a destination's connection was lost or refused after it started.", labels, nil),
	}
}

func (c *destinationCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.frames
	ch <- c.bytes
	ch <- c.reconnects
}

func (c *destinationCollector) Collect(ch chan<- prometheus.Metric) {
	states := []roomcast.DestinationState{roomcast.DestinationStarting, roomcast.DestinationStarted, roomcast.DestinationReconnecting,
		roomcast.DestinationFailed, roomcast.DestinationStopped}
	for _, d := range composite.LiveDestinations() {
		l := []string{d.Room, d.Job, strconv.Itoa(d.Index), d.URL}
		for _, s := range states {
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, is(d.State == s), append(l, string(s))...)
		}
		ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(d.Frames), l...)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(d.Bytes), l...)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(d.Reconnects), l...)
	}
}

// capacityCollector exports a worker's capacity and what its jobs use
// (control.Worker.Status) and its start delay histogram.
type capacityCollector struct {
	w                                                                 Worker
	cpuLimit, cpuReserved, cpuMeasured, memLimit, memReserved, starts *prometheus.Desc
}

func newCapacityCollector(w Worker) *capacityCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &capacityCollector{w: w,
		cpuLimit:    d("roomcast_worker_cpu_limit_cores", "Cores this worker's jobs may take (--cpu-limit)."),
		cpuReserved: d("roomcast_worker_cpu_reserved_cores", "Cores the jobs it runs or accepted cost (--job-costs)."),
		cpuMeasured: d("roomcast_worker_cpu_measured_cores", "Busy cores on its machine, whatever the cause."),
		memLimit:    d("roomcast_worker_memory_limit_mb", "MB this worker's jobs may take (--memory-limit-mb)."),
		memReserved: d("roomcast_worker_memory_reserved_mb", "MB the jobs it runs or accepted cost."),
		starts: d("roomcast_job_start_delay_seconds",
			"From a job's start request to its media flowing, for the jobs this worker started."),
	}
}

func (c *capacityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpuLimit, c.cpuReserved, c.cpuMeasured, c.memLimit, c.memReserved, c.starts} {
		ch <- d
	}
}

func (c *capacityCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.w.Status()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(c.cpuLimit, st.CPU.Limit)
	gauge(c.cpuReserved, st.CPU.Reserved)
	gauge(c.cpuMeasured, st.CPU.Measured)
	gauge(c.memLimit, float64(st.Memory.LimitMB))
	gauge(c.memReserved, float64(st.Memory.ReservedMB))
	n, sum, buckets := c.w.StartDelays()
	ch <- prometheus.MustNewConstHistogram(c.starts, n, sum, buckets)
}
