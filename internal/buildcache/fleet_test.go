package buildcache_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/pitstop-go/pitstop/internal/buildcache"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
	"github.com/pitstop-go/pitstop/internal/testfleet"
)

// fleetCacheServer runs a cache server whose store is a local tier in
// front of the shared bucket, counting the requests it answers.
func fleetCacheServer(t *testing.T, s3 *testfleet.S3, bucket string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	local, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := s3store.OpenWith(context.Background(), s3store.Config{Bucket: bucket, Prefix: "cache", Endpoint: s3.Endpoint, PathStyle: true},
		s3store.Options{TempDir: t.TempDir()}, testfleet.Creds())
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &buildcache.Server{Store: &store.Tiered{Local: local, Remote: remote, Mutable: buildcache.MutableKey}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

// TestFleetTwoCacheServers: two cache servers share one bucket; a build
// through A uploads; a fresh machine building through B (which saw none of
// the puts) compiles nothing, every hit served by B.
func TestFleetTwoCacheServers(t *testing.T) {
	goTool(t)
	s3 := testfleet.StartS3(t)
	s3.MakeBucket(t, "cache-fleet")
	a, aReqs := fleetCacheServer(t, s3, "cache-fleet")
	b, bReqs := fleetCacheServer(t, s3, "cache-fleet")

	modA := filepath.Join(t.TempDir(), "checkout-a")
	writeModule(t, modA)
	cold := build(t, modA, t.TempDir(), a.URL)
	if cold.stats["uploads"] == 0 {
		t.Fatalf("cold build through A uploaded nothing: %v", cold.stats)
	}
	if bReqs.Load() != 0 {
		t.Fatalf("B answered %d requests during A's build", bReqs.Load())
	}
	aBefore := aReqs.Load()

	modB := filepath.Join(t.TempDir(), "elsewhere", "checkout-b")
	writeModule(t, modB)
	warm := build(t, modB, t.TempDir(), b.URL)
	if len(warm.compiled) != 0 {
		t.Errorf("fresh machine through B compiled %v; want every package from the shared cache", warm.compiled)
	}
	fromServer := warm.stats["prefetch_hits"] + warm.stats["remote_hits"]
	if fromServer == 0 || warm.stats["local_hits"]-warm.stats["prefetch_hits"] > warm.stats["remote_hits"] {
		t.Errorf("fresh machine: hits that did not come from B: %v", warm.stats)
	}
	if warm.stats["corrupt"] != 0 || warm.stats["remote_errors"] != 0 {
		t.Errorf("fresh machine stats: %v", warm.stats)
	}
	if aReqs.Load() != aBefore {
		t.Errorf("A answered %d requests during the build through B", aReqs.Load()-aBefore)
	}
}
