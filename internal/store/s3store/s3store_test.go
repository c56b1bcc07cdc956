package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
	"github.com/pitstop-go/pitstop/internal/store/storetest"
	"github.com/pitstop-go/pitstop/internal/testfleet"
)

// TestConformance runs the store conformance suite against a real
// S3-compatible server (versitygw) started for the test.
func TestConformance(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "conf")
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		// Each store gets its own prefix, so it starts empty.
		cfg := s3store.Config{Bucket: "conf", Prefix: fmt.Sprintf("t%d/sub", n.Add(1)), Endpoint: srv.Endpoint, PathStyle: true}
		s, err := s3store.OpenWith(context.Background(), cfg, s3store.Options{MaxSize: maxSize, TempDir: t.TempDir()}, testfleet.Creds())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestTieredConformance runs the suite against a local disk tier in front
// of the bucket, as a replica uses it.
func TestTieredConformance(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "tier")
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		local, err := store.Open(t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := s3store.Config{Bucket: "tier", Prefix: fmt.Sprintf("t%d", n.Add(1)), Endpoint: srv.Endpoint, PathStyle: true}
		remote, err := s3store.OpenWith(context.Background(), cfg, s3store.Options{MaxSize: maxSize, TempDir: t.TempDir(),
			OnEvict: func(k string) { local.Delete(context.Background(), k) }}, testfleet.Creds())
		if err != nil {
			t.Fatal(err)
		}
		return &store.Tiered{Local: local, Remote: remote}
	})
}

type countingTransport struct {
	rt       http.RoundTripper
	mu       sync.Mutex
	requests []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, r.Method+" "+r.URL.RawQuery+" range="+r.Header.Get("Range"))
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

func (c *countingTransport) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.requests
	c.requests = nil
	return r
}

// TestMultipartAndRange: an object larger than the part size goes up in
// parts and comes back whole; a Seek reads with a ranged GET of the same
// version; a warm hit through the local tier makes no S3 request.
func TestMultipartAndRange(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "mpart")
	ct := &countingTransport{rt: http.DefaultTransport.(*http.Transport).Clone()}
	cfg := s3store.Config{Bucket: "mpart", Prefix: "p", Endpoint: srv.Endpoint, PathStyle: true}
	s, err := s3store.OpenWith(context.Background(), cfg, s3store.Options{PartSize: 5 << 20, TempDir: t.TempDir(), Transport: ct}, testfleet.Creds())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 11<<20+123)
	rand.NewChaCha8([32]byte{1}).Read(data)
	ct.reset()
	if err := s.Put(context.Background(), "big/obj.zip", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	var parts int
	for _, r := range ct.reset() {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "partNumber=") {
			parts++
		}
	}
	if parts != 3 {
		t.Errorf("uploaded in %d parts, want 3 (11 MiB in 5 MiB parts)", parts)
	}
	obj, err := s.Get(context.Background(), "big/obj.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Body.Seek(9<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, err := io.ReadAll(obj.Body)
	obj.Close()
	if err != nil || !bytes.Equal(tail, data[9<<20:]) {
		t.Fatalf("read after Seek: %d bytes, %v; want the last %d bytes", len(tail), err, len(data)-9<<20)
	}
	reqs := ct.reset()
	var ranged bool
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET ") && strings.Contains(r, fmt.Sprintf("range=bytes=%d-", 9<<20)) {
			ranged = true
		}
	}
	if !ranged {
		t.Errorf("no ranged GET after Seek; requests: %q", reqs)
	}

	local, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &store.Tiered{Local: local, Remote: s}
	for i := range 3 {
		obj, err := tr.Get(context.Background(), "big/obj.zip")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(obj.Body)
		obj.Close()
		if !bytes.Equal(b, data) {
			t.Fatalf("tiered read %d differs", i)
		}
		if n := len(ct.reset()); i > 0 && n != 0 {
			t.Errorf("warm hit %d made %d S3 requests, want 0", i, n)
		}
	}
}

// TestOpenErrors: a missing bucket, an unreachable endpoint and a bad URL
// are reported at Open, each saying which.
func TestOpenErrors(t *testing.T) {
	srv := testfleet.StartS3(t)
	ctx := context.Background()
	_, err := s3store.OpenWith(ctx, s3store.Config{Bucket: "nope", Endpoint: srv.Endpoint, PathStyle: true}, s3store.Options{}, testfleet.Creds())
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
	_, err = s3store.OpenWith(ctx, s3store.Config{Bucket: "bkt", Endpoint: "http://127.0.0.1:1", PathStyle: true}, s3store.Options{}, testfleet.Creds())
	if !errors.Is(err, s3store.ErrUnavailable) {
		t.Errorf("unreachable endpoint: %v, want ErrUnavailable", err)
	}
	srv.MakeBucket(t, "bkt")
	_, err = s3store.OpenWith(ctx, s3store.Config{Bucket: "bkt", Endpoint: srv.Endpoint, PathStyle: true}, s3store.Options{}, s3client.Credentials{AccessKeyID: "wrong", SecretAccessKey: "wrongwrong"})
	if err == nil {
		t.Error("wrong credentials: Open succeeded")
	}
	for _, u := range []string{"s3:/", "http://b/p", "s3://b:9/p", "s3://b/p?x=1", "s3://b/../x", "s3://"} {
		if _, err := s3store.ParseURL(u); err == nil {
			t.Errorf("ParseURL(%q) succeeded", u)
		}
	}
	if c, err := s3store.ParseURL("s3://bk/a/b/"); err != nil || c.Bucket != "bk" || c.Prefix != "a/b" {
		t.Errorf("ParseURL(s3://bk/a/b/) = %+v, %v", c, err)
	}
}

// TestFleetGC: two processes share a bucket and Redis. Uses made through
// A decide what B's eviction keeps, B having never read those objects;
// only one process collects at a time.
func TestFleetGC(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "gcfleet")
	rs := testfleet.StartRedis(t)
	ctx := context.Background()
	open := func() (*s3store.Store, *coord.Redis) {
		co, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: rs.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { co.Close() })
		s, err := s3store.OpenWith(ctx, s3store.Config{Bucket: "gcfleet", Prefix: "p", Endpoint: srv.Endpoint, PathStyle: true},
			s3store.Options{TempDir: t.TempDir(), Fleet: co}, testfleet.Creds())
		if err != nil {
			t.Fatal(err)
		}
		return s, co
	}
	a, _ := open()
	chunk := strings.Repeat("g", 1000)
	for i := range 6 {
		if err := a.Put(ctx, fmt.Sprintf("k%d", i), strings.NewReader(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	b, bco := open() // lists the six objects; has used none
	time.Sleep(5 * time.Millisecond)
	for _, k := range []string{"k0", "k1"} { // the oldest, but used now through A
		obj, err := a.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		obj.Close()
	}
	// While another process holds the gc lock, B does not collect.
	release, ok := bco.TryGC(ctx, time.Minute)
	if !ok {
		t.Fatal("gc lock not free")
	}
	if err := b.Trim(ctx, 2000); !errors.Is(err, store.ErrGCBusy) {
		t.Fatalf("Trim while another process holds the gc lock: %v, want store.ErrGCBusy", err)
	}
	if u := b.Usage(); u.Evictions != 0 {
		t.Errorf("B evicted %d objects while another process held the gc lock", u.Evictions)
	}
	release()
	if err := b.Trim(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		_, err := b.Stat(ctx, fmt.Sprintf("k%d", i))
		kept := err == nil
		if wantKept := i < 2; kept != wantKept {
			t.Errorf("k%d kept = %v, want %v (k0 and k1 were used through A)", i, kept, wantKept)
		}
	}
}
