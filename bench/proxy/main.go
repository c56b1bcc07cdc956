// Command proxy benchmarks warm hits of pitstop's module proxy against a
// plain net/http.FileServer serving the same bytes and a bare handler that
// answers from memory, all in one run, on 127.0.0.1.
//
// It builds a store by fetching a .info, a .mod and a multi-megabyte zip
// through the real proxy from a test upstream, starts each server as a
// child process (so its RSS is its own), drives load at a fixed
// concurrency over keep-alive connections (its own Go client, or wrk with
// -wrk), and prints req/s, MB/s, p50/p99 latency, each server's CPU per
// request and peak RSS, with ratios.
//
// The pitstop child is "pitstop proxy serve", the binary built from this
// tree (or -pitstop), started as a user starts it (metrics, status page,
// text access log, default memory limit) with --upstream off so that every
// answer must be a hit; its access log goes to a pipe the bench drains, as
// to journald. With -cpuprofile or -memprofile it runs the same command
// inside a child of the bench instead, to profile it.
//
// Two bare handlers answer from memory: "bare" under a plain http.Server
// (no limits at all), "bare-limits" under the http.Server limits every
// server on a LAN needs and pitstop has (ReadHeaderTimeout 10s,
// IdleTimeout 2m, MaxHeaderBytes 64 KiB). With -bareheaders a third,
// "bare-headers", is bare-limits sending the four headers more that
// pitstop sends on every hit, so the report shows what they cost.
//
// With -servicefloor, "bare-service" is bare-headers served the way every
// pitstop server serves its handler: inside internal/service's Server with
// its defaults (progress timeout, connection cap, request metrics, the
// status page's statistics, the text access log to a pipe the bench
// drains) and pitstop's default 40 MiB memory limit. The product requires
// each of those of a service, so bare-service/bare is the floor under
// issue 14's proxy limit, and pitstop/bare-service what the proxy itself
// costs on top. -floorparts adds bare-service with one part left out at a
// time (the access log, the status statistics, the progress timeout, the
// connection cap) to show what each costs.
//
// Rounds interleave the servers; every ratio is the median over the rounds
// of the ratio within a round (the machine's load changes between rounds
// more than within one). CPU/request, the server process's user+system
// time over the requests of a run, depends much less on the machine's load
// than req/s. The last lines are issue 14's figures: pitstop against both
// bare handlers for .info and .mod (req/s at least 0.9x, p99 at most 1x,
// CPU/request at most 1/0.9), pitstop/fileserver for the zip (at least
// 1x) and pitstop's peak RSS under this load (under 20 MB, read as
// 20,000,000 bytes).
//
//	go run ./bench/proxy -wrk          # defaults: -c 16 -rounds 5, wrk -wrkdur 3s per run
//	go run ./bench/proxy -c 16 -n 200000 -rounds 7
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/cli"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testupstream"
	"github.com/pitstop-go/pitstop/internal/units"
)

const (
	modPath = "example.com/bench"
	modVers = "v1.2.3"
)

var (
	conc       = flag.Int("c", 16, "concurrent clients (each on its own keep-alive connection)")
	n          = flag.Int("n", 100000, "requests per run for .info and .mod")
	zipN       = flag.Int("zipn", 1500, "requests per run for the zip")
	zipMB      = flag.Int("zipmb", 4, "zip size in MiB")
	pitstop    = flag.String("pitstop", "", "the pitstop binary to measure (default: build ./cmd/pitstop of this tree as a release is built, into the temporary directory); with -cpuprofile or -memprofile, proxy serve runs inside a child of this program instead, to be profiled")
	rounds     = flag.Int("rounds", 5, "rounds per kind, servers interleaved in each (medians are reported)")
	useWrk     = flag.Bool("wrk", false, "drive load with wrk (Debian package wrk) instead of the Go client")
	wrkDur     = flag.Duration("wrkdur", 3*time.Second, "duration of one wrk run")
	authTok    = flag.String("auth", "", "run pitstop with this --auth-token (the clients send it as a bearer token to every server)")
	kinds      = flag.String("kinds", "info,mod,zip", "comma-separated kinds to measure")
	bareHdrs   = flag.Bool("bareheaders", false, "also measure \"bare-headers\": bare-limits sending the headers pitstop sends (Cache-Control, ETag, Last-Modified, X-Pitstop-Cache), to show what they cost")
	floorParts = flag.Bool("floorparts", false, "with -servicefloor's row, one row per part of the service left out (bare-service-without-log, -status, -progress, -maxconns), to show what each costs")
	svcFloor   = flag.Bool("servicefloor", false, "also measure \"bare-service\": bare-headers inside internal/service's Server as pitstop runs it (limits, metrics, status statistics, access log, memory limit), the floor the product's service rules set")
	cpuProf    = flag.String("cpuprofile", "", "write a CPU profile of the pitstop server child to this file")
	memProf    = flag.String("memprofile", "", "write an allocation profile of the pitstop server child to this file (every allocation sampled)")
	baseline   = flag.String("baseline", "", "also measure this pitstop binary (an older build), started the same way, interleaved, and compare with it")
	keep       = flag.String("keepstore", "", "only fill a store and copy it to this new directory, for experiments by hand")
	serveMode  = flag.String("serve", "", "internal: run as a server child (pitstop, fileserver, bare)")
	dirFlag    = flag.String("dir", "", "internal: the store directory for -serve")
)

func main() {
	flag.Parse()
	if *serveMode != "" {
		if err := serve(*serveMode, *dirFlag); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var paths = map[string]string{}

// floorPartNames are the parts of the service -floorparts leaves out, one
// at a time ("bare-service-without-<part>"; serveFloor knows each).
var floorPartNames = []string{"log", "status", "progress", "maxconns"}

func init() {
	paths["info"] = testupstream.FilePath(modPath, modVers, "info")
	paths["mod"] = testupstream.FilePath(modPath, modVers, "mod")
	paths["zip"] = testupstream.ZipPath(modPath, modVers)
}

func run() error {
	dir, err := os.MkdirTemp("", "pitstop-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := fill(filepath.Join(dir, "store")); err != nil {
		return err
	}
	if *keep != "" {
		if err := os.CopyFS(*keep, os.DirFS(filepath.Join(dir, "store"))); err != nil {
			return err
		}
		fmt.Printf("store copied to %s; its files: %s %s %s\n", *keep, paths["info"], paths["mod"], paths["zip"])
		return nil
	}
	if *pitstop == "" && *cpuProf == "" && *memProf == "" {
		*pitstop = filepath.Join(dir, "pitstop")
		// As scripts/release.sh builds it: static and stripped.
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", *pitstop, "github.com/pitstop-go/pitstop/cmd/pitstop")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("building pitstop: %v: %s", err, out)
		}
	}
	fi, _ := os.Stat(filepath.Join(dir, "store", strings.TrimPrefix(paths["zip"], "/")))
	fmt.Printf("pitstop proxy warm-hit benchmark: %d clients, %d requests per small run, %d per zip run, zip %.1f MiB, GOMAXPROCS of servers = %d CPUs\n\n",
		*conc, *n, *zipN, float64(fi.Size())/(1<<20), numCPU())

	servers := []string{"bare", "bare-limits", "fileserver", "pitstop"}
	if *bareHdrs {
		servers = append(servers, "bare-headers")
	}
	if *svcFloor || *floorParts {
		servers = append(servers, "bare-service")
	}
	if *floorParts {
		for _, part := range floorPartNames {
			servers = append(servers, "bare-service-without-"+part)
		}
	}
	if *baseline != "" {
		servers = append(servers, "baseline")
	}
	type key struct{ kind, server string }
	res := map[key]result{}
	perRound := map[key][]result{} // in round order
	rss := map[string]int64{}
	urls := map[string]string{}
	pids := map[string]int{}
	for _, s := range servers {
		child, url, err := startChild(s, filepath.Join(dir, "store"))
		if err != nil {
			return err
		}
		defer func() { child.Process.Signal(syscall.SIGTERM); child.Wait() }()
		urls[s], pids[s] = url, child.Process.Pid
	}
	driver := "Go client (bench/proxy)"
	if *useWrk {
		driver = "wrk -t2 -c" + strconv.Itoa(*conc) + " -d" + wrkDur.String()
	}
	fmt.Printf("load: %s; %d rounds, servers interleaved, median round reported\n\n", driver, *rounds)
	how := *pitstop
	if how == "" {
		how = "inside this program's child, profiled"
	}
	fmt.Printf("pitstop: proxy serve (%s) as a user starts it: metrics, status page, default --memory-limit, text access log, auth %v\n", how, *authTok != "")
	for _, kind := range strings.Split(*kinds, ",") {
		reqs := *n
		if kind == "zip" {
			reqs = *zipN
		}
		runs := map[string][]result{}
		for round := 0; round < *rounds; round++ {
			for _, s := range servers {
				u := urls[s] + paths[kind]
				if round == 0 {
					load(u, *conc, max(reqs/10, *conc)) // warm up connections and caches
				}
				var r result
				var err error
				c0 := cpuTime(pids[s])
				if *useWrk {
					r, err = wrk(u)
				} else {
					r, err = load(u, *conc, reqs)
				}
				if err != nil {
					return fmt.Errorf("%s %s: %v", s, kind, err)
				}
				if r.n > 0 {
					r.cpu = (cpuTime(pids[s]) - c0) / time.Duration(r.n)
				}
				runs[s] = append(runs[s], r)
			}
		}
		for _, s := range servers {
			perRound[key{kind, s}] = append([]result(nil), runs[s]...)
			rs := runs[s]
			// Median round by req/s; server CPU per request is the median
			// of its own (it depends much less on the machine's load).
			cpus := make([]time.Duration, len(rs))
			for i, r := range rs {
				cpus[i] = r.cpu
			}
			sort.Slice(cpus, func(i, j int) bool { return cpus[i] < cpus[j] })
			sort.Slice(rs, func(i, j int) bool { return rs[i].rps < rs[j].rps })
			med := rs[len(rs)/2]
			med.cpu = cpus[len(cpus)/2]
			res[key{kind, s}] = med
		}
	}
	for _, s := range servers {
		rss[s] = peakRSS(pids[s])
	}
	wid := 11
	for _, s := range servers {
		wid = max(wid, len(s))
	}
	fmt.Printf("%-5s %-*s %10s %9s %9s %9s %8s %12s\n", "kind", wid, "server", "req/s", "MB/s", "p50", "p99", "RSS MiB", "CPU/request")
	for _, kind := range strings.Split(*kinds, ",") {
		for _, s := range servers {
			r := res[key{kind, s}]
			fmt.Printf("%-5s %-*s %10.0f %9.1f %9s %9s %8.1f %10.2fµs\n", kind, wid, s, r.rps, r.mbps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), float64(rss[s])/(1<<20), float64(r.cpu)/1e3)
		}
	}
	// CPU/request is the server process's user+system time over the
	// requests of a run: much less sensitive to the machine's load than
	// req/s, which other processes' CPU use moves.
	fmt.Printf("\npitstop against each server, medians of the per-round ratios:\n")
	for _, kind := range strings.Split(*kinds, ",") {
		for _, s := range servers {
			if s == "pitstop" {
				continue
			}
			q := ratios(perRound[key{kind, "pitstop"}], perRound[key{kind, s}])
			fmt.Printf("  %-4s pitstop/%-11s req/s %.2fx, p99 %.2fx, CPU/request %.2fx\n", kind, s+":", q.rps, q.p99, q.cpu)
		}
	}
	fmt.Printf("\npeak RSS (VmHWM): bare %.1f MiB, fileserver %.1f MiB, pitstop %.1f MiB (pitstop/fileserver %.2fx)",
		float64(rss["bare"])/(1<<20), float64(rss["fileserver"])/(1<<20), float64(rss["pitstop"])/(1<<20), float64(rss["pitstop"])/float64(rss["fileserver"]))
	if *baseline != "" {
		fmt.Printf(", baseline %.1f MiB", float64(rss["baseline"])/(1<<20))
	}
	fmt.Println()
	fmt.Printf("\nissue 14, median over %d interleaved rounds of the ratio within a round (load average at the end: %s):\n", *rounds, loadAvg())
	for _, kind := range strings.Split(*kinds, ",") {
		p := perRound[key{kind, "pitstop"}]
		switch kind {
		case "info", "mod":
			// Two baselines: the bare handler under a plain http.Server
			// (no limits at all: the original figure), and the
			// same handler under the http.Server limits every server on
			// a LAN needs (read-header and idle timeouts, header size),
			// which pitstop has.
			for _, base := range []string{"bare", "bare-limits"} {
				q := ratios(p, perRound[key{kind, base}])
				fmt.Printf("  %-4s pitstop/%-12s req/s %.2fx (want >= 0.90) %s, p99 %.2fx (want <= 1.00) %s, CPU/request %.2fx (want <= %.2f) %s\n", kind, base+":", q.rps, verdict(q.rps >= 0.9), q.p99, verdict(q.p99 <= 1), q.cpu, 1/0.9, verdict(q.cpu <= 1/0.9))
			}
			if *svcFloor || *floorParts {
				// The floor: the bare handler with only what every
				// pitstop service must do around a request.
				f := perRound[key{kind, "bare-service"}]
				q := ratios(f, perRound[key{kind, "bare"}])
				fmt.Printf("  %-4s floor, bare-service/bare: req/s %.2fx, CPU/request %.2fx; pitstop/bare-service: ", kind, q.rps, q.cpu)
				q = ratios(p, f)
				fmt.Printf("req/s %.2fx, p99 %.2fx, CPU/request %.2fx\n", q.rps, q.p99, q.cpu)
				if *floorParts {
					fmt.Printf("  %-4s what each part of the service costs, bare-service over bare-service without it:", kind)
					for _, part := range floorPartNames {
						q := ratios(f, perRound[key{kind, "bare-service-without-" + part}])
						fmt.Printf(" %s req/s %.2fx CPU %.2fx;", part, q.rps, q.cpu)
					}
					fmt.Println()
				}
			}
		case "zip":
			q := ratios(p, perRound[key{kind, "fileserver"}])
			fmt.Printf("  %-4s pitstop/fileserver: req/s %.2fx (want >= 1.00) %s\n", kind, q.rps, verdict(q.rps >= 1))
		}
	}
	fmt.Printf("  (pitstop's RSS after the load: %s)\n", rssParts(pids["pitstop"]))
	// The "20 MB" is read strictly, as 20,000,000 bytes (19.07
	// MiB); the MiB figure is shown as well.
	fmt.Printf("  pitstop peak RSS under this load: %.1f MiB = %.1f MB (want < 20 MB) %s\n", float64(rss["pitstop"])/(1<<20), float64(rss["pitstop"])/1e6, verdict(rss["pitstop"] < 20e6))
	return nil
}

// ratios are medians over rounds of a's figures over b's in the same round.
func ratios(a, b []result) (q struct{ rps, p99, cpu float64 }) {
	var rps, p99, cpu []float64
	for i := range min(len(a), len(b)) {
		rps = append(rps, a[i].rps/b[i].rps)
		p99 = append(p99, float64(a[i].p99)/float64(b[i].p99))
		cpu = append(cpu, float64(a[i].cpu)/float64(b[i].cpu))
	}
	q.rps, q.p99, q.cpu = median(rps), median(p99), median(cpu)
	return q
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	sort.Float64s(x)
	if len(x)%2 == 1 {
		return x[len(x)/2]
	}
	return (x[len(x)/2-1] + x[len(x)/2]) / 2
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// fill fetches the three files through the real proxy from a test upstream
// into dir, so the store is laid out exactly as in production.
func fill(dir string) error {
	data := make([]byte, *zipMB<<20)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	up, err := testupstream.New(testupstream.Options{}, testupstream.Module{Path: modPath, Version: modVers, Files: map[string]string{
		"go.mod": "module " + modPath + "\n\ngo 1.22\n", "blob.bin": string(data), "b.go": "package bench\n"}})
	if err != nil {
		return err
	}
	defer up.Stop()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	h := &modproxy.Handler{Store: st, Logger: slog.New(slog.DiscardHandler),
		Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	for _, kind := range []string{"info", "mod", "zip"} {
		resp, err := http.Get("http://" + ln.Addr().String() + paths[kind])
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("filling %s: %s", kind, resp.Status)
		}
	}
	return nil
}

// startChild starts a server: pitstop (and the baseline) as
// "pitstop proxy serve", the others (and pitstop when profiled) as a child
// of this program; it returns the server's URL.
func startChild(mode, dir string) (*exec.Cmd, string, error) {
	bin := os.Args[0]
	args := []string{"-serve", mode, "-dir", dir, "-auth=" + *authTok}
	if mode == "pitstop" && *cpuProf != "" {
		args = append(args, "-cpuprofile", *cpuProf)
	}
	if mode == "pitstop" && *memProf != "" {
		args = append(args, "-memprofile", *memProf)
	}
	byCLI := mode == "baseline" || mode == "pitstop" && *pitstop != ""
	if byCLI {
		bin = *pitstop
		if mode == "baseline" {
			bin = *baseline
		}
		args = serveArgs(dir)
	}
	cmd := exec.Command(bin, args...)
	var lines *bufio.Reader
	if byCLI {
		// The access log goes to a pipe this program drains, as to
		// journald; the address is in the "listening" line.
		errs, err := cmd.StderrPipe()
		if err != nil {
			return nil, "", err
		}
		lines = bufio.NewReader(errs)
	} else {
		if !strings.HasPrefix(mode, "bare-service") {
			cmd.Stderr = os.Stderr
		} else {
			// Its access log goes to a pipe this program drains, as
			// pitstop's does.
			errs, err := cmd.StderrPipe()
			if err != nil {
				return nil, "", err
			}
			go io.Copy(io.Discard, errs)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", err
		}
		lines = bufio.NewReader(out)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			return nil, "", fmt.Errorf("%s child: %v", mode, err)
		}
		if !byCLI {
			return cmd, "http://" + strings.TrimSpace(line), nil
		}
		if addr, ok := listenAddr(line); ok {
			go io.Copy(io.Discard, lines)
			return cmd, "http://" + addr, nil
		}
		os.Stderr.WriteString(line)
	}
}

// serveArgs runs pitstop's proxy as a user starts it, with --upstream off:
// every answer must be a hit.
func serveArgs(dir string) []string {
	args := []string{"proxy", "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--upstream", "off", "--gosumdb", "off", "--policy", "none"}
	if *authTok != "" {
		args = append(args, "--auth-token", *authTok)
	}
	return args
}

// listenAddr reads the address from a server's "listening" log line.
func listenAddr(line string) (string, bool) {
	if !strings.Contains(line, "listening") {
		return "", false
	}
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "addr="); ok {
			return v, true
		}
	}
	return "", false
}

func serve(mode, dir string) error {
	var ln net.Listener
	var err error
	if mode != "pitstop" {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		fmt.Println(ln.Addr().String())
	}
	stopProf := func() {}
	if *cpuProf != "" || *memProf != "" {
		var f *os.File
		if *cpuProf != "" {
			if f, err = os.Create(*cpuProf); err != nil {
				return err
			}
			pprof.StartCPUProfile(f)
		}
		if *memProf != "" {
			runtime.MemProfileRate = 1
		}
		var once sync.Once
		stopProf = func() {
			once.Do(func() {
				if f != nil {
					pprof.StopCPUProfile()
					f.Close()
				}
				if *memProf != "" {
					if mf, err := os.Create(*memProf); err == nil {
						pprof.Lookup("allocs").WriteTo(mf, 0)
						mf.Close()
					}
				}
			})
		}
		defer stopProf()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() {
			<-sig
			stopProf()
			if mode != "pitstop" { // pitstop stops on SIGTERM by itself
				os.Exit(0)
			}
		}()
	}
	kind, without, _ := strings.Cut(mode, "-without-") // bare-service-without-<part>: serveFloor checks the part
	if without != "" && kind != "bare-service" {
		return fmt.Errorf("unknown mode %q", mode)
	}
	switch kind {
	case "fileserver":
		return http.Serve(ln, http.FileServer(http.Dir(dir)))
	case "bare", "bare-limits", "bare-headers", "bare-service":
		mem := map[string][]byte{}
		for _, p := range paths {
			b, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(p, "/")))
			if err != nil {
				return err
			}
			mem[p] = b
		}
		ctype := []string{"application/octet-stream"}
		srv := &http.Server{}
		// bare-headers: what pitstop adds to every hit, prepared once.
		extra := http.Header{
			"Cache-Control":   {"public, max-age=31536000, immutable"},
			"Etag":            {`"1e-dn8lerve9ush"`},
			"Last-Modified":   {time.Now().UTC().Format(http.TimeFormat)},
			"X-Pitstop-Cache": {"hit"},
		}
		if mode != "bare" {
			// The limits every server on a LAN needs, as
			// internal/service sets them for pitstop: a bound on
			// reading a request's headers, on idle keep-alive
			// connections, and on the headers' size.
			srv.ReadHeaderTimeout = 10 * time.Second
			srv.IdleTimeout = 2 * time.Minute
			srv.MaxHeaderBytes = 64 << 10
		}
		srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, ok := mem[r.URL.Path]
			if !ok {
				http.NotFound(w, r)
				return
			}
			h := w.Header()
			h["Content-Type"] = ctype
			h["Content-Length"] = []string{strconv.Itoa(len(b))}
			if mode != "bare" && mode != "bare-limits" {
				for k, v := range extra {
					h[k] = v
				}
			}
			w.Write(b)
		})
		if kind == "bare-service" {
			return serveFloor(ln, srv.Handler, without)
		}
		return srv.Serve(ln)
	case "pitstop":
		// Profiled: proxy serve in this process, its log to /dev/null.
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if code := cli.Run(serveArgs(dir), strings.NewReader(""), io.Discard, &addrWatch{sink: devnull}); code != 0 {
			return fmt.Errorf("pitstop proxy serve exited %d", code)
		}
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// serveFloor serves h as pitstop proxy serve serves its handler, with the
// service defaults, the proxy's status statistics, the text access log on
// stderr and the default memory limit, until SIGTERM.
func serveFloor(ln net.Listener, h http.Handler, without string) error {
	debug.SetMemoryLimit(40 << 20) // proxy serve's default --memory-limit
	log, err := service.NewLogger("text", os.Stderr)
	if err != nil {
		return err
	}
	srv := &service.Server{Name: "proxy", Listener: ln, Handler: h, Logger: log, Registry: prometheus.NewRegistry(), AuthToken: *authTok,
		Status: &service.StatusPage{Title: "bare-service", Parts: []service.StatusPart{{Stats: modproxy.NewStats()}}}}
	// -floorparts: one part of the service left out, to show its cost.
	switch without {
	case "log":
		srv.Logger, _ = service.NewLoggerLevel("text", os.Stderr, slog.LevelWarn)
	case "status":
		srv.Status = nil
	case "progress":
		srv.ProgressTimeout = -1
	case "maxconns":
		srv.MaxConns = -1
	case "":
	default:
		return fmt.Errorf("bare-service without %q: no such part", without)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	return srv.Run(ctx)
}

// addrWatch is the pitstop child's stderr: it passes the log to stderr
// until the server says where it listens, prints that address on stdout
// for the parent, and from then on writes to sink.
type addrWatch struct {
	line  []byte
	found bool
	sink  io.Writer
}

func (a *addrWatch) Write(b []byte) (int, error) {
	if a.found {
		return a.sink.Write(b)
	}
	os.Stderr.Write(b)
	a.line = append(a.line, b...)
	for {
		i := bytes.IndexByte(a.line, '\n')
		if i < 0 {
			return len(b), nil
		}
		l := string(a.line[:i])
		a.line = a.line[i+1:]
		if addr, ok := listenAddr(l); ok {
			fmt.Println(addr)
			a.found = true
			return len(b), nil
		}
	}
}

type result struct {
	rps, mbps float64
	n         int           // requests completed
	cpu       time.Duration // server CPU time (user+system) per request
	p50, p99  time.Duration
}

// load sends total GET requests for url from c workers and measures them.
func load(url string, c, total int) (result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	lat := make([][]time.Duration, c)
	var bytes [64]int64
	var firstErr error
	var errMu sync.Mutex
	var wg sync.WaitGroup
	per := total / c
	buf := make([][]byte, c)
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		buf[w] = make([]byte, 256<<10)
		lat[w] = make([]time.Duration, 0, per)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				t0 := time.Now()
				req, _ := http.NewRequest("GET", url, nil)
				if *authTok != "" {
					req.Header.Set("Authorization", "Bearer "+*authTok)
				}
				resp, err := client.Do(req)
				if err == nil {
					var nb int64
					for {
						m, rerr := resp.Body.Read(buf[w])
						nb += int64(m)
						if rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %s", resp.Status)
					}
					bytes[w%64] += nb
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return result{}, firstErr
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var nb int64
	for _, b := range bytes {
		nb += b
	}
	return result{
		n:    len(all),
		rps:  float64(len(all)) / el.Seconds(),
		mbps: float64(nb) / (1 << 20) / el.Seconds(),
		p50:  all[len(all)/2],
		p99:  all[len(all)*99/100],
	}, nil
}

// wrk runs wrk against url and parses its report.
func wrk(url string) (result, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(*conc), "-d" + wrkDur.String(), "--latency"}
	if *authTok != "" {
		args = append(args, "-H", "Authorization: Bearer "+*authTok)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r result
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.p50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99 = wrkDuration(f[1])
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.n, _ = strconv.Atoi(f[0])
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "Transfer/sec:":
			r.mbps = wrkBytes(f[1]) / (1 << 20)
		case strings.Contains(l, "Non-2xx"):
			return result{}, fmt.Errorf("wrk saw errors: %s", l)
		}
	}
	if r.rps == 0 {
		return result{}, fmt.Errorf("cannot parse wrk output: %s", out)
	}
	return r, nil
}

// wrkDuration reads a latency wrk prints (456.78us, 1.23ms, 2.00s, 1.00m),
// which time.ParseDuration reads; 0 if it cannot.
func wrkDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

// wrkBytes reads a size wrk prints (12.34MB, in powers of 1024); 0 if it
// cannot.
func wrkBytes(s string) float64 {
	n, _ := units.ParseSize(s)
	return float64(n)
}

func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// rssParts says what pid's resident memory is now: anonymous (heap,
// stacks) and file-backed (the binary's pages).
func rssParts(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	var parts []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(l, k); ok {
				parts = append(parts, strings.TrimSuffix(k, ":")+" "+strings.Join(strings.Fields(v), " "))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// cpuTime returns the user+system CPU time pid has used (clock ticks of
// /proc/PID/stat, assumed 100 Hz as on every Linux port Go supports).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func numCPU() int {
	b, _ := exec.Command("nproc").Output()
	c, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return c
}
