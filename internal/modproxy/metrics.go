package modproxy

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
)

// Results, the "result" label of pitstop_proxy_requests_total.
type result uint8

const (
	resHit      result = iota // answered from the store or memory
	resMiss                   // fetched from upstream, then answered
	resStale                  // upstream failed, a stale copy answered
	resNotFound               // 404/410, from upstream or the negative cache
	resBad                    // malformed request
	resError                  // upstream or store failure
	numResults
)

var resultNames = [numResults]string{"hit", "miss", "stale", "notfound", "bad", "error"}

type metrics struct {
	requests  [numKinds][numResults]prometheus.Counter
	hits      [numKinds]prometheus.Counter
	misses    [numKinds]prometheus.Counter
	fetches   *prometheus.CounterVec
	fetchTime *prometheus.HistogramVec
	served    [numKinds]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, st store.Store) (*metrics, error) {
	const p = "pitstop_proxy_"
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "requests_total",
		Help: "Proxy requests by kind (list, latest, info, mod, zip, sumdb) and result (hit, miss, stale, notfound, bad, error).",
	}, []string{"kind", "result"})
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "cache_hits_total", Help: "Requests answered from the store or memory, by kind.",
	}, []string{"kind"})
	misses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "cache_misses_total", Help: "Requests that needed the upstream, by kind.",
	}, []string{"kind"})
	served := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p + "served_bytes_total", Help: "Body bytes of complete answers, by kind.",
	}, []string{"kind"})
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: p + "upstream_fetches_total",
			Help: "Fetches from the upstream, by kind and result (ok, notfound, error).",
		}, []string{"kind", "result"}),
		fetchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    p + "upstream_fetch_duration_seconds",
			Help:    "Time of upstream fetches (with verification), by kind.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind"}),
	}
	for k := Kind(0); k < numKinds; k++ {
		for r := result(0); r < numResults; r++ {
			m.requests[k][r] = reqs.WithLabelValues(k.String(), resultNames[r])
		}
		m.hits[k] = hits.WithLabelValues(k.String())
		m.misses[k] = misses.WithLabelValues(k.String())
		m.served[k] = served.WithLabelValues(k.String())
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{reqs, hits, misses, served, m.fetches, m.fetchTime}
	if tr, ok := st.(store.Trimmer); ok {
		cs = append(cs, service.StoreUsageCollector(p, tr.Usage))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) request(k Kind, res result, bytes int64) {
	m.requests[k][res].Inc()
	switch res {
	case resHit:
		m.hits[k].Inc()
	case resMiss:
		m.misses[k].Inc()
	}
	if bytes > 0 {
		m.served[k].Add(float64(bytes))
	}
}

func (m *metrics) fetch(k Kind, result string, d time.Duration) {
	m.fetches.WithLabelValues(k.String(), result).Inc()
	m.fetchTime.WithLabelValues(k.String()).Observe(d.Seconds())
}
