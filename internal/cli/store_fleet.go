package cli

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/store"
)

// fleetFlags put a replica's store in an S3-compatible bucket (with --dir
// as its local tier) and coordinate replicas through Redis.
type fleetFlags struct {
	store, endpoint, region, redis, maxSize string
	pathStyle                               bool
}

func (ff *fleetFlags) add(f *pflag.FlagSet) {
	f.StringVar(&ff.store, "store", "", "shared store s3://BUCKET/PREFIX (--dir becomes its local tier); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the shared credentials and config files (AWS_PROFILE)")
	f.StringVar(&ff.endpoint, "s3-endpoint", "", "S3-compatible server URL for --store, e.g. http://10.0.0.5:7070")
	f.StringVar(&ff.region, "s3-region", "", "S3 region for --store (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's region in the AWS config file, else us-east-1)")
	f.BoolVar(&ff.pathStyle, "s3-path-style", false, "address the bucket as ENDPOINT/BUCKET (most self-hosted servers)")
	f.StringVar(&ff.maxSize, "fleet-max-size", "0", "with --store: evict least recently used objects from the bucket above this size (0: unlimited); --max-size then bounds the local tier")
	f.StringVar(&ff.redis, "redis", "", "redis://HOST:PORT[/DB] coordinating replicas that share --store (password in the URL or REDISCLI_AUTH)")
}

// sharedStore is the opened shared parts; zero when not configured.
type sharedStore struct {
	remote store.Trimmer
	s3ops  func() map[string]s3OpStats // the S3 client's counters by operation
	coord  coord.Coordinator
}

// s3OpStats are one S3 operation's counters (/metrics).
type s3OpStats struct {
	Requests, Errors int64
	Seconds          float64
}

// open checks and connects the shared parts before anything is created
// locally: a wrong setting is one line and exit 2.
func (ff *fleetFlags) open(ctx context.Context, log *slog.Logger, onEvict func(string)) (sharedStore, error) {
	if ff.maxSize == "" {
		ff.maxSize = "0" // commands that open a store without the fleet flags (pitstop serve)
	}
	fleetMax, err := parseMaxSize(ff.maxSize)
	if err != nil {
		return sharedStore{}, usageError("--fleet-max-size: %v", err)
	}
	if ff.store == "" {
		if ff.redis != "" || ff.endpoint != "" {
			return sharedStore{}, usageError("--redis and --s3-endpoint need --store s3://BUCKET/PREFIX")
		}
		return sharedStore{}, nil
	}
	return ff.openS3(ctx, log, onEvict, fleetMax) // store_fleet_s3.go
}

// close releases the coordinator of a fleet that will not be used.
func (fl sharedStore) close() {
	if fl.coord != nil {
		fl.coord.Close()
	}
}

// tier puts local in front of the remote, or returns local alone.
func (fl sharedStore) tier(local *store.Disk, mutable func(string) bool, log *slog.Logger) store.Store {
	return fl.trimmer(local, mutable, log)
}

func (fl sharedStore) trimmer(local *store.Disk, mutable func(string) bool, log *slog.Logger) store.Trimmer {
	if fl.remote == nil {
		return local
	}
	return &store.Tiered{Local: local, Remote: fl.remote, Mutable: mutable, Logger: log}
}

// register adds the fleet's S3 and Redis counters to reg (/metrics).
func (fl sharedStore) register(reg prometheus.Registerer) error {
	if fl.remote == nil || reg == nil {
		return nil
	}
	return reg.Register(fleetCollector{fl})
}

type fleetCollector struct{ fl sharedStore }

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
	for op, s := range c.fl.s3ops() {
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
