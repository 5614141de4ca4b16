// Package metrics exposes roomcast's Prometheus metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roomcast/roomcast/internal/sfu"
	"github.com/roomcast/roomcast/internal/trackrec"
)

// Handler returns the /metrics handler for a registry holding the Go and
// process collectors, the SFU's room and peer gauges and the track
// recorder's loss counter, and the live monitor of running composite jobs.
func Handler(s *sfu.SFU) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
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
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "roomcast_trackrec_dropped_packets_total",
			Help: "Packets the track recorder dropped because it could not write them fast enough (the call is not affected)."},
			func() float64 { return float64(trackrec.Dropped.Load()) }),
		newHealthCollector(),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
