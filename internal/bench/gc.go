package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// GCResult is the gc benchmark: every workload under every GC setting at
// every GOMAXPROCS, each run in a process of its own so that GOGC,
// GOMEMLIMIT and GOMAXPROCS apply from its start.
type GCResult struct {
	Seconds float64 `json:"seconds"` // the length of one run
	// HeapBudgetBytes is the heap one child may reach: a quarter of the
	// machine's available memory, at most what the full-size workloads
	// need. MapChurnKeys, the map churn's live entries, and the
	// GOMEMLIMIT setting are sized to it.
	HeapBudgetBytes int64   `json:"heap_budget_bytes"`
	MapChurnKeys    int     `json:"map_churn_keys"`
	Runs            []GCRun `json:"runs"`
}

// GCSetting is one garbage-collector configuration, as the environment
// variables the child starts with.
type GCSetting struct {
	GOGC       string `json:"gogc"`                 // "100", "off"
	GOMEMLIMIT int64  `json:"gomemlimit,omitempty"` // bytes; 0 is none
}

func (s GCSetting) String() string {
	if s.GOMEMLIMIT == 0 {
		return "GOGC=" + s.GOGC
	}
	return "GOGC=" + s.GOGC + ",GOMEMLIMIT=" + strings.ReplaceAll(units.HumanSize(s.GOMEMLIMIT), " ", "")
}

// GCRun is one child's measurement.
type GCRun struct {
	Workload string    `json:"workload"` // binarytrees, mapchurn
	Setting  GCSetting `json:"setting"`
	Procs    int       `json:"procs"`
	// Ops is the work done: nodes allocated (binarytrees), map updates
	// (mapchurn).
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// GCCPUFraction is the GC's share of the process's CPU time
	// (/cpu/classes/gc/total over /cpu/classes/total); AssistSeconds the
	// CPU time goroutines spent assisting marking. The window opens and
	// closes with a finished collection (runtime.GC), so every cycle is
	// counted once; Cycles includes the closing one.
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	AssistSeconds float64 `json:"assist_seconds"`
	Cycles        int64   `json:"gc_cycles"`
	// Pause percentiles and maximum of the stop-the-world pauses
	// (/sched/pauses/total/gc), bucket upper bounds, nanoseconds.
	PauseP50Ns float64 `json:"pause_p50_ns"`
	PauseP99Ns float64 `json:"pause_p99_ns"`
	PauseMaxNs float64 `json:"pause_max_ns"`
	// Pauses is the pause histogram: non-empty buckets only.
	Pauses        []Bucket `json:"pauses,omitempty"`
	PeakHeapBytes int64    `json:"peak_heap_bytes"` // live+dead heap objects, sampled every 10ms
	// PeakGoalBytes is the highest heap goal the collector set in the
	// window (sampled with the peak): what GOGC and GOMEMLIMIT asked for.
	// The heap can pass it while a collection marks, since what is
	// allocated then counts as live until the next one (and the next goal
	// follows); at the map churn's allocation rate (GB/s) peaks of up to
	// 1.7 times the budget were seen.
	PeakGoalBytes int64   `json:"peak_heap_goal_bytes"`
	HeapGoalBytes int64   `json:"heap_goal_bytes"` // at the end
	AllocMBps     float64 `json:"alloc_mbps"`      // allocation rate, 10^6 bytes/s
}

// Bucket is one histogram bucket: Count values in [LoNs, HiNs).
type Bucket struct {
	LoNs  float64 `json:"lo_ns"`
	HiNs  float64 `json:"hi_ns"`
	Count uint64  `json:"count"`
}

// gcWorkloads are the child's workloads.
var gcWorkloads = []string{"binarytrees", "mapchurn"}

// gcSize sizes the gc workloads to the memory a child may use: a quarter
// of avail (MemAvailable; 0 when unknown is the full size). The map churn's
// heap peaks at about 8 KiB per live entry under GOGC=400 (measured: 264
// MiB with 32 Ki entries on a 2-core amd64 machine), 4 KiB under GOGC=100;
// binary trees stay under 35 MiB but under the memory limit. Full size is
// 32 Ki entries (16 Ki quick) and a 96 MiB GOMEMLIMIT; on a 512 MB board
// (about 400 MB available) that is about 11 Ki entries and a limit of 75
// MiB, so that a child peaks under 100 MiB.
func gcSize(quick bool, avail int64) (budget int64, keys int, limit int64) {
	const perKey, fullLimit = 9 << 10, 96 << 20
	keys = 32 << 10
	if quick {
		keys = 16 << 10
	}
	budget = max(int64(keys)*perKey, fullLimit)
	if avail > 0 {
		budget = min(budget, avail/4)
	}
	keys = max(min(keys, int(budget/perKey)), 1<<10)
	// The limit is soft: a heap allocating faster than a starved collector
	// frees goes past it, so it leaves a quarter of the budget spare.
	limit = min(max(budget*3/4, 16<<20), fullLimit) &^ (1<<20 - 1) // whole MiB, as the report prints it
	return budget, keys, limit
}

func gcSettings(quick bool, limitBytes int64) []GCSetting {
	limit := GCSetting{GOGC: "off", GOMEMLIMIT: limitBytes}
	if quick {
		return []GCSetting{{GOGC: "100"}, limit}
	}
	return []GCSetting{{GOGC: "100"}, {GOGC: "400"}, limit}
}

// gcChildEnv carries the child's orders.
const gcChildEnv = "PITSTOP_BENCH_GC"

type gcOrder struct {
	Workload string  `json:"workload"`
	Seconds  float64 `json:"seconds"`
	Keys     int     `json:"keys"` // mapchurn's live entries, all workers together
}

// RunGC runs every configuration in a child process and collects the runs.
func RunGC(ctx context.Context, cfg Config) (*GCResult, error) {
	child := cfg.Child
	if len(child) == 0 {
		var err error
		if child, err = selfChild(); err != nil {
			return nil, err
		}
	}
	var avail int64
	if mi, err := cfg.root().MemInfo(); err == nil {
		avail = int64(mi["MemAvailable"])
	}
	budget, keys, limit := gcSize(cfg.Quick, avail)
	res := &GCResult{Seconds: 0.5, HeapBudgetBytes: budget, MapChurnKeys: keys}
	runs := 2
	if cfg.Quick {
		res.Seconds, runs = 0.2, 1
	}
	cfg.logf("gc: heap budget %s per child (a quarter of %s available), map churn of %d entries", units.HumanSize(budget), units.HumanSize(avail), keys)
	for _, w := range gcWorkloads {
		for _, s := range gcSettings(cfg.Quick, limit) {
			for _, p := range cfg.procs() {
				cfg.logf("gc: %s %s GOMAXPROCS=%d, %d run(s) of %.1fs", w, s, p, runs, res.Seconds)
				for range runs {
					r, err := gcChild(ctx, child, gcOrder{Workload: w, Seconds: res.Seconds, Keys: keys}, s, p)
					if err != nil {
						return nil, err
					}
					res.Runs = append(res.Runs, r)
				}
			}
		}
	}
	return res, nil
}

func gcChild(ctx context.Context, argv []string, o gcOrder, s GCSetting, procs int) (GCRun, error) {
	order, _ := json.Marshal(o)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG", gcChildEnv:
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, gcChildEnv+"="+string(order), "GOGC="+s.GOGC, "GOMAXPROCS="+strconv.Itoa(procs))
	if s.GOMEMLIMIT > 0 {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+strconv.FormatInt(s.GOMEMLIMIT, 10))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return GCRun{}, ctx.Err()
		}
		return GCRun{}, fmt.Errorf("gc child %s %s: %v: %s", o.Workload, s, err, strings.TrimSpace(stderr.String()))
	}
	var r GCRun
	if err := json.Unmarshal(out, &r); err != nil {
		return GCRun{}, fmt.Errorf("gc child %s %s printed no result: %v: %q", o.Workload, s, err, out)
	}
	r.Setting = s
	return r, nil
}

// IsGCChild reports whether this process was started by RunGC to run one
// configuration.
func IsGCChild() bool { return os.Getenv(gcChildEnv) != "" }

// RunGCChild runs the configuration RunGC handed this process in its
// environment, in one goroutine per GOMAXPROCS, and writes the result, as
// JSON, to w. It measures for the order's duration, longer (up to five
// times) until the GC has run twice.
func RunGCChild(ctx context.Context, w io.Writer) error {
	var o gcOrder
	if err := json.Unmarshal([]byte(os.Getenv(gcChildEnv)), &o); err != nil {
		return fmt.Errorf("%s: %v", gcChildEnv, err)
	}
	// prepare builds a worker's long-lived state (not measured) and
	// returns its measured loop.
	var prepare func() func(stop *atomic.Bool) int64
	workers := runtime.GOMAXPROCS(0)
	switch o.Workload {
	case "binarytrees":
		prepare = func() func(*atomic.Bool) int64 {
			long := tree(16)
			return func(stop *atomic.Bool) int64 { return binaryTrees(stop, long) }
		}
	case "mapchurn":
		if o.Keys < 1 {
			return fmt.Errorf("%s: mapchurn needs keys, got %d", gcChildEnv, o.Keys)
		}
		prepare = func() func(*atomic.Bool) int64 {
			m := churnMap(max(o.Keys/workers, 1))
			return func(stop *atomic.Bool) int64 { return mapChurn(stop, m) }
		}
	default:
		return fmt.Errorf("%s: no workload %q", gcChildEnv, o.Workload)
	}
	loops := make([]func(*atomic.Bool) int64, workers)
	for i := range loops {
		loops[i] = prepare()
	}
	names := []string{
		"/cpu/classes/gc/total:cpu-seconds",
		"/cpu/classes/total:cpu-seconds",
		"/cpu/classes/gc/mark/assist:cpu-seconds",
		"/gc/cycles/total:gc-cycles",
		"/gc/heap/allocs:bytes",
		"/sched/pauses/total/gc:seconds",
		"/gc/heap/goal:bytes",
	}
	// The window opens and closes on a finished collection, so that every
	// cycle in it is counted once: the runtime adds a cycle's CPU time when
	// the cycle ends, and one running across an edge would land wholly on
	// one side of it.
	runtime.GC()
	before := readMetrics(names)
	var stop atomic.Bool
	done := make(chan int64)
	t0 := time.Now()
	for _, loop := range loops {
		go func() { done <- loop(&stop) }()
	}
	var peak, peakGoal uint64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/goal:bytes"}}
	tick := time.NewTicker(10 * time.Millisecond)
	d := time.Duration(o.Seconds * float64(time.Second))
loop:
	for {
		select {
		case now := <-tick.C:
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			peakGoal = max(peakGoal, sample[2].Value.Uint64())
			// Run for the duration, and on until the GC has run twice
			// (a slow machine), but no longer than five times it.
			el := now.Sub(t0)
			if el >= d && (sample[1].Value.Uint64()-before[3].Value.Uint64() >= 2 || el >= 5*d) {
				break loop
			}
		case <-ctx.Done():
			stop.Store(true)
			for range workers {
				<-done
			}
			return ctx.Err()
		}
	}
	tick.Stop()
	stop.Store(true)
	var ops int64
	for range workers {
		ops += <-done
	}
	secs := time.Since(t0).Seconds()
	runtime.GC() // finishes the cycle under way, and collects what the window left
	after := readMetrics(names)
	f := func(i int) float64 { return after[i].Value.Float64() - before[i].Value.Float64() }
	u := func(i int) int64 { return int64(after[i].Value.Uint64() - before[i].Value.Uint64()) }
	r := GCRun{
		Workload:      o.Workload,
		Procs:         runtime.GOMAXPROCS(0),
		Ops:           ops,
		OpsPerSec:     float64(ops) / secs,
		AssistSeconds: f(2),
		Cycles:        u(3),
		AllocMBps:     float64(u(4)) / secs / 1e6,
		PeakHeapBytes: int64(peak),
		PeakGoalBytes: int64(peakGoal),
		HeapGoalBytes: int64(after[6].Value.Uint64()),
	}
	if tot := f(1); tot > 0 {
		r.GCCPUFraction = f(0) / tot
	}
	r.Pauses = histDelta(before[5].Value.Float64Histogram(), after[5].Value.Float64Histogram())
	r.PauseP50Ns, r.PauseP99Ns, r.PauseMaxNs = quantile(r.Pauses, 0.5), quantile(r.Pauses, 0.99), quantile(r.Pauses, 1)
	return json.NewEncoder(w).Encode(r)
}

func readMetrics(names []string) []metrics.Sample {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	for _, m := range s {
		if m.Value.Kind() == metrics.KindBad {
			panic("runtime/metrics has no " + m.Name)
		}
	}
	return s
}

// histDelta returns the buckets of b (a later reading of a's histogram)
// that gained counts since a, in nanoseconds. Infinite bounds become the
// finite bound beside them.
func histDelta(a, b *metrics.Float64Histogram) []Bucket {
	var out []Bucket
	for i, c := range b.Counts {
		d := c
		if a != nil && i < len(a.Counts) {
			d -= a.Counts[i]
		}
		if d == 0 {
			continue
		}
		lo, hi := b.Buckets[i], b.Buckets[i+1]
		if math.IsInf(lo, -1) {
			lo = hi
		}
		if math.IsInf(hi, 1) {
			hi = lo
		}
		out = append(out, Bucket{LoNs: lo * 1e9, HiNs: hi * 1e9, Count: d})
	}
	return out
}

// quantile returns the upper bound of the bucket holding quantile q of the
// counts (q=1: the maximum), 0 for an empty histogram.
func quantile(bs []Bucket, q float64) float64 {
	var n uint64
	for _, b := range bs {
		n += b.Count
	}
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var c uint64
	for _, b := range bs {
		c += b.Count
		if c >= rank {
			return b.HiNs
		}
	}
	return bs[len(bs)-1].HiNs
}

// node is a binary-trees node.
type node struct{ l, r *node }

func tree(d int) *node {
	if d == 0 {
		return &node{}
	}
	return &node{tree(d - 1), tree(d - 1)}
}

func (n *node) check() int64 {
	if n.l == nil {
		return 1
	}
	return 1 + n.l.check() + n.r.check()
}

// binaryTrees is the benchmarks-game workload: beside a long-lived tree,
// many short-lived ones of growing depth. It returns the nodes allocated.
func binaryTrees(stop *atomic.Bool, long *node) int64 {
	var nodes int64
	for !stop.Load() {
		for d := 4; d <= 14 && !stop.Load(); d += 2 {
			nodes += tree(d).check()
		}
	}
	if long.check() == 0 {
		panic("unreachable")
	}
	return nodes
}

// churnMap is mapChurn's long-lived state: keys values of 64 B to 2 KiB.
func churnMap(keys int) map[int][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	m := make(map[int][]byte, keys)
	for i := range keys {
		m[i] = make([]byte, 64+rng.IntN(2048-64))
	}
	return m
}

// mapChurn is a server-like workload: the map's values are replaced at
// random, with a lookup beside each update. It returns the updates made.
func mapChurn(stop *atomic.Bool, m map[int][]byte) int64 {
	rng := rand.New(rand.NewPCG(uint64(len(m)), 4))
	keys := len(m)
	var ops, sink int64
	for !stop.Load() {
		for range 256 {
			k := rng.IntN(keys)
			v := make([]byte, 64+rng.IntN(2048-64))
			v[0] = byte(k)
			m[k] = v
			sink += int64(len(m[rng.IntN(keys)]))
			ops++
		}
	}
	if sink < 0 {
		panic("unreachable")
	}
	return ops
}
