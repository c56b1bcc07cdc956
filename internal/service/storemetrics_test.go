package service

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pitstop-go/pitstop/internal/store"
)

// The store-usage metrics keep their names and types (dashboards read
// them), and one scrape reads the store's usage once.
func TestStoreUsageCollector(t *testing.T) {
	calls := 0
	u := store.Usage{Bytes: 1 << 20, Objects: 3, MaxSize: 1 << 30, Evictions: 7, EvictedBytes: 4096}
	c := StoreUsageCollector(MetricPrefix("proxy"), func() store.Usage { calls++; return u })
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP pitstop_proxy_store_bytes Bytes in the store.
# TYPE pitstop_proxy_store_bytes gauge
pitstop_proxy_store_bytes 1.048576e+06
# HELP pitstop_proxy_store_evicted_bytes_total Bytes evicted from the store since it was opened.
# TYPE pitstop_proxy_store_evicted_bytes_total counter
pitstop_proxy_store_evicted_bytes_total 4096
# HELP pitstop_proxy_store_evictions_total Objects evicted from the store (least recently used first) since it was opened.
# TYPE pitstop_proxy_store_evictions_total counter
pitstop_proxy_store_evictions_total 7
# HELP pitstop_proxy_store_max_bytes The store's size cap in bytes; 0 is unlimited.
# TYPE pitstop_proxy_store_max_bytes gauge
pitstop_proxy_store_max_bytes 1.073741824e+09
# HELP pitstop_proxy_store_objects Objects in the store.
# TYPE pitstop_proxy_store_objects gauge
pitstop_proxy_store_objects 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if calls != 1 {
		t.Errorf("one scrape read the usage %d times, want once", calls)
	}
	// A second server's collector with another prefix registers beside it;
	// the same prefix twice is refused as already registered.
	if err := reg.Register(StoreUsageCollector(MetricPrefix("cache"), func() store.Usage { return u })); err != nil {
		t.Errorf("registering the cache's beside the proxy's: %v", err)
	}
	err := reg.Register(StoreUsageCollector(MetricPrefix("proxy"), func() store.Usage { return u }))
	if _, ok := err.(prometheus.AlreadyRegisteredError); !ok {
		t.Errorf("registering the proxy's twice = %v, want AlreadyRegisteredError", err)
	}
}
