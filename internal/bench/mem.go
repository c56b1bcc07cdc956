package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// MemResult is the mem benchmark: STREAM's four kernels at each GOMAXPROCS
// and a pointer-chase latency.
type MemResult struct {
	// ArrayBytes is the size of each of the three arrays; LLCBytes the
	// last-level cache it is measured against (0 when unknown).
	ArrayBytes int64 `json:"array_bytes"`
	LLCBytes   int64 `json:"llc_bytes,omitempty"`
	Runs       int   `json:"runs"`
	// Kernels holds one entry per kernel and GOMAXPROCS.
	Kernels []MemKernel `json:"kernels"`
	// LatencyNs is the best of the pointer chase's runs: nanoseconds per
	// dependent load over a random cycle through ChaseBytes.
	LatencyNs     float64   `json:"latency_ns"`
	LatencyRunsNs []float64 `json:"latency_runs_ns"`
	ChaseBytes    int64     `json:"chase_bytes"`
	// NTStores names the non-temporal store instructions the copy-nt
	// kernel uses; empty where the architecture has none in pitstop
	// (copy-nt is then Go's copy again).
	NTStores string `json:"nt_stores,omitempty"`
}

// MemKernel is one STREAM kernel at one GOMAXPROCS. Bandwidth counts the
// bytes the kernel reads and writes, as STREAM does (copy and scale 16
// bytes per element, add and triad 24).
type MemKernel struct {
	Kernel string `json:"kernel"` // copy, copy-nt, scale, add, triad
	Procs  int    `json:"procs"`
	// BestMBps is the best run (STREAM's figure); RunsMBps every run, in
	// order. MB is 10^6 bytes.
	BestMBps float64   `json:"best_mbps"`
	RunsMBps []float64 `json:"runs_mbps"`
}

// memKernels are STREAM's kernels: name, bytes moved per element, and the
// work on one chunk of the arrays.
var memKernels = []struct {
	name  string
	bytes int64
	run   func(a, b, c []float64)
}{
	// copy is Go's copy, which is memmove, as STREAM's C compilers turn
	// the loop into memcpy.
	{"copy", 16, func(a, _, c []float64) { copy(c, a) }},
	// copy-nt is the same copy with non-temporal stores (ntCopy), as
	// glibc's memcpy does above its threshold and as STREAM builds
	// compiled for bandwidth do: what the memory can do, where copy is
	// what Go's copy gets.
	{"copy-nt", 16, func(a, _, c []float64) { ntCopy(float64Bytes(c), float64Bytes(a)) }},
	{"scale", 16, func(_, b, c []float64) {
		const q = 3.0
		b = b[:len(c)]
		for i, v := range c {
			b[i] = q * v
		}
	}},
	{"add", 24, func(a, b, c []float64) {
		a, b = a[:len(c)], b[:len(c)]
		for i := range c {
			c[i] = a[i] + b[i]
		}
	}},
	{"triad", 24, func(a, b, c []float64) {
		const q = 3.0
		b, c = b[:len(a)], c[:len(a)]
		for i := range a {
			a[i] = b[i] + q*c[i]
		}
	}},
}

// float64Bytes is the memory of s as bytes.
func float64Bytes(s []float64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 8*len(s))
}

// memSizes picks the array size: four times the last-level cache, as
// STREAM asks, at least 32 MiB (8 MiB quick) and at most 128 MiB (16 MiB
// quick), and at most a tenth of the available memory each, so that a
// 512 MB board is not pushed into swap.
func memSizes(quick bool, llc, avail int64) int64 {
	lo, hi := int64(32<<20), int64(128<<20)
	if quick {
		lo, hi = 8<<20, 16<<20
	}
	if avail > 0 {
		hi = max(min(hi, avail/10), 4<<20)
		lo = min(lo, hi)
	}
	return min(max(4*llc, lo), hi) &^ 4095
}

// RunMem measures bandwidth and latency.
func RunMem(ctx context.Context, cfg Config) (*MemResult, error) {
	llc, _ := cfg.root().LastLevelCache()
	var avail int64
	if mi, err := cfg.root().MemInfo(); err == nil {
		avail = int64(mi["MemAvailable"])
	}
	res := &MemResult{ArrayBytes: memSizes(cfg.Quick, llc, avail), LLCBytes: llc, Runs: 10, NTStores: ntStores}
	if cfg.Quick {
		res.Runs = 3
	}
	n := int(res.ArrayBytes / 8)
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	// Varied values, so that no layer below (page merging, compressed
	// memory) can store the arrays in less than their size.
	for i := range a {
		a[i], b[i], c[i] = float64(i), float64(i%1000), 0
	}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, p := range cfg.procs() {
		runtime.GOMAXPROCS(p)
		cfg.logf("mem: STREAM kernels over 3 x %d MiB arrays, GOMAXPROCS=%d, best of %d", res.ArrayBytes>>20, p, res.Runs)
		for _, k := range memKernels {
			mk := MemKernel{Kernel: k.name, Procs: p}
			for range res.Runs {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				d := parallel(p, a, b, c, k.run)
				mbps := float64(k.bytes) * float64(n) / d.Seconds() / 1e6
				mk.RunsMBps = append(mk.RunsMBps, mbps)
				mk.BestMBps = max(mk.BestMBps, mbps)
			}
			res.Kernels = append(res.Kernels, mk)
		}
	}
	runtime.GOMAXPROCS(old)
	a, b, c = nil, nil, nil
	runtime.GC() // give the arrays back before the chase allocates its ring
	res.ChaseBytes = res.ArrayBytes
	loads := 2_000_000
	if cfg.Quick {
		loads = 200_000
	}
	cfg.logf("mem: pointer chase over %d MiB, %d loads, best of 3", res.ChaseBytes>>20, loads)
	ring := chaseRing(res.ChaseBytes)
	for range 3 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ns := chase(ring, loads)
		res.LatencyRunsNs = append(res.LatencyRunsNs, ns)
		if res.LatencyNs == 0 || ns < res.LatencyNs {
			res.LatencyNs = ns
		}
	}
	return res, nil
}

// parallel runs kernel over p equal chunks of the arrays in p goroutines
// and returns the wall time.
func parallel(p int, a, b, c []float64, kernel func(a, b, c []float64)) time.Duration {
	n := len(a)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range p {
		lo, hi := n*i/p, n*(i+1)/p
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			kernel(a[lo:hi], b[lo:hi], c[lo:hi])
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	return time.Since(t0)
}

// chaseStride is a cache line (64 bytes on every board pitstop knows) in
// ints, 8 or 4 of them: each step of the chase lands on a line of its own.
const chaseStride = 64 / int(unsafe.Sizeof(int(0)))

// chaseRing builds one random cycle through the cache lines of a buffer of
// size bytes: the lines in shuffled order, each linked to the next and the
// last to the first; ring[line*stride] holds the next line's first word.
func chaseRing(size int64) []int {
	lines := int(size / 64)
	perm := make([]int, lines)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(lines, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	ring := make([]int, lines*chaseStride)
	for i := range lines {
		ring[perm[i]*chaseStride] = perm[(i+1)%lines] * chaseStride
	}
	return ring
}

// chase follows the ring for loads steps and returns nanoseconds per load.
func chase(ring []int, loads int) float64 {
	i := 0
	t0 := time.Now()
	for range loads {
		i = ring[i]
	}
	d := time.Since(t0)
	runtime.KeepAlive(i) // the loads happen
	return float64(d.Nanoseconds()) / float64(loads)
}
