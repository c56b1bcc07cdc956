package service

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/store"
)

// StoreUsageCollector exports a store's usage, read once per scrape from
// usage, under prefix (MetricPrefix's form, e.g. "pitstop_proxy_"):
// <prefix>store_bytes, <prefix>store_objects and <prefix>store_max_bytes
// (gauges), <prefix>store_evictions_total and
// <prefix>store_evicted_bytes_total (counters). Every server that keeps a
// store exports these names, so one dashboard reads them all.
func StoreUsageCollector(prefix string, usage func() store.Usage) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prefix+name, help, nil, nil)
	}
	return &storeUsage{
		usage:        usage,
		bytes:        d("store_bytes", "Bytes in the store."),
		objects:      d("store_objects", "Objects in the store."),
		maxBytes:     d("store_max_bytes", "The store's size cap in bytes; 0 is unlimited."),
		evictions:    d("store_evictions_total", "Objects evicted from the store (least recently used first) since it was opened."),
		evictedBytes: d("store_evicted_bytes_total", "Bytes evicted from the store since it was opened."),
	}
}

type storeUsage struct {
	usage                                             func() store.Usage
	bytes, objects, maxBytes, evictions, evictedBytes *prometheus.Desc
}

func (c *storeUsage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.objects, c.maxBytes, c.evictions, c.evictedBytes} {
		ch <- d
	}
}

func (c *storeUsage) Collect(ch chan<- prometheus.Metric) {
	u := c.usage()
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(u.Bytes))
	ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, float64(u.Objects))
	ch <- prometheus.MustNewConstMetric(c.maxBytes, prometheus.GaugeValue, float64(u.MaxSize))
	ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(u.Evictions))
	ch <- prometheus.MustNewConstMetric(c.evictedBytes, prometheus.CounterValue, float64(u.EvictedBytes))
}
