package gpu

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testexe"
)

func naiveSGEMM(m, n, k int, a, b []float32) []float32 {
	c := make([]float32, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				s += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			c[i*n+j] = float32(s)
		}
	}
	return c
}

// TestCPUKernels checks the parallel Go kernels against plain loops, at
// sizes that split among goroutines unevenly and that do not split.
func TestCPUKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, minChunk - 1, 3*minChunk + 5} {
		x, y := randomFloats(r, n), randomFloats(r, n)
		want := make([]float32, n)
		for i := range want {
			want[i] = 2.5*x[i] + y[i]
		}
		SAXPY(2.5, x, y)
		if e := RelErr(y, want); e != 0 {
			t.Errorf("SAXPY n=%d: relative error %g", n, e)
		}
	}
	for _, d := range [][3]int{{1, 1, 1}, {3, 5, 7}, {64, 33, 17}, {130, 130, 130}} {
		m, n, k := d[0], d[1], d[2]
		a, b := randomFloats(r, m*k), randomFloats(r, k*n)
		c := make([]float32, m*n)
		for i := range c {
			c[i] = 99 // SGEMM overwrites, not accumulates
		}
		SGEMM(m, n, k, a, b, c)
		if e := RelErr(c, naiveSGEMM(m, n, k, a, b)); e > 1e-5 {
			t.Errorf("SGEMM %v: relative error %g", d, e)
		}
	}
}

func TestRelErr(t *testing.T) {
	for _, tt := range []struct {
		got, want []float32
		err       float64
	}{
		{[]float32{1, 2}, []float32{1, 2}, 0},
		{[]float32{1, 2.2}, []float32{1, 2}, 0.1},
		{[]float32{0.5}, []float32{0}, 0.5},
		{[]float32{float32(math.NaN())}, []float32{1}, math.Inf(1)},
		{[]float32{1}, []float32{1, 2}, math.Inf(1)},
	} {
		if e := RelErr(tt.got, tt.want); math.Abs(e-tt.err) > 1e-6 && !(math.IsInf(e, 1) && math.IsInf(tt.err, 1)) {
			t.Errorf("RelErr(%v, %v) = %g, want %g", tt.got, tt.want, e, tt.err)
		}
	}
}

func TestCrossover(t *testing.T) {
	run := func(size int, cpu, gpu int64) Run { return Run{Size: size, CPUNs: cpu, GPUNs: gpu} }
	for _, tt := range []struct {
		runs []Run
		want int
	}{
		{[]Run{run(1, 1, 10), run(2, 5, 10), run(4, 20, 10), run(8, 80, 12)}, 4},
		{[]Run{run(1, 1, 10), run(2, 50, 10), run(4, 20, 30)}, 0}, // won in the middle, lost at the top
		{[]Run{run(1, 10, 1), run(2, 10, 2)}, 1},
		{[]Run{run(1, 1, 1)}, 0}, // a tie is not a win
		{nil, 0},
	} {
		if got := Crossover(tt.runs); got != tt.want {
			t.Errorf("Crossover(%+v) = %d, want %d", tt.runs, got, tt.want)
		}
	}
}

// cpuAcc is an Accelerator that computes on the CPU, optionally wrong by
// a factor: RunBench's check must catch a device that is off.
type cpuAcc struct {
	off     float32
	prepErr error
}

type cpuPrep struct {
	acc    *cpuAcc
	kernel string
	size   int
	in     [][]float32
	out    []float32
}

func (a *cpuAcc) Prepare(kernel string, size int) (Prepared, error) {
	if a.prepErr != nil {
		return nil, a.prepErr
	}
	return &cpuPrep{acc: a, kernel: kernel, size: size}, nil
}

func (p *cpuPrep) Upload(in [][]float32) error {
	p.in = nil
	for _, s := range in {
		p.in = append(p.in, append([]float32(nil), s...))
	}
	return nil
}

func (p *cpuPrep) Dispatch() error {
	if p.kernel == KernelSAXPY {
		SAXPY(SAXPYAlpha, p.in[0], p.in[1])
		p.out = p.in[1]
	} else {
		p.out = make([]float32, p.size*p.size)
		SGEMM(p.size, p.size, p.size, p.in[0], p.in[1], p.out)
	}
	for i := range p.out {
		p.out[i] *= 1 + p.acc.off
	}
	return nil
}

func (p *cpuPrep) Readback(out []float32) error { copy(out, p.out); return nil }
func (p *cpuPrep) Close()                       {}

func TestRunBench(t *testing.T) {
	cfg := QuickBenchConfig()
	cfg.SAXPYSizes = []int{300, 10, 300} // unsorted, repeated
	b, err := RunBench(&cpuAcc{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !b.OK || len(b.Kernels) != 2 || len(b.Kernels[0].Runs) != 2 || b.Kernels[0].Runs[0].Size != 10 {
		t.Fatalf("bench %+v", b)
	}
	r := b.Kernels[1].Runs[2]
	if r.Size != 64 || r.Flops != 2*64*64*64 || r.UpBytes != 2*64*64*4 || r.DownBytes != 64*64*4 || r.RelErr != 0 {
		t.Errorf("sgemm 64: %+v", r)
	}

	b, err = RunBench(&cpuAcc{off: 1e-3}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.OK || b.Kernels[0].Runs[0].OK || math.Abs(b.Kernels[0].Runs[0].RelErr-1e-3) > 1e-4 {
		t.Errorf("a device off by 1e-3 passed a 1e-4 tolerance: %+v", b.Kernels[0].Runs[0])
	}
	var sb strings.Builder
	if err := WriteBench(&sb, b); err != nil || !strings.Contains(sb.String(), "FAIL: some results differ") || !strings.Contains(sb.String(), "OVER") {
		t.Errorf("WriteBench of a failed run:\n%s", sb.String())
	}

	boom := errors.New("boom")
	if _, err := RunBench(&cpuAcc{prepErr: boom}, cfg); !errors.Is(err, boom) || !strings.Contains(err.Error(), "saxpy at size 10") {
		t.Errorf("RunBench with a failing device: %v", err)
	}
	cfg.Reps = 0
	if _, err := RunBench(&cpuAcc{}, cfg); err == nil || !strings.Contains(err.Error(), "repetitions 0") {
		t.Errorf("reps 0: %v", err)
	}
}

func TestBenchConfigCheck(t *testing.T) {
	for _, c := range []struct {
		mod  func(*BenchConfig)
		want string
	}{
		{func(c *BenchConfig) { c.SAXPYSizes = []int{0} }, "saxpy size 0"},
		{func(c *BenchConfig) { c.SGEMMSizes = []int{5000} }, "sgemm size 5000"},
		{func(c *BenchConfig) { c.Tolerance = 0 }, "tolerance 0"},
		{func(c *BenchConfig) { c.Tolerance = math.NaN() }, "tolerance NaN"},
	} {
		cfg := DefaultBenchConfig()
		c.mod(&cfg)
		if err := cfg.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check = %v, want %q", err, c.want)
		}
	}
	if err := DefaultBenchConfig().Check(); err != nil {
		t.Error(err)
	}
}

func TestVersionAndFlags(t *testing.T) {
	if s := Version(1<<22 | 2<<12 | 255).String(); s != "1.2.255" {
		t.Errorf("Version = %s", s)
	}
	if f := strings.Join(QueueFlags(0x7|0x200), " "); f != "graphics compute transfer 0x200" {
		t.Errorf("QueueFlags = %s", f)
	}
	if f := MemoryFlags(0); len(f) != 0 {
		t.Errorf("MemoryFlags(0) = %v", f)
	}
}

// TestFindCompanion: next to the executable wins; else PATH; else an
// unavailable error naming the fix.
func TestFindCompanion(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, CompanionName)
	if err := testexe.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if p, err := FindCompanion(); err != nil || p != fake {
		t.Errorf("FindCompanion on PATH = %q, %v; want %s", p, err, fake)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := FindCompanion()
	var ge *Error
	if !errors.As(err, &ge) || ge.Kind != NoCompanion || !IsUnavailable(err) || !strings.Contains(err.Error(), "go install github.com/pitstop-go/pitstop/cmd/pitstop-gpu") {
		t.Errorf("FindCompanion without one = %v", err)
	}
}
