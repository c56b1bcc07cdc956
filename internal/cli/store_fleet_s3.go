package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
)

// openS3 opens --store s3://… through the S3 store's own small client
// (internal/store/s3store/s3client).
func (ff *fleetFlags) openS3(ctx context.Context, log *slog.Logger, onEvict func(string), fleetMax int64) (sharedStore, error) {
	var fl sharedStore
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
	fl.s3ops = func() map[string]s3OpStats {
		out := map[string]s3OpStats{}
		for op, o := range s.Metrics.Snapshot() {
			out[op] = s3OpStats{Requests: o.Requests, Errors: o.Errors, Seconds: o.Seconds}
		}
		return out
	}
	return fl, nil
}
