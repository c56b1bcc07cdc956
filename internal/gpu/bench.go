package gpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
)

// The kernels the benchmark runs.
const (
	KernelSAXPY = "saxpy" // y = a*x + y over n floats
	KernelSGEMM = "sgemm" // C = A*B, n×n floats
)

// Accelerator runs the benchmark's kernels on a device (the companion's
// Vulkan implementation).
type Accelerator interface {
	// Prepare allocates what kernel needs at size (buffers, pipeline),
	// outside the timings.
	Prepare(kernel string, size int) (Prepared, error)
}

// Prepared is one kernel at one size, ready to run: the three phases are
// timed apart.
type Prepared interface {
	// Upload copies the inputs (saxpy: x, y; sgemm: A, B) to memory the
	// device reads.
	Upload(inputs [][]float32) error
	// Dispatch runs the kernel and waits for it.
	Dispatch() error
	// Readback copies the result (saxpy: y; sgemm: C) into out.
	Readback(out []float32) error
	Close()
}

// BenchConfig is what RunBench measures. Zero fields take the defaults
// of DefaultBenchConfig.
type BenchConfig struct {
	SAXPYSizes []int   // element counts
	SGEMMSizes []int   // matrix orders (n×n)
	Reps       int     // timed repetitions per size; the median is reported
	Tolerance  float64 // the largest relative error accepted
	Seed       uint64
}

// DefaultBenchConfig is `pitstop gpu bench` without flags.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{
		SAXPYSizes: []int{1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22},
		SGEMMSizes: []int{16, 32, 64, 128, 256, 512},
		Reps:       5,
		Tolerance:  1e-4,
		Seed:       1,
	}
}

// QuickBenchConfig is `pitstop gpu bench --quick`: small sizes, seconds.
func QuickBenchConfig() BenchConfig {
	return BenchConfig{
		SAXPYSizes: []int{1 << 8, 1 << 12, 1 << 16},
		SGEMMSizes: []int{8, 32, 64},
		Reps:       3,
		Tolerance:  1e-4,
		Seed:       1,
	}
}

// Check reports a configuration that cannot run, naming the setting.
func (c BenchConfig) Check() error {
	for _, s := range c.SAXPYSizes {
		if s < 1 || s > 1<<28 {
			return fmt.Errorf("saxpy size %d: want 1 to %d elements", s, 1<<28)
		}
	}
	for _, s := range c.SGEMMSizes {
		if s < 1 || s > 4096 {
			return fmt.Errorf("sgemm size %d: want an order from 1 to 4096", s)
		}
	}
	if c.Reps < 1 || c.Reps > 1000 {
		return fmt.Errorf("repetitions %d: want 1 to 1000", c.Reps)
	}
	if !(c.Tolerance > 0) || c.Tolerance >= 1 {
		return fmt.Errorf("tolerance %g: want a relative error between 0 and 1", c.Tolerance)
	}
	return nil
}

// Bench is `pitstop gpu bench`'s answer.
type Bench struct {
	Device     string   `json:"device"`
	Driver     string   `json:"driver"`
	MemoryUsed []string `json:"memory_flags"` // flags of the memory the buffers live in
	Threads    int      `json:"cpu_threads"`  // GOMAXPROCS of the CPU side
	Reps       int      `json:"reps"`
	Tolerance  float64  `json:"tolerance"`
	Kernels    []Kernel `json:"kernels"`
	// OK is false when some result differed from the CPU's by more than
	// the tolerance.
	OK bool `json:"ok"`
}

// Kernel is one kernel over every size.
type Kernel struct {
	Name string `json:"name"`
	Runs []Run  `json:"runs"`
	// Crossover is the smallest size from which the GPU, end to end
	// (upload + dispatch + read-back), beat the CPU at every larger size
	// measured; 0 when it never did.
	Crossover int `json:"crossover"`
}

// Run is one kernel at one size: medians of the repetitions.
type Run struct {
	Size       int     `json:"size"`
	Flops      float64 `json:"flops"`
	CPUNs      int64   `json:"cpu_ns"`
	UploadNs   int64   `json:"upload_ns"`
	DispatchNs int64   `json:"dispatch_ns"`
	ReadbackNs int64   `json:"readback_ns"`
	GPUNs      int64   `json:"gpu_ns"` // median of upload+dispatch+read-back
	UpBytes    int64   `json:"upload_bytes"`
	DownBytes  int64   `json:"readback_bytes"`
	// KernelBytes is what the kernel itself reads and writes once (saxpy:
	// 12 bytes an element), for its GB/s.
	KernelBytes int64   `json:"kernel_bytes"`
	RelErr      float64 `json:"rel_err"` // max |gpu-cpu| / max |cpu|
	OK          bool    `json:"ok"`
}

func gflops(flops float64, ns int64) float64 {
	if ns <= 0 {
		return 0
	}
	return flops / float64(ns)
}

func gbps(bytes, ns int64) float64 {
	if ns <= 0 {
		return 0
	}
	return float64(bytes) / float64(ns)
}

// CPUGFLOPS and the other rates are derived from the medians.
func (r Run) CPUGFLOPS() float64      { return gflops(r.Flops, r.CPUNs) }
func (r Run) DispatchGFLOPS() float64 { return gflops(r.Flops, r.DispatchNs) }
func (r Run) GPUGFLOPS() float64      { return gflops(r.Flops, r.GPUNs) }
func (r Run) UploadGBps() float64     { return gbps(r.UpBytes, r.UploadNs) }
func (r Run) ReadbackGBps() float64   { return gbps(r.DownBytes, r.ReadbackNs) }
func (r Run) KernelGBps() float64     { return gbps(r.KernelBytes, r.DispatchNs) }

// RelErr is the normwise relative error of got against want:
// max |got-want| / max |want| (max |got-want| when want is all zeros).
// A NaN or a length mismatch is +Inf.
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, norm float64
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = max(diff, d)
		norm = max(norm, math.Abs(float64(want[i])))
	}
	if norm == 0 {
		return diff
	}
	return diff / norm
}

// Crossover returns the smallest size from which gpu beat cpu at every
// larger size (runs in increasing size), or 0.
func Crossover(runs []Run) int {
	c := 0
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].GPUNs >= runs[i].CPUNs {
			break
		}
		c = runs[i].Size
	}
	return c
}

func median(d []time.Duration) int64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return int64(s[len(s)/2])
}

func randomFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = r.Float32()*2 - 1
	}
	return out
}

// SAXPYAlpha is the a of the benchmark's SAXPY.
const SAXPYAlpha = 1.5

// RunBench measures every kernel at every size on acc and on the CPU, on
// the same random inputs, and checks the device's results against the
// CPU's. A device result off by more than the tolerance makes the run not
// OK (the error is still reported); an error from acc stops the run.
func RunBench(acc Accelerator, cfg BenchConfig) (*Bench, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	b := &Bench{Threads: runtime.GOMAXPROCS(0), Reps: cfg.Reps, Tolerance: cfg.Tolerance, OK: true}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	for _, kernel := range []string{KernelSAXPY, KernelSGEMM} {
		sizes := cfg.SAXPYSizes
		if kernel == KernelSGEMM {
			sizes = cfg.SGEMMSizes
		}
		sizes = slices.Sorted(slices.Values(sizes))
		sizes = slices.Compact(sizes)
		k := Kernel{Name: kernel}
		for _, size := range sizes {
			r, err := runOne(acc, kernel, size, cfg, rng)
			if err != nil {
				return nil, fmt.Errorf("%s at size %d: %w", kernel, size, err)
			}
			b.OK = b.OK && r.OK
			k.Runs = append(k.Runs, r)
		}
		k.Crossover = Crossover(k.Runs)
		b.Kernels = append(b.Kernels, k)
	}
	return b, nil
}

func runOne(acc Accelerator, kernel string, size int, cfg BenchConfig, rng *rand.Rand) (Run, error) {
	var inputs [][]float32
	var outLen int
	var cpu func(out []float32)
	r := Run{Size: size}
	switch kernel {
	case KernelSAXPY:
		x, y := randomFloats(rng, size), randomFloats(rng, size)
		inputs, outLen = [][]float32{x, y}, size
		cpu = func(out []float32) { copy(out, y); SAXPY(SAXPYAlpha, x, out) }
		r.Flops, r.UpBytes, r.DownBytes, r.KernelBytes = 2*float64(size), int64(8*size), int64(4*size), int64(12*size)
	case KernelSGEMM:
		a, bm := randomFloats(rng, size*size), randomFloats(rng, size*size)
		inputs, outLen = [][]float32{a, bm}, size*size
		cpu = func(out []float32) { SGEMM(size, size, size, a, bm, out) }
		n := int64(size) * int64(size) * 4
		r.Flops, r.UpBytes, r.DownBytes, r.KernelBytes = 2*float64(size)*float64(size)*float64(size), 2*n, n, 3*n
	default:
		return r, errors.New("unknown kernel " + kernel)
	}
	want, got := make([]float32, outLen), make([]float32, outLen)
	p, err := acc.Prepare(kernel, size)
	if err != nil {
		return r, err
	}
	defer p.Close()
	var cpuT, up, disp, down, total []time.Duration
	// One untimed warm-up of each side (pipeline caches, page faults).
	for rep := -1; rep < cfg.Reps; rep++ {
		clear(got)
		t0 := time.Now()
		cpu(want)
		t1 := time.Now()
		if err := p.Upload(inputs); err != nil {
			return r, fmt.Errorf("upload: %w", err)
		}
		t2 := time.Now()
		if err := p.Dispatch(); err != nil {
			return r, fmt.Errorf("dispatch: %w", err)
		}
		t3 := time.Now()
		if err := p.Readback(got); err != nil {
			return r, fmt.Errorf("read-back: %w", err)
		}
		t4 := time.Now()
		r.RelErr = max(r.RelErr, RelErr(got, want))
		if rep < 0 {
			continue
		}
		cpuT, up, disp, down = append(cpuT, t1.Sub(t0)), append(up, t2.Sub(t1)), append(disp, t3.Sub(t2)), append(down, t4.Sub(t3))
		total = append(total, t2.Sub(t1)+t3.Sub(t2)+t4.Sub(t3))
	}
	r.CPUNs, r.UploadNs, r.DispatchNs, r.ReadbackNs, r.GPUNs = median(cpuT), median(up), median(disp), median(down), median(total)
	r.OK = r.RelErr <= cfg.Tolerance
	return r, nil
}
