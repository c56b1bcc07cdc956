package modproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// statusProxy runs a proxy server on 127.0.0.1, with the status page when
// withStatus, and returns its base URL, its Stats (nil without) and its
// store.
func statusProxy(t testing.TB, up *testupstream.Server, withStatus bool) (string, *service.Stats, *store.Disk) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := &Handler{Store: st, Logger: log, Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	srv := &service.Server{Name: "proxy", Addr: "127.0.0.1:0", Handler: h, Logger: log, MaxConns: -1}
	if withStatus {
		h.Status = NewStats()
		srv.Status = &service.StatusPage{Title: "pitstop proxy", Parts: []service.StatusPart{{Stats: h.Status, Usage: st.Usage, Toolchains: Toolchains(st)}}}
	}
	ready := make(chan net.Addr, 1)
	srv.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return "http://" + a.String(), h.Status, st
	case err := <-done:
		t.Fatal(err)
	}
	return "", nil, nil
}

var hitPaths = []string{
	testupstream.FilePath("example.com/dep", "v1.0.0", "info"),
	testupstream.FilePath("example.com/dep", "v1.1.0", "mod"),
	testupstream.FilePath("example.com/Lib", "v1.0.0", "info"),
	testupstream.ZipPath("example.com/dep", "v1.0.0"),
}

func warm(t testing.TB, c *http.Client, base string) {
	t.Helper()
	for _, p := range append(hitPaths, testupstream.ZipPath("golang.org/toolchain", "v0.0.1-go1.22.5.linux-arm64")) {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

// getOK GETs url, drains the answer and reports whether it was a 200 (an
// error otherwise).
func getOK(t testing.TB, c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		t.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", url, resp.StatusCode)
		return false
	}
	return true
}

// load sends hits from conns connections for d; it returns the requests
// answered.
func load(t testing.TB, c *http.Client, base string, conns int, d time.Duration) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; time.Now().Before(stop); j++ {
				if !getOK(t, c, base+hitPaths[j%len(hitPaths)]) {
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

// poll fetches the page and /api/status every interval until stop closes;
// it returns the polls made and a channel closed when the last poll has
// been answered.
func poll(t testing.TB, c *http.Client, base string, interval time.Duration, stop <-chan struct{}) (*atomic.Int64, <-chan struct{}) {
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			for _, p := range []string{"/", "/api/status"} {
				if !getOK(t, c, base+p) {
					return
				}
				n.Add(1)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	return &n, done
}

func client(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns + 4, MaxConnsPerHost: conns + 4}}
}

// TestStatusPolledDuringLoad: the page and /api/status, polled while
// clients hit the proxy (run it with -race), answer throughout, and the
// counts they end with are the requests made: every hit recorded once, the
// module paths in the top table, the toolchain listed.
func TestStatusPolledDuringLoad(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	base, _, _ := statusProxy(t, up, true)
	c := client(8)
	warm(t, c, base)
	stop := make(chan struct{})
	polls, polled := poll(t, c, base, 20*time.Millisecond, stop)
	n := load(t, c, base, 8, 2*time.Second)
	// A loaded or emulated machine may answer fewer polls in 2s: the load
	// goes on until four were answered during it (within a minute).
	for end := time.Now().Add(time.Minute); polls.Load() < 4 && time.Now().Before(end); {
		n += load(t, c, base, 8, 250*time.Millisecond)
	}
	close(stop)
	// A poll in flight when the load ended may render (and cache) its
	// answer later on a loaded machine: wait for it, then past its
	// cached answer.
	<-polled
	time.Sleep(service.StatusCacheFor + 100*time.Millisecond)
	if polls.Load() < 4 {
		t.Errorf("only %d polls answered during the load", polls.Load())
	}
	resp, err := c.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st service.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	warmed := int64(len(hitPaths) + 1)
	if all := st.Parts[0].Windows[2]; all.Requests != n+warmed || all.Hits != n {
		t.Errorf("since start: %d requests, %d hits; want %d (%d hits + %d warm-up misses)", all.Requests, all.Hits, n+warmed, n, warmed)
	}
	var sum int64
	for _, e := range st.Parts[0].TopRequests {
		sum += e.Requests
		if e.Key != "example.com/dep" && e.Key != "example.com/Lib" && e.Key != "golang.org/toolchain" {
			t.Errorf("unexpected key %q in the top table", e.Key)
		}
	}
	if sum != n+warmed {
		t.Errorf("top table counts %d requests; want %d", sum, n+warmed)
	}
	if tc := st.Parts[0].Toolchains; len(tc) != 1 || tc[0].Name != "v0.0.1-go1.22.5.linux-arm64" {
		t.Errorf("toolchains = %+v; want v0.0.1-go1.22.5.linux-arm64", tc)
	}
	if len(st.Events) != int(warmed) || st.Events[0].Kind != service.EventMiss {
		t.Errorf("events = %+v; want %d misses", st.Events, warmed)
	}
	t.Logf("%d hits with %d polls of the page and the JSON during the load", n, polls.Load())
}

// BenchmarkStatusPollingRatio measures hit throughput over HTTP (8
// keep-alive connections) on three servers in interleaved rounds: without
// the status page ("plain"), with it recording but unpolled, and with it
// polled (page and JSON every 250 ms: 8 renders a second, what 40 open
// pages refreshing every 5 seconds ask). It
// reports requests per second of each and the ratios: of the totals, and
// the median of the per-round ratios (robust to a noisy neighbour). b.N is
// ignored. Rounds: PITSTOP_STATUS_ROUNDS (default 20) of 500 ms per server,
// in rotating order.
func BenchmarkStatusPollingRatio(b *testing.B) {
	up := testupstream.NewForTest(b, graph...)
	rounds := 20
	if s := os.Getenv("PITSTOP_STATUS_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	const conns = 8
	const span = 500 * time.Millisecond
	c := client(conns)
	plain, _, _ := statusProxy(b, up, false)
	rec, _, _ := statusProxy(b, up, true)
	polled, _, _ := statusProxy(b, up, true)
	for _, base := range []string{plain, rec, polled} {
		warm(b, c, base)
	}
	var n [3]int64
	var cpu [3]time.Duration
	var nPolls int64
	var recRatios, polledRatios []float64
	runs := []func() int64{
		func() int64 { return load(b, c, plain, conns, span) },
		func() int64 { return load(b, c, rec, conns, span) },
		func() int64 {
			stop := make(chan struct{})
			p, done := poll(b, c, polled, 250*time.Millisecond, stop)
			k := load(b, c, polled, conns, span)
			close(stop)
			<-done
			nPolls += p.Load()
			return k
		},
	}
	b.ResetTimer()
	for r := range rounds {
		// Each round in another order, so no configuration always follows
		// the same one.
		var got [3]int64
		for i := range runs {
			j := (i + r) % len(runs)
			c0 := cpuTime()
			got[j] = runs[j]()
			cpu[j] += cpuTime() - c0
			n[j] += got[j]
		}
		recRatios = append(recRatios, float64(got[1])/float64(got[0]))
		polledRatios = append(polledRatios, float64(got[2])/float64(got[0]))
	}
	secs := float64(rounds) * span.Seconds()
	b.ReportMetric(float64(n[0])/secs, "plain-req/s")
	b.ReportMetric(float64(n[1])/secs, "recording-req/s")
	b.ReportMetric(float64(n[2])/secs, "polled-req/s")
	b.ReportMetric(float64(n[1])/float64(n[0]), "recording/plain")
	b.ReportMetric(float64(n[2])/float64(n[0]), "polled/plain")
	per := func(i int) float64 { return float64(cpu[i].Nanoseconds()) / 1000 / float64(n[i]) }
	b.ReportMetric(per(0), "plain-cpu-µs/req")
	b.ReportMetric(per(1), "recording-cpu-µs/req")
	b.ReportMetric(per(2), "polled-cpu-µs/req")
	// CPU per request (this process: server, clients and pollers) is what
	// bounds throughput on a busy board, and is robust to other processes'
	// load, which wall-clock throughput is not.
	b.ReportMetric(per(0)/per(1), "cpu-throughput-recording/plain")
	b.ReportMetric(per(0)/per(2), "cpu-throughput-polled/plain")
	b.ReportMetric(median(recRatios), "median-recording/plain")
	b.ReportMetric(median(polledRatios), "median-polled/plain")
	fmt.Fprintf(os.Stderr, "status polls during the polled rounds: %d; per-round polled/plain: %.3f\n", nPolls, polledRatios)
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestStatusRecordsPolicyRefusal: a version the policy refuses appears
// among the status page's events with its rule and reason.
func TestStatusRecordsPolicyRefusal(t *testing.T) {
	up := testupstream.NewForTest(t, timed("example.com/stranger", "v1.0.0", time.Now().Add(-400*24*time.Hour)))
	file := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(file, []byte("[default]\naction = \"deny\"\nreason = \"not on the allowlist\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := policy.Open(file, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	stats := NewStats()
	p := startProxy(t, up, "", func(h *Handler, _ goenv.Env) { h.Policy = src; h.UseStats(stats) })
	resp, err := http.Get(p.URL + testupstream.FilePath("example.com/stranger", "v1.0.0", "info"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refused version: %d; want 403", resp.StatusCode)
	}
	evs := stats.Snapshot(time.Now()).Events
	if len(evs) == 0 || evs[0].Kind != service.EventPolicy || evs[0].Subject != "example.com/stranger@v1.0.0" || !strings.Contains(evs[0].Detail, "not on the allowlist") {
		t.Errorf("events = %+v; want the policy refusal of example.com/stranger@v1.0.0 with its reason", evs)
	}
}

// classifyStatus reads CacheHeader from the header map directly, which is
// right only while the name is in canonical form.
func TestCacheHeaderCanonical(t *testing.T) {
	if http.CanonicalHeaderKey(CacheHeader) != CacheHeader {
		t.Errorf("CacheHeader %q is not canonical (%q)", CacheHeader, http.CanonicalHeaderKey(CacheHeader))
	}
	h := http.Header{}
	h.Set(CacheHeader, "hit")
	r := httptest.NewRequest("GET", "/example.com/m/@v/v1.0.0.info", nil)
	if key, hit, ok := classifyStatus(r, 200, h); key != "example.com/m" || !hit || !ok {
		t.Errorf("classifyStatus of a hit = %q, %v, %v", key, hit, ok)
	}
	h.Set(CacheHeader, "miss")
	if _, hit, _ := classifyStatus(r, 200, h); hit {
		t.Error("a miss counted as a hit")
	}
}
