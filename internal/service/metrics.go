package service

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// durationBuckets suit both warm hits (well under a millisecond) and
// multi-megabyte downloads over Wi-Fi.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// MetricPrefix returns the prefix of a service's metric names:
// "pitstop_<name>_" or, for an empty name, "pitstop_". Capabilities may use
// it to name their own metrics alike.
func MetricPrefix(name string) string {
	if name == "" {
		return "pitstop_"
	}
	return "pitstop_" + name + "_"
}

func validName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// newMetrics registers the request metrics, and the Go and process
// collectors, in reg. Collectors already registered there (by an earlier
// Run or by the caller) are reused.
func newMetrics(reg *prometheus.Registry, name string) (*metrics, error) {
	if !validName(name) {
		return nil, fmt.Errorf("service: bad Name %q: use lower-case letters, digits and underscores", name)
	}
	p := MetricPrefix(name)
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: p + "http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    p + "http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, from headers read to handler return, by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: p + "http_response_bytes_total",
			Help: "Response body bytes sent, by route.",
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: p + "http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.bytes, err = register(reg, m.bytes); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(reg, m.inFlight); err != nil {
		return nil, err
	}
	if _, err := register(reg, collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if _, err := register(reg, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c in reg, or returns the equal collector already there.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("service: registering metrics: %w", err)
}
