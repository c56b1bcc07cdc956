package ramdisk

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns Prometheus metrics of every active ramdisk, read at
// each scrape from statfs and the live state (cheap: no walk of the
// upper layer; `status` reports unsynced bytes).
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

var (
	descSize     = prometheus.NewDesc("pitstop_ramdisk_size_bytes", "Current tmpfs size.", []string{"dir"}, nil)
	descMax      = prometheus.NewDesc("pitstop_ramdisk_max_size_bytes", "How far the watch may grow the tmpfs.", []string{"dir"}, nil)
	descUsed     = prometheus.NewDesc("pitstop_ramdisk_used_bytes", "Bytes used in the tmpfs (changes held in RAM).", []string{"dir"}, nil)
	descPercent  = prometheus.NewDesc("pitstop_ramdisk_used_ratio", "Fill level, the larger of bytes and inodes (0-1).", []string{"dir"}, nil)
	descLastSync = prometheus.NewDesc("pitstop_ramdisk_last_sync_timestamp_seconds", "Start of the last sync attempt.", []string{"dir"}, nil)
	descLastOK   = prometheus.NewDesc("pitstop_ramdisk_last_sync_success", "1 if the last sync attempt succeeded.", []string{"dir"}, nil)
	descFull     = prometheus.NewDesc("pitstop_ramdisk_full", "1 when full at max-size and busy: writes may fail with ENOSPC.", []string{"dir"}, nil)
	descReclaims = prometheus.NewDesc("pitstop_ramdisk_reclaims_total", "RAM reclaimed at the high-water mark since mounting.", []string{"dir"}, nil)
	descGrows    = prometheus.NewDesc("pitstop_ramdisk_grows_total", "tmpfs grown at the high-water mark since mounting.", []string{"dir"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSize, descMax, descUsed, descPercent, descLastSync, descLastOK, descFull, descReclaims, descGrows} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	infos, err := Mounts(c.m.root())
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, dir string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, dir)
	}
	for _, in := range infos {
		l := newLayout(c.m.runDir(), in.Dir)
		if u, err := tmpfsUsage(l.RAM); err == nil {
			gauge(descSize, float64(u.Size), in.Dir)
			gauge(descUsed, float64(u.Used), in.Dir)
			gauge(descPercent, float64(u.Percent)/100, in.Dir)
		}
		st, err := readState(l)
		if err != nil {
			continue
		}
		gauge(descMax, float64(st.MaxSize), in.Dir)
		full := 0.0
		if st.Full != "" {
			full = 1
		}
		gauge(descFull, full, in.Dir)
		ch <- prometheus.MustNewConstMetric(descReclaims, prometheus.CounterValue, float64(st.Reclaims), in.Dir)
		ch <- prometheus.MustNewConstMetric(descGrows, prometheus.CounterValue, float64(st.Grows), in.Dir)
		if r := st.LastAttempt; r != nil {
			gauge(descLastSync, float64(r.Start.UnixNano())/1e9, in.Dir)
			ok := 0.0
			if r.Result == "ok" || r.Result == "skipped (skip-sync)" {
				ok = 1
			}
			gauge(descLastOK, ok, in.Dir)
		}
	}
}
