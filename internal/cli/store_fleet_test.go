package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
	"github.com/pitstop-go/pitstop/internal/testfleet"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestFleetBadInput: each wrong fleet setting is one line saying which and
// how to fix it, exit 2, and nothing created.
func TestFleetBadInput(t *testing.T) {
	s3 := testfleet.StartS3(t)
	s3.MakeBucket(t, "there")
	rs := testfleet.StartRedis(t, "--requirepass", "right")
	t.Setenv("AWS_ACCESS_KEY_ID", testfleet.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testfleet.SecretKey)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	ep := []string{"--s3-endpoint", s3.Endpoint, "--s3-path-style"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"malformed URL", append([]string{"--store", "s3:/nobucket"}, ep...), nil, "s3://BUCKET/PREFIX"},
		{"no endpoint", []string{"--store", "s3://there/p"}, nil, "--s3-endpoint"},
		{"missing credentials", append([]string{"--store", "s3://there/p"}, ep...), map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "AWS_ACCESS_KEY_ID"},
		{"unreachable endpoint", []string{"--store", "s3://there/p", "--s3-endpoint", "http://127.0.0.1:1", "--s3-path-style"}, nil, "unavailable"},
		{"missing bucket", append([]string{"--store", "s3://nothere/p"}, ep...), nil, "does not exist"},
		{"redis URL", append([]string{"--store", "s3://there/p", "--redis", "http://x"}, ep...), nil, "redis://"},
		{"redis unreachable", append([]string{"--store", "s3://there/p", "--redis", "redis://127.0.0.1:1"}, ep...), nil, "unreachable"},
		{"redis password", append([]string{"--store", "s3://there/p", "--redis", "redis://:wrong@" + rs.Addr}, ep...), nil, "password"},
		{"redis without store", []string{"--redis", rs.URL}, nil, "--store"},
	}
	for _, what := range []string{"proxy", "cache"} {
		for _, c := range cases {
			t.Run(what+"/"+c.name, func(t *testing.T) {
				for k, v := range c.env {
					t.Setenv(k, v)
				}
				serveRefused(t, what, c.args, c.want)
			})
		}
	}
}

// TestProxyServeFleet runs `pitstop proxy serve --store s3://... --redis`
// against the real servers: a zip comes through, lands in the bucket, and
// /metrics shows the S3 and Redis requests.
func TestProxyServeFleet(t *testing.T) {
	s3 := testfleet.StartS3(t)
	s3.MakeBucket(t, "fleet")
	rs := testfleet.StartRedis(t)
	up := testupstream.NewForTest(t, testupstream.Module{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m\n"}})
	t.Setenv("AWS_ACCESS_KEY_ID", testfleet.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testfleet.SecretKey)
	addr, stop := startServe(t, "proxy", "--dir", t.TempDir(), "--listen", "127.0.0.1:0", "--upstream", up.URL, "--gosumdb", up.GOSUMDB,
		"--store", "s3://fleet/proxy", "--s3-endpoint", s3.Endpoint, "--s3-path-style", "--redis", rs.URL)
	defer stop()
	zp := testupstream.ZipPath("example.com/m", "v1.0.0")
	resp, err := http.Get("http://" + addr + zp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, up.ZipBytes("example.com/m", "v1.0.0")) {
		t.Fatalf("zip through the fleet proxy: %d, %d bytes", resp.StatusCode, len(b))
	}
	if _, err := s3.Client(t).Head(context.Background(), "fleet", "proxy/"+strings.TrimPrefix(zp, "/")); err != nil {
		t.Errorf("zip not in the bucket: %v", err)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`pitstop_s3_requests_total{op="put"}`, `pitstop_s3_requests_total{op="get"}`, "pitstop_redis_requests_total", "pitstop_fleet_lock_waits_total 0", "pitstop_fleet_redis_degraded 0"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, m)
		}
	}
}

// TestProxyGCBucket: `pitstop proxy gc --store s3://…` collects the shared
// bucket down to --fleet-max-size; while a replica holds the fleet's gc
// lock it refuses, saying why, and deletes nothing; a size is required.
func TestProxyGCBucket(t *testing.T) {
	s3 := testfleet.StartS3(t)
	s3.MakeBucket(t, "gcbkt")
	rs := testfleet.StartRedis(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testfleet.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testfleet.SecretKey)
	ctx := context.Background()
	c := s3.Client(t)
	for i := range 5 {
		key := fmt.Sprintf("proxy/example.com/m/@v/v1.0.%d.zip", i)
		if err := c.Put(ctx, "gcbkt", key, strings.NewReader(strings.Repeat("z", 1e6)), 1e6, s3client.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := c.List(ctx, "gcbkt", "proxy/", func(s3client.ObjectInfo) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Main(ctx, append([]string{"proxy", "gc"}, args...), strings.NewReader(""), &stdout, &stderr)
		return code, stdout.String(), strings.TrimSpace(stderr.String())
	}
	shared := []string{"--store", "s3://gcbkt/proxy", "--s3-endpoint", s3.Endpoint, "--s3-path-style", "--redis", rs.URL}

	// A replica is collecting (it holds the gc lock in the bucket's Redis
	// namespace, as proxy serve names it).
	co, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: rs.URL, Namespace: "pitstop:gcbkt/proxy"})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	release, ok := co.TryGC(ctx, time.Minute)
	if !ok {
		t.Fatal("gc lock not free")
	}
	code, _, msg := run(append(shared, "--fleet-max-size", "2.5M")...)
	if code == 0 || !strings.Contains(msg, "another pitstop process is collecting") {
		t.Errorf("gc while a replica collects: exit %d, %q; want a failure saying so", code, msg)
	}
	if n := count(); n != 5 {
		t.Errorf("gc while a replica collects deleted %d objects", 5-n)
	}
	release()

	code, out, msg := run(append(shared, "--fleet-max-size", "2.5M")...)
	if code != 0 || !strings.Contains(out, "s3://gcbkt/proxy: 5 files") || !strings.Contains(out, "evicted 3 files") {
		t.Errorf("gc of the bucket: exit %d, stdout %q, stderr %q", code, out, msg)
	}
	if n := count(); n != 2 {
		t.Errorf("after gc --fleet-max-size 2.5M the bucket holds %d objects of 1 MB, want 2", n)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{shared, "--fleet-max-size"},
		{[]string{"--fleet-max-size", "1G", "--dir", t.TempDir()}, "--store"},
	} {
		if code, _, msg := run(bad.args...); code != 2 || strings.Contains(msg, "\n") || !strings.Contains(msg, bad.want) {
			t.Errorf("gc %v: exit %d, %q; want exit 2 and one line mentioning %s", bad.args, code, msg, bad.want)
		}
	}
}
