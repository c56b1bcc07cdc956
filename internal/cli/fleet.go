package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
)

// fleetFlags put a replica's store in an S3-compatible bucket (with --dir
// as its local tier) and coordinate replicas through Redis.
type fleetFlags struct {
	store, endpoint, region, redis, maxSize string
	pathStyle                               bool
}

func (ff *fleetFlags) add(f *pflag.FlagSet) {
	f.StringVar(&ff.store, "store", "", "shared store s3://BUCKET/PREFIX (--dir becomes its local tier); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the shared credentials file")
	f.StringVar(&ff.endpoint, "s3-endpoint", "", "S3-compatible server URL for --store, e.g. http://10.0.0.5:7070")
	f.StringVar(&ff.region, "s3-region", "", "S3 region for --store")
	f.BoolVar(&ff.pathStyle, "s3-path-style", false, "address the bucket as ENDPOINT/BUCKET (most self-hosted servers)")
	f.StringVar(&ff.maxSize, "fleet-max-size", "0", "with --store: evict least recently used objects from the bucket above this size (0: unlimited); --max-size then bounds the local tier")
	f.StringVar(&ff.redis, "redis", "", "redis://HOST:PORT[/DB] coordinating replicas that share --store (password in the URL or REDISCLI_AUTH)")
}

// fleet is the opened shared parts; zero when not configured.
type fleet struct {
	remote *s3store.Store
	coord  coord.Coordinator
}

// open checks and connects the shared parts before anything is created
// locally: a wrong setting is one line and exit 2.
func (ff *fleetFlags) open(ctx context.Context, log *slog.Logger, onEvict func(string)) (fleet, error) {
	var fl fleet
	fleetMax, err := parseMaxSize(ff.maxSize)
	if err != nil {
		return fl, usageError("--fleet-max-size: %v", err)
	}
	if ff.store == "" {
		if ff.redis != "" || ff.endpoint != "" {
			return fl, usageError("--redis and --s3-endpoint need --store s3://BUCKET/PREFIX")
		}
		return fl, nil
	}
	cfg, err := s3store.ParseURL(ff.store)
	if err != nil {
		return fl, usageError("--store: %v", err)
	}
	cfg.Endpoint, cfg.Region, cfg.PathStyle = ff.endpoint, ff.region, ff.pathStyle
	if cfg.Endpoint == "" {
		return fl, usageError("--store needs --s3-endpoint (the S3-compatible server's URL)")
	}
	fl.coord = coord.NewLocal()
	if ff.redis != "" {
		r, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: ff.redis, Namespace: "pitstop:" + cfg.Bucket + "/" + cfg.Prefix, Logger: log})
		if err != nil {
			return fl, usageError("--redis: %v", err)
		}
		fl.coord = r
	}
	s, err := s3store.Open(ctx, cfg, s3store.Options{MaxSize: fleetMax, Logger: log, OnEvict: onEvict, Fleet: fl.coord})
	if err != nil {
		fl.coord.Close()
		if errors.Is(err, s3store.ErrNoCredentials) {
			return fl, usageError("--store: %v", err)
		}
		return fl, usageError("--store: %v (check --s3-endpoint, --s3-path-style and that the bucket exists)", err)
	}
	fl.remote = s
	return fl, nil
}

// tier puts local in front of the remote, or returns local alone.
func (fl fleet) tier(local *store.Disk, mutable func(string) bool, log *slog.Logger) store.Store {
	return fl.trimmer(local, mutable, log)
}

func (fl fleet) trimmer(local *store.Disk, mutable func(string) bool, log *slog.Logger) store.Trimmer {
	if fl.remote == nil {
		return local
	}
	return &store.Tiered{Local: local, Remote: fl.remote, Mutable: mutable, Logger: log}
}

// register adds the fleet's S3 and Redis counters to reg (/metrics).
func (fl fleet) register(reg prometheus.Registerer) error {
	if fl.remote == nil || reg == nil {
		return nil
	}
	return reg.Register(fleetCollector{fl})
}

type fleetCollector struct{ fl fleet }

var (
	s3ReqDesc   = prometheus.NewDesc("pitstop_s3_requests_total", "S3 requests by operation.", []string{"op"}, nil)
	s3ErrDesc   = prometheus.NewDesc("pitstop_s3_errors_total", "S3 requests that failed (not counting misses), by operation.", []string{"op"}, nil)
	s3SecDesc   = prometheus.NewDesc("pitstop_s3_request_seconds_total", "Total S3 request latency by operation.", []string{"op"}, nil)
	rReqDesc    = prometheus.NewDesc("pitstop_redis_requests_total", "Redis commands sent.", nil, nil)
	rErrDesc    = prometheus.NewDesc("pitstop_redis_errors_total", "Redis commands that failed.", nil, nil)
	rSecDesc    = prometheus.NewDesc("pitstop_redis_request_seconds_total", "Total Redis command latency.", nil, nil)
	waitDesc    = prometheus.NewDesc("pitstop_fleet_lock_waits_total", "Fetches that waited for another replica's fleet lock.", nil, nil)
	waitSecDesc = prometheus.NewDesc("pitstop_fleet_lock_wait_seconds_total", "Total time spent waiting for fleet locks.", nil, nil)
	takeDesc    = prometheus.NewDesc("pitstop_fleet_lock_takeovers_total", "Fleet locks taken after a holder's lease ran out.", nil, nil)
	degDesc     = prometheus.NewDesc("pitstop_fleet_redis_degraded", "1 while Redis is unreachable and replicas dedupe locally.", nil, nil)
)

func (fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s3ReqDesc, s3ErrDesc, s3SecDesc, rReqDesc, rErrDesc, rSecDesc, waitDesc, waitSecDesc, takeDesc, degDesc} {
		ch <- d
	}
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	for op, s := range c.fl.remote.Metrics.Snapshot() {
		ch <- prometheus.MustNewConstMetric(s3ReqDesc, prometheus.CounterValue, float64(s.Requests), op)
		ch <- prometheus.MustNewConstMetric(s3ErrDesc, prometheus.CounterValue, float64(s.Errors), op)
		ch <- prometheus.MustNewConstMetric(s3SecDesc, prometheus.CounterValue, s.Seconds, op)
	}
	s := c.fl.coord.Stats()
	deg := 0.0
	if s.Degraded {
		deg = 1
	}
	ch <- prometheus.MustNewConstMetric(rReqDesc, prometheus.CounterValue, float64(s.Requests))
	ch <- prometheus.MustNewConstMetric(rErrDesc, prometheus.CounterValue, float64(s.Errors))
	ch <- prometheus.MustNewConstMetric(rSecDesc, prometheus.CounterValue, s.Seconds)
	ch <- prometheus.MustNewConstMetric(waitDesc, prometheus.CounterValue, float64(s.LockWaits))
	ch <- prometheus.MustNewConstMetric(waitSecDesc, prometheus.CounterValue, s.LockWaitSecs)
	ch <- prometheus.MustNewConstMetric(takeDesc, prometheus.CounterValue, float64(s.Takeovers))
	ch <- prometheus.MustNewConstMetric(degDesc, prometheus.GaugeValue, deg)
}
