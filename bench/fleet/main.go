// Command fleet benchmarks a pitstop proxy replica on shared storage
// against the single-node disk store, in one run, on 127.0.0.1:
//
//   - warm hits (a .mod and a zip) through a replica whose local tier holds
//     them, as a ratio of the single-node disk store's req/s (aim ≥ 0.95);
//   - S3 requests per warm hit (aim 0);
//   - S3 requests and Redis commands for a list and @latest on a replica
//     that never asked (shared through Redis: no S3 request), and for a
//     list that expired on three replicas at once (with Redis: one
//     upstream fetch for the three);
//   - the cold-miss latency the fleet lock adds: cold zips through a
//     replica with Redis coordination against the same replica without
//     (aim < 5 ms on loopback).
//
// It starts versitygw and redis-server itself (test.sh installs both).
//
//	go run ./bench/fleet                  # -c 16 -n 20000 -rounds 3 -cold 40
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
	"github.com/pitstop-go/pitstop/internal/testfleet"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

var (
	conc   = flag.Int("c", 16, "concurrent clients")
	n      = flag.Int("n", 20000, "requests per round and kind")
	rounds = flag.Int("rounds", 3, "rounds (the medians are reported, and the ratio's range over the rounds)")
	cold   = flag.Int("cold", 40, "cold zips per mode for the fleet-lock latency")
	zipKB  = flag.Int("zipkb", 256, "zip size in KiB")
	slices = flag.Int("slices", 20, "each round sends its requests in this many slices, alternating the two servers (a b b a …)")
	prof   = flag.String("cpuprofile", "", "before the rounds, profile each server alone under n requests: DIR/{mod,zip}-{single,replica}.pprof (go tool pprof)")
)

// benchTB lets the test fixtures run outside a test.
type benchTB struct {
	mu       sync.Mutex
	cleanups []func()
	dirs     []string
}

func (b *benchTB) Helper()                      {}
func (b *benchTB) Fatal(args ...any)            { b.cleanup(); fmt.Fprintln(os.Stderr, args...); os.Exit(1) }
func (b *benchTB) Fatalf(f string, args ...any) { b.Fatal(fmt.Sprintf(f, args...)) }
func (b *benchTB) Skipf(f string, args ...any)  { b.Fatal("needs: " + fmt.Sprintf(f, args...)) }
func (b *benchTB) Cleanup(f func())             { b.mu.Lock(); b.cleanups = append(b.cleanups, f); b.mu.Unlock() }
func (b *benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "pitstop-bench-fleet-")
	if err != nil {
		b.Fatal(err)
	}
	b.mu.Lock()
	b.dirs = append(b.dirs, d)
	b.mu.Unlock()
	return d
}
func (b *benchTB) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	for _, d := range b.dirs {
		os.RemoveAll(d)
	}
}

func main() {
	flag.Parse()
	tb := &benchTB{}
	defer tb.cleanup()
	if err := run(tb); err != nil {
		tb.Fatal("bench:", err)
	}
}

func serve(h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(ln, h)
	return "http://" + ln.Addr().String()
}

func blob(size int, seed uint32) string {
	b := make([]byte, size)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return string(b)
}

func run(tb *benchTB) error {
	ctx := context.Background()
	s3 := testfleet.StartS3(tb)
	s3.MakeBucket(tb, "bench")
	rs := testfleet.StartRedis(tb)
	mods := []testupstream.Module{{Path: "example.com/hot", Version: "v1.0.0",
		Files: map[string]string{"go.mod": "module example.com/hot\n", "blob.bin": blob(*zipKB<<10, 7)}}}
	for i := range 2 * *cold {
		mods = append(mods, testupstream.Module{Path: fmt.Sprintf("example.com/cold%d", i), Version: "v1.0.0",
			Files: map[string]string{"go.mod": fmt.Sprintf("module example.com/cold%d\n", i), "blob.bin": blob(*zipKB<<10, uint32(i+11))}})
	}
	up, err := testupstream.New(testupstream.Options{}, mods...)
	if err != nil {
		return err
	}
	defer up.Stop()
	env := goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}
	quiet := slog.New(slog.DiscardHandler)
	newFetcher := func() *modfetch.Fetcher {
		return &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(tb.TempDir(), "direct")}
	}

	disk, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		return err
	}
	single := serve(&modproxy.Handler{Store: disk, Fetcher: newFetcher(), Logger: quiet})

	newReplica := func(withRedis bool, listTTL time.Duration) (string, *s3store.Store, coord.Coordinator, error) {
		local, err := store.Open(tb.TempDir(), store.Options{})
		if err != nil {
			return "", nil, nil, err
		}
		remote, err := s3store.OpenWith(ctx, s3store.Config{Bucket: "bench", Prefix: "p", Endpoint: s3.Endpoint, PathStyle: true},
			s3store.Options{TempDir: tb.TempDir()}, testfleet.Creds())
		if err != nil {
			return "", nil, nil, err
		}
		h := &modproxy.Handler{Store: &store.Tiered{Local: local, Remote: remote, Mutable: modproxy.MutableKey}, Fetcher: newFetcher(), Logger: quiet, ListTTL: listTTL}
		if withRedis {
			r, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: rs.URL})
			if err != nil {
				return "", nil, nil, err
			}
			h.Coord = r
		}
		return serve(h), remote, h.Coord, nil
	}
	replica, remote, co, err := newReplica(true, 0)
	if err != nil {
		return err
	}
	replicaNoLock, _, _, err := newReplica(false, 0)
	if err != nil {
		return err
	}

	zip := testupstream.ZipPath("example.com/hot", "v1.0.0")
	mod := testupstream.FilePath("example.com/hot", "v1.0.0", "mod")
	for _, base := range []string{single, replica} {
		for _, p := range []string{zip, mod} {
			if code, err := get(http.DefaultClient, base+p); err != nil || code != 200 {
				return fmt.Errorf("warming %s%s: %d %v", base, p, code, err)
			}
		}
	}

	fmt.Printf("fleet bench: %d clients, %d requests per round and kind, %d rounds, zip %d KiB, GOMAXPROCS %d\n",
		*conc, *n, *rounds, *zipKB, numProcs())
	for _, kind := range []struct{ name, path string }{{"mod", mod}, {"zip", zip}} {
		if *prof != "" {
			// Each server alone under the same load, for go tool pprof.
			for _, t := range []struct{ who, base string }{{"single", single}, {"replica", replica}} {
				f := filepath.Join(*prof, kind.name+"-"+t.who+".pprof")
				if err := profileLoad(f, newTarget(t.base+kind.path), *n); err != nil {
					return err
				}
			}
		}
		var rs, rr, ratios []float64
		var s3reqs, hits int64
		for range *rounds {
			a, b := newTarget(single+kind.path), newTarget(replica+kind.path)
			before := remote.Metrics.Requests()
			pair(a, b, *n, *slices)
			s3reqs += remote.Metrics.Requests() - before
			hits += int64(b.reqs)
			rs, rr = append(rs, a.rate()), append(rr, b.rate())
			ratios = append(ratios, b.rate()/a.rate())
			a.close()
			b.close()
		}
		ms, mr := median(rs), median(rr)
		sort.Float64s(ratios)
		fmt.Printf("warm %-3s  single-node disk %9.0f req/s   replica (local tier) %9.0f req/s   ratio %.3f (rounds %.3f–%.3f)   S3 requests per warm hit %.4f\n",
			kind.name, ms, mr, median(ratios), ratios[0], ratios[len(ratios)-1], float64(s3reqs)/float64(hits))
	}

	if err := listsBench(up, replica, newReplica); err != nil {
		return err
	}

	// Cold misses: alternate between the replica with the fleet lock and
	// the one without, each on modules no one fetched yet.
	var withLock, without []time.Duration
	s3Before, redisBefore := remote.Metrics.Requests(), co.Stats().Requests
	for i := range *cold {
		for j, base := range []string{replica, replicaNoLock} {
			p := testupstream.ZipPath(fmt.Sprintf("example.com/cold%d", 2*i+j), "v1.0.0")
			t0 := time.Now()
			if code, err := get(http.DefaultClient, base+p); err != nil || code != 200 {
				return fmt.Errorf("cold %s: %d %v", p, code, err)
			}
			d := time.Since(t0)
			if j == 0 {
				withLock = append(withLock, d)
			} else {
				without = append(without, d)
			}
		}
	}
	s3PerMiss := float64(remote.Metrics.Requests()-s3Before) / float64(*cold)
	redisPerMiss := float64(co.Stats().Requests-redisBefore) / float64(*cold)
	mw, mo := medianD(withLock), medianD(without)
	fmt.Printf("cold zip  with fleet lock (Redis) p50 %v   without %v   added by the lock %v\n",
		mw.Round(10*time.Microsecond), mo.Round(10*time.Microsecond), (mw - mo).Round(10*time.Microsecond))
	fmt.Printf("cold zip  per miss through the locked replica: %.1f S3 requests, %.1f Redis commands\n", s3PerMiss, redisPerMiss)
	return nil
}

// listsBench measures the shared storage's work for a module's list and
// @latest: warmed through one replica, then asked of a replica that never
// saw them, with Redis (the answers are shared there) and without (they
// are read from the bucket), first once and then warm.
func listsBench(up *testupstream.Server, warmed string, newReplica func(bool, time.Duration) (string, *s3store.Store, coord.Coordinator, error)) error {
	paths := []string{testupstream.ModPath("example.com/hot") + "/@v/list", testupstream.ModPath("example.com/hot") + "/@latest"}
	for _, p := range paths {
		if code, err := get(http.DefaultClient, warmed+p); err != nil || code != 200 {
			return fmt.Errorf("warming %s: %d %v", p, code, err)
		}
	}
	for _, withRedis := range []bool{true, false} {
		base, remote, co, err := newReplica(withRedis, 0)
		if err != nil {
			return err
		}
		counts := func() (int64, int64) {
			if co == nil {
				return remote.Metrics.Requests(), 0
			}
			return remote.Metrics.Requests(), co.Stats().Requests
		}
		s0, r0 := counts()
		for _, p := range paths {
			if code, err := get(http.DefaultClient, base+p); err != nil || code != 200 {
				return fmt.Errorf("%s: %d %v", p, code, err)
			}
		}
		s1, r1 := counts()
		reqs := max(*n/10, *conc)
		for _, p := range paths {
			t := newTarget(base + p)
			t.run(reqs)
			t.close()
		}
		s2, r2 := counts()
		how := "with Redis   "
		if !withRedis {
			how = "without Redis"
		}
		warm := float64(len(paths) * max(reqs / *conc, 1) * *conc)
		fmt.Printf("list+latest %s on a replica that never asked: first request %.1f S3 requests, %.1f Redis commands each; then %.4f S3, %.4f Redis per warm request\n",
			how, float64(s1-s0)/float64(len(paths)), float64(r1-r0)/float64(len(paths)), float64(s2-s1)/warm, float64(r2-r1)/warm)
	}
	fmt.Printf("list+latest upstream fetches for the 3 replicas: list %d, @latest %d\n", up.Count(paths[0]), up.Count(paths[1]))

	// An expired list: three replicas with a short TTL that all hold it
	// ask at once; with Redis one refreshes it from the upstream for all.
	for _, withRedis := range []bool{true, false} {
		if err := expiredList(up, paths[0], withRedis, newReplica); err != nil {
			return err
		}
	}
	return nil
}

// expiredList has three replicas with a short TTL hold a list, lets it
// expire, and asks all three for it at once: the upstream fetches and the
// shared storage's requests per replica.
func expiredList(up *testupstream.Server, path string, withRedis bool, newReplica func(bool, time.Duration) (string, *s3store.Store, coord.Coordinator, error)) error {
	const ttl = time.Second
	type rep struct {
		base   string
		remote *s3store.Store
		co     coord.Coordinator
	}
	var reps []rep
	for range 3 {
		base, remote, co, err := newReplica(withRedis, ttl)
		if err != nil {
			return err
		}
		if code, err := get(http.DefaultClient, base+path); err != nil || code != 200 {
			return fmt.Errorf("%s: %d %v", path, code, err)
		}
		reps = append(reps, rep{base, remote, co})
	}
	time.Sleep(ttl + 100*time.Millisecond)
	counts := func() (s3n, rn int64) {
		for _, r := range reps {
			s3n += r.remote.Metrics.Requests()
			if r.co != nil {
				rn += r.co.Stats().Requests
			}
		}
		return
	}
	s0, r0 := counts()
	fetched := up.Count(path)
	var wg sync.WaitGroup
	for _, r := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(http.DefaultClient, r.base+path)
		}()
	}
	wg.Wait()
	s1, r1 := counts()
	how := "with Redis   "
	if !withRedis {
		how = "without Redis"
	}
	fmt.Printf("expired list %s asked of 3 replicas at once: %d upstream fetch(es), %.1f S3 requests and %.1f Redis commands per replica\n",
		how, up.Count(path)-fetched, float64(s1-s0)/3, float64(r1-r0)/3)
	return nil
}

func get(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// target is one server's URL and its clients' connections, with the time
// spent on it and the requests it answered.
type target struct {
	url  string
	tr   *http.Transport
	c    *http.Client
	dur  time.Duration
	reqs int
}

func newTarget(url string) *target {
	tr := &http.Transport{MaxIdleConnsPerHost: *conc, DisableCompression: true}
	return &target{url: url, tr: tr, c: &http.Client{Transport: tr}}
}

func (t *target) close() { t.tr.CloseIdleConnections() }

func (t *target) rate() float64 { return float64(t.reqs) / t.dur.Seconds() }

// run sends reqs requests from conc clients and adds the time they took.
func (t *target) run(reqs int) {
	var wg sync.WaitGroup
	per := max(reqs / *conc, 1)
	t0 := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if code, err := get(t.c, t.url); err != nil || code != 200 {
					panic(fmt.Sprintf("%s: %d %v", t.url, code, err))
				}
			}
		}()
	}
	wg.Wait()
	t.dur += time.Since(t0)
	t.reqs += per * *conc
}

// pair sends n requests to each of a and b in slices taken in the order
// a b b a a b b a …, so that a change in the machine's load (other jobs
// on a shared machine) falls on both alike. Each first opens its
// connections in an uncounted slice.
func pair(a, b *target, n, slices int) {
	slices = max(slices, 2)
	a.run(*conc)
	b.run(*conc)
	a.dur, a.reqs, b.dur, b.reqs = 0, 0, 0, 0
	for i := range slices {
		if i%4 == 0 || i%4 == 3 {
			a.run(n / slices)
			b.run(n / slices)
		} else {
			b.run(n / slices)
			a.run(n / slices)
		}
	}
}

// profileLoad writes a CPU profile of n requests to t.
func profileLoad(file string, t *target, n int) error {
	defer t.close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	t.run(n)
	pprof.StopCPUProfile()
	return nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func medianD(v []time.Duration) time.Duration {
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2]
}

func numProcs() int { return runtime.GOMAXPROCS(0) }
