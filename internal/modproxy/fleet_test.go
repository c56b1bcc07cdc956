package modproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
	"github.com/pitstop-go/pitstop/internal/testfleet"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// fleetEnv is one bucket and (optionally) one Redis that replicas share.
type fleetEnv struct {
	s3     *testfleet.S3
	bucket string
	redis  *testfleet.Redis
	lease  time.Duration
}

func newFleet(t *testing.T, withRedis bool) *fleetEnv {
	t.Helper()
	// The product's lease: with 2 s, a holder's renewals starved on a
	// loaded machine (seen with -race at load 25) let another replica take
	// over a live fetch, and the upstream saw two. TestFleetHolderKilled,
	// which waits for a dead holder's lease to run out, sets a short one.
	fe := &fleetEnv{s3: testfleet.StartS3(t), bucket: "fleet", lease: coord.DefaultLease}
	fe.s3.MakeBucket(t, fe.bucket)
	if withRedis {
		fe.redis = testfleet.StartRedis(t)
	}
	return fe
}

// openFleetStore opens one replica's store: a local tier in dir in front
// of the shared bucket, and its coordinator.
func openFleetStore(ctx context.Context, endpoint, bucket, redisURL, dir, tmp string, lease time.Duration) (*store.Tiered, coord.Coordinator, *s3store.Store, error) {
	local, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, nil, nil, err
	}
	remote, err := s3store.OpenWith(ctx, s3store.Config{Bucket: bucket, Prefix: "proxy", Endpoint: endpoint, PathStyle: true},
		s3store.Options{TempDir: tmp, PartSize: 5 << 20}, testfleet.Creds())
	if err != nil {
		return nil, nil, nil, err
	}
	var co coord.Coordinator = coord.NewLocal()
	if redisURL != "" {
		r, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: redisURL, Lease: lease})
		if err != nil {
			return nil, nil, nil, err
		}
		co = r
	}
	return &store.Tiered{Local: local, Remote: remote, Mutable: MutableKey}, co, remote, nil
}

type replica struct {
	*proxy
	remote *s3store.Store
	coord  coord.Coordinator
}

func (fe *fleetEnv) replica(t *testing.T, up *testupstream.Server, tweak func(*Handler)) *replica {
	t.Helper()
	redisURL := ""
	if fe.redis != nil {
		redisURL = fe.redis.URL
	}
	dir := t.TempDir()
	st, co, remote, err := openFleetStore(context.Background(), fe.s3.Endpoint, fe.bucket, redisURL, dir, t.TempDir(), fe.lease)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { co.Close() })
	env := goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}
	h := &Handler{Store: st, Coord: co, Logger: slog.New(slog.DiscardHandler),
		Fetcher: &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(t.TempDir(), "direct")}}
	if tweak != nil {
		tweak(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &replica{proxy: &proxy{URL: "http://" + ln.Addr().String(), H: h, Store: st.Local, Dir: dir, srv: srv}, remote: remote, coord: co}
}

func fetchBody(url string) ([]byte, int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return b, resp.StatusCode, err
}

// checkBucketVerified lists the bucket and checks every zip in it hashes
// to what the checksum database says: no partial or unverified object.
func checkBucketVerified(t *testing.T, fe *fleetEnv, up *testupstream.Server) int {
	t.Helper()
	c := fe.s3.Client(t)
	var keys []string
	if err := c.List(context.Background(), fe.bucket, "", func(oi s3client.ObjectInfo) error {
		keys = append(keys, oi.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	zips := 0
	for _, key := range keys {
		if !strings.HasSuffix(key, ".zip") {
			continue
		}
		obj, _, err := c.Get(context.Background(), fe.bucket, key, s3client.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		h, err := testupstream.HashZipBytes(b)
		if err != nil {
			t.Errorf("bucket holds %s, not a valid zip: %v", key, err)
			continue
		}
		found := false
		for _, mod := range graphAndBig() {
			if zh, _, ok := up.Hash(mod.Path, mod.Version); ok && zh == h {
				found = true
			}
		}
		if !found {
			t.Errorf("bucket holds %s (%d bytes) whose hash %s matches no module", key, len(b), h)
		}
		zips++
	}
	return zips
}

var bigFleetZip = bigZipModule(3 << 20)

func graphAndBig() []testupstream.Module {
	return append(append([]testupstream.Module{}, graph...), bigFleetZip)
}

// TestFleetOneFetchAcrossReplicas: three replicas share one bucket and one
// Redis; 48 clients spread across them ask for the same cold zip at once.
// The upstream sees exactly one fetch and every client gets the verified
// bytes.
func TestFleetOneFetchAcrossReplicas(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graphAndBig()...)
	reps := []*replica{fe.replica(t, up, nil), fe.replica(t, up, nil), fe.replica(t, up, nil)}
	zp := testupstream.ZipPath("example.com/big", "v1.0.0")
	// Slow enough that every replica's first client asks for the lock
	// while the holder still fetches, even on a loaded machine (else no
	// replica waits on it and the test exercises nothing).
	up.SetFault(zp, testupstream.Fault{Delay: 2 * time.Second})
	want := up.ZipBytes("example.com/big", "v1.0.0")
	var wg sync.WaitGroup
	errs := make(chan error, 48)
	for i := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, code, err := fetchBody(reps[i%3].URL + zp)
			switch {
			case err != nil:
				errs <- fmt.Errorf("client %d: %v", i, err)
			case code != 200:
				errs <- fmt.Errorf("client %d: status %d: %s", i, code, b)
			case !bytes.Equal(b, want):
				errs <- fmt.Errorf("client %d: %d bytes that differ from the module's %d", i, len(b), len(want))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := up.Count(zp); n != 1 {
		var stats []string
		for _, r := range reps {
			stats = append(stats, fmt.Sprintf("%+v", r.coord.Stats()))
		}
		t.Errorf("upstream saw %d fetches of the zip across 3 replicas, want 1; the replicas' coordinators: %s", n, strings.Join(stats, "; "))
	}
	if n := checkBucketVerified(t, fe, up); n != 1 {
		t.Errorf("bucket holds %d zips, want 1", n)
	}
	var waits int64
	for _, r := range reps {
		waits += r.coord.Stats().LockWaits
	}
	if waits == 0 {
		t.Errorf("no replica waited on the fleet lock: the test did not exercise it")
	}
}

// TestFleetGoBuildThroughReplicas: the real go command builds a module
// graph through replica 1; then, with the upstream stopped, through
// replica 3 (which saw none of it) from a fresh module cache.
func TestFleetGoBuildThroughReplicas(t *testing.T) {
	needGo(t)
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	r1 := fe.replica(t, up, nil)
	fe.replica(t, up, nil)
	r3 := fe.replica(t, up, nil)
	out, err := goCmd(t, writeApp(t), r1.URL, up.GOSUMDB, nil, "run", ".")
	if err != nil || lastLine(out) != "42" {
		t.Fatalf("go run through replica 1: %v\n%s", err, out)
	}
	up.Stop()
	out, err = goCmd(t, writeApp(t), r3.URL, up.GOSUMDB, nil, "run", ".")
	if err != nil || lastLine(out) != "42" {
		t.Fatalf("go run through replica 3 with the upstream stopped: %v\n%s", err, out)
	}
	if r3.remote.Metrics.Requests() == 0 {
		t.Error("replica 3 made no S3 request: it cannot have served from the bucket")
	}
}

// TestFleetHolderKilled: the replica holding the fleet lock is killed
// (SIGKILL) mid-fetch; a client of another replica completes once the
// lease runs out, and the bucket never holds a partial object.
func TestFleetHolderKilled(t *testing.T) {
	fe := newFleet(t, true)
	// A short lease, as the test waits for it to run out. Should the live
	// holder's renewals starve on a loaded machine, replica 2's early
	// takeover fetch is held like the holder's: the outcome is the same.
	fe.lease = 2 * time.Second
	up := testupstream.NewForTest(t, graphAndBig()...)
	zp := testupstream.ZipPath("example.com/big", "v1.0.0")
	hold := make(chan struct{})
	up.SetFault(zp, testupstream.Fault{Hold: hold, HoldAfter: 1 << 20})

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), "PITSTOP_PROXY_CHILD=fleet", "CHILD_UPSTREAM="+up.URL, "CHILD_GOSUMDB="+up.GOSUMDB,
		"CHILD_DIR="+t.TempDir(), "CHILD_TMP="+t.TempDir(), "CHILD_S3="+fe.s3.Endpoint, "CHILD_BUCKET="+fe.bucket,
		"CHILD_REDIS="+fe.redis.URL, "CHILD_LEASE="+fe.lease.String())
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	if !ok {
		t.Fatalf("child replica: %q", line)
	}
	// A client of the child starts the fetch; the child takes the lock.
	go fetchBody("http://" + addr + zp)
	deadline := time.Now().Add(time.Minute)
	for up.Count(zp) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the child replica never fetched the zip")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r2 := fe.replica(t, up, nil)
	type res struct {
		b    []byte
		code int
		err  error
	}
	done := make(chan res, 1)
	go func() {
		b, code, err := fetchBody(r2.URL + zp)
		done <- res{b, code, err}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("replica 2 answered (%d) while the holder was alive and fetching", r.code)
	default:
	}
	killed := time.Now()
	child.Process.Kill()
	child.Wait()
	up.SetFault(zp, testupstream.Fault{}) // the next fetch is not held
	close(hold)
	select {
	case r := <-done:
		if r.err != nil || r.code != 200 || !bytes.Equal(r.b, up.ZipBytes("example.com/big", "v1.0.0")) {
			t.Fatalf("replica 2 after the holder died: %d, %v, %d bytes", r.code, r.err, len(r.b))
		}
		t.Logf("replica 2 completed %v after the kill (lease %v)", time.Since(killed).Round(time.Millisecond), fe.lease)
	case <-time.After(time.Minute):
		t.Fatalf("replica 2 did not complete within a minute after the holder died (lease %v)", fe.lease)
	}
	if n := up.Count(zp); n != 2 {
		t.Errorf("upstream saw %d fetches, want 2 (the dead holder's and one takeover)", n)
	}
	if s := r2.coord.Stats(); s.Takeovers != 1 {
		t.Errorf("replica 2 stats %+v, want 1 takeover", s)
	}
	if n := checkBucketVerified(t, fe, up); n != 1 {
		t.Errorf("bucket holds %d zips, want 1", n)
	}
}

// childFleetServe is the child replica of TestFleetHolderKilled.
func childFleetServe() {
	lease, _ := time.ParseDuration(os.Getenv("CHILD_LEASE"))
	st, co, _, err := openFleetStore(context.Background(), os.Getenv("CHILD_S3"), os.Getenv("CHILD_BUCKET"), os.Getenv("CHILD_REDIS"),
		os.Getenv("CHILD_DIR"), os.Getenv("CHILD_TMP"), lease)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	h := &Handler{Store: st, Coord: co, Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": os.Getenv("CHILD_UPSTREAM"), "GOSUMDB": os.Getenv("CHILD_GOSUMDB")}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("LISTEN", ln.Addr().String())
	http.Serve(ln, h)
}

// TestFleetRedisKilledUnderLoad: Redis dies while clients fetch through
// three replicas: no request fails.
func TestFleetRedisKilledUnderLoad(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graphAndBig()...)
	reps := []*replica{fe.replica(t, up, nil), fe.replica(t, up, nil), fe.replica(t, up, nil)}
	paths := []string{
		testupstream.ZipPath("example.com/big", "v1.0.0"),
		testupstream.ZipPath("example.com/dep", "v1.0.0"),
		testupstream.ZipPath("example.com/dep", "v1.1.0"),
		testupstream.ZipPath("example.com/Lib", "v1.0.0"),
		testupstream.FilePath("example.com/dep", "v1.1.0", "mod"),
		testupstream.ModPath("example.com/dep") + "/@v/list",
	}
	up.SetFault(paths[0], testupstream.Fault{Delay: 300 * time.Millisecond})
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	total := 0
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(stop); j++ {
				p := paths[(i+j)%len(paths)]
				b, code, err := fetchBody(reps[(i+j)%3].URL + p)
				mu.Lock()
				total++
				if err != nil || code != 200 {
					failed = append(failed, fmt.Sprintf("%s: %d %v %s", p, code, err, b))
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(400 * time.Millisecond)
	fe.redis.Kill()
	wg.Wait()
	for _, f := range failed {
		t.Error(f)
	}
	// Once every file above is a warm local hit, no request needs Redis,
	// so whether the load itself noticed depends on timing: a not-found
	// (shared through Redis) makes each replica ask it now.
	for _, r := range reps {
		b, code, err := fetchBody(r.URL + "/example.com/nosuch/@v/v1.0.0.info")
		if err != nil || (code != 404 && code != 410) {
			t.Errorf("a not-found with Redis gone: %d %v %s", code, err, b)
		}
	}
	degraded := false
	for _, r := range reps {
		degraded = degraded || r.coord.Stats().Degraded
	}
	if !degraded {
		t.Error("no replica noticed Redis was gone")
	}
	t.Logf("%d requests, %d failed", total, len(failed))
}

// TestFleetS3Stopped: with the S3 server down, warm hits are served from
// the local tier; a miss gets a 503 that says the shared storage is
// unreachable, without downloading the zip first.
func TestFleetS3Stopped(t *testing.T) {
	fe := newFleet(t, false)
	up := testupstream.NewForTest(t, graph...)
	r := fe.replica(t, up, nil)
	warm := testupstream.ZipPath("example.com/dep", "v1.0.0")
	if _, code, err := fetchBody(r.URL + warm); err != nil || code != 200 {
		t.Fatalf("warming: %d %v", code, err)
	}
	fe.s3.Kill()
	for range 3 {
		b, code, err := fetchBody(r.URL + warm)
		if err != nil || code != 200 || !bytes.Equal(b, up.ZipBytes("example.com/dep", "v1.0.0")) {
			t.Fatalf("warm hit with S3 down: %d %v", code, err)
		}
	}
	cold := testupstream.ZipPath("example.com/dep", "v1.1.0")
	b, code, err := fetchBody(r.URL + cold)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(string(b), "shared storage is unreachable") {
		t.Fatalf("miss with S3 down: %d %v %q; want a 503 saying why", code, err, b)
	}
	// The 503 comes before any download: a zip that could not be stored
	// is not fetched from the upstream only to be thrown away.
	if n := up.Count(cold); n != 0 {
		t.Errorf("the miss with S3 down fetched the zip from the upstream %d time(s) before answering 503; want 0", n)
	}
}

// TestFleetSharedNotFound: a not-found learned by replica 1 is answered by
// replica 2 from Redis without asking the upstream; so is a list, under
// the same TTL rules (TestFleetListsOneFetchPerTTL has more).
func TestFleetSharedNotFound(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	r1, r2 := fe.replica(t, up, nil), fe.replica(t, up, nil)
	missing := testupstream.ZipPath("example.com/dep", "v1.9.9")
	for i, r := range []*replica{r1, r2, r2} {
		if b, code, err := fetchBody(r.URL + missing); err != nil || code != 404 {
			t.Fatalf("request %d: %d %v %s, want 404", i, code, err, b)
		}
	}
	if n := up.Count(testupstream.ModPath("example.com/dep") + "/@v/v1.9.9*"); n != 1 {
		t.Errorf("upstream asked %d times for the missing version across replicas, want 1", n)
	}
	list := testupstream.ModPath("example.com/dep") + "/@v/list"
	for _, r := range []*replica{r1, r2} {
		if b, code, err := fetchBody(r.URL + list); err != nil || code != 200 || !strings.Contains(string(b), "v1.1.0") {
			t.Fatalf("list: %d %v %q", code, err, b)
		}
	}
	if n := up.Count(list); n != 1 {
		t.Errorf("upstream listed %d times across replicas within the TTL, want 1", n)
	}
}
