// Package metrics exposes roomcast's Prometheus metrics.
package metrics

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/storage"
	"github.com/roomcast/roomcast/internal/trackrec"
	"github.com/roomcast/roomcast/internal/webhook"
	"github.com/roomcast/roomcast/sdk/roomcast"
)

// Worker is a job worker as its metrics see it (control.Worker).
type Worker interface {
	Load() (busy, slots int)
	Ended() (stopped, failed uint64)
	Draining() bool
	Status() roomcast.Worker
	StartDelays() (count uint64, sum float64, buckets map[float64]uint64)
}

// Handler returns serve's /metrics: the Go and process collectors, the
// SFU's room and peer gauges, the track recorder's loss counter, the live
// monitor of running composite jobs and, when it runs one, the local
// worker's capacity and jobs.
func Handler(s *sfu.SFU, w Worker) http.Handler {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_rooms", Help: "Rooms with at least one peer."},
			func() float64 { return float64(len(s.Rooms())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_peers", Help: "Visible peers in all rooms."},
			func() float64 {
				n := 0
				for _, peers := range s.Rooms() {
					n += len(peers)
				}
				return float64(n)
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_forwarded_tracks", Help: "Tracks this server's SFU forwards: each published track once per subscriber."},
			func() float64 { _, _, _, f := s.Load(); return float64(f) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomcast_trackrec_dropped_packets_total",
			Help: "Packets the track recorder dropped because it could not write them fast enough (the call is not affected)."},
			func() float64 { return float64(trackrec.Dropped.Load()) }),
	}
	if w != nil {
		cs = append(cs, workerCollectors(w)...)
	}
	return handler(cs...)
}

// WorkerHandler returns `roomcast worker`'s /metrics: the Go and process
// collectors, the live monitor of its composite jobs, its capacity and
// jobs.
func WorkerHandler(w Worker) http.Handler { return handler(workerCollectors(w)...) }

func handler(cs ...prometheus.Collector) http.Handler {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	cs = append(cs,
		counter("roomcast_upload_bytes_total", "Recordings' bytes this process uploaded to object storage.", &storage.UploadedBytes),
		counter("roomcast_upload_failures_total", "Uploads this process gave up on (upload_failed; retried later).", &storage.UploadFailures),
		counter("roomcast_webhook_deliveries_total", "Webhook events this process delivered (2xx).", &webhook.Delivered),
		counter("roomcast_webhook_failed_attempts_total", "Webhook posts that failed and are retried.", &webhook.FailedAttempts),
	)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), newHealthCollector(),
		newDestinationCollector(), newEncoderCollector())
	reg.MustRegister(cs...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func workerCollectors(w Worker) []prometheus.Collector {
	ended := func(failed bool) func() float64 {
		return func() float64 {
			s, f := w.Ended()
			if failed {
				return float64(f)
			}
			return float64(s)
		}
	}
	return []prometheus.Collector{
		newCapacityCollector(w),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_worker_slots", Help: "Jobs this worker runs at once."},
			func() float64 { _, slots := w.Load(); return float64(slots) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_worker_busy_slots", Help: "Jobs this worker runs now."},
			func() float64 { busy, _ := w.Load(); return float64(busy) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "roomcast_worker_draining", Help: "1 while the worker drains (takes no jobs)."},
			func() float64 { return is(w.Draining()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomcast_jobs_ended_total", Help: "Jobs this worker ended, by outcome.",
			ConstLabels: prometheus.Labels{"outcome": "stopped"}}, ended(false)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomcast_jobs_ended_total", Help: "Jobs this worker ended, by outcome.",
			ConstLabels: prometheus.Labels{"outcome": "failed"}}, ended(true)),
	}
}
