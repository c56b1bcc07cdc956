package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// TestQuickRun runs every benchmark's quick pass (natively and under
// qemu-aarch64 in test.sh's second pass) and checks that each measured
// what it says: positive rates, the GC children ran with the settings they
// were given, the io tree was written and removed, and the machine's state
// is recorded at start and end.
func TestQuickRun(t *testing.T) {
	r := quickReport(t)
	t.Logf("quick run took %v", quickTime)
	for _, e := range []Env{r.Start, r.End} {
		if e.GoVersion != runtime.Version() || e.GOARCH != runtime.GOARCH || e.CPUs != runtime.NumCPU() || e.Time.IsZero() {
			t.Errorf("env not recorded: %+v", e)
		}
	}
	if !r.End.Time.After(r.Start.Time) || r.Seconds <= 0 {
		t.Errorf("start %v, end %v, %vs", r.Start.Time, r.End.Time, r.Seconds)
	}
	procs := defaultProcs(runtime.NumCPU())

	m := r.Mem
	if m == nil || len(m.Kernels) != len(memKernels)*len(procs) || m.LatencyNs <= 0 || m.ArrayBytes < 8<<20 {
		t.Fatalf("mem: %+v", m)
	}
	for _, k := range m.Kernels {
		if len(k.RunsMBps) != m.Runs || k.BestMBps <= 0 {
			t.Errorf("mem %s/%d: best %v of %v", k.Kernel, k.Procs, k.BestMBps, k.RunsMBps)
		}
	}

	g := r.GC
	if g == nil || len(g.Configs()) != len(gcWorkloads)*len(gcSettings(true, 96<<20))*len(procs) {
		t.Fatalf("gc: %+v", g)
	}
	for _, c := range g.Configs() {
		for _, x := range c.Runs {
			// The child reports its own GOMAXPROCS: the setting reached it.
			if x.Procs != c.Procs || x.Ops <= 0 || x.OpsPerSec <= 0 || x.AllocMBps <= 0 || x.PeakHeapBytes <= 0 ||
				x.GCCPUFraction < 0 || x.GCCPUFraction > 1 || x.Cycles < 1 {
				t.Errorf("gc %s %s procs=%d: %+v", c.Workload, c.Setting, c.Procs, x)
			}
			if c.Setting.GOGC == "100" && (x.Cycles == 0 || len(x.Pauses) == 0 || x.PauseMaxNs < x.PauseP50Ns || x.GCCPUFraction <= 0) {
				t.Errorf("gc %s %s: GOGC=100 ran no measured collection: %+v", c.Workload, c.Setting, x)
			}
		}
	}
	// GOGC=off with a limit lets the heap grow towards the limit: more
	// heap, fewer cycles than GOGC=100, for the same workload.
	cfgs := g.Configs()
	for _, a := range cfgs {
		for _, b := range cfgs {
			if a.Workload == b.Workload && a.Procs == b.Procs && a.Setting.GOGC == "100" && b.Setting.GOGC == "off" {
				off, hundred, limit := b.Runs[0], a.Runs[0], b.Setting.GOMEMLIMIT
				switch {
				case hundred.PeakHeapBytes < limit*3/4:
					if off.PeakHeapBytes <= hundred.PeakHeapBytes {
						t.Errorf("%s: GOGC=off,GOMEMLIMIT peak heap %d <= GOGC=100's %d: the child did not get its GOGC", a.Workload, off.PeakHeapBytes, hundred.PeakHeapBytes)
					}
				default:
					// GOGC=100's heap already reaches the limit (a big
					// workload on a machine with memory to spare): then the
					// limit, not GOGC, bounds the other run, whose heap goal
					// must show it got the limit.
					if off.HeapGoalBytes <= 0 || off.HeapGoalBytes > limit || off.PeakHeapBytes > limit {
						t.Errorf("%s: GOGC=off,GOMEMLIMIT=%d: heap goal %d, peak %d: the child did not get its limit", a.Workload, limit, off.HeapGoalBytes, off.PeakHeapBytes)
					}
					t.Logf("%s: GOGC=100's peak heap %d is near the %d limit: checked the limit run's goal (%d) instead", a.Workload, hundred.PeakHeapBytes, limit, off.HeapGoalBytes)
				}
			}
		}
	}

	if len(r.IO) != 1 {
		t.Fatalf("io: %+v", r.IO)
	}
	o := r.IO[0]
	if o.Files != 400 || o.TreeBytes <= 0 || o.UnpackFilesPerSec <= 0 || len(o.WalkFilesPerSec) != 3 || len(o.RandReadIOPS) != 5 ||
		len(o.FsyncWriteIOPS) != 5 || o.FsyncP50Ns <= 0 || o.FsyncP99Ns < o.FsyncP50Ns || o.SeqWriteMBps <= 0 || o.Device == "" {
		t.Errorf("io: %+v", o)
	}
	left, _ := filepath.Glob(filepath.Join(quickDir, ".pitstop-bench-*"))
	if len(left) > 0 {
		t.Errorf("io left %v behind", left)
	}

	s := r.Sched
	if s == nil || len(s.Runs) != len(procs) {
		t.Fatalf("sched: %+v", s)
	}
	for _, run := range s.Runs {
		// 2s sampled every 250ms: at most 8 samples (fewer when the
		// sampler was late and the ticker dropped a tick), in time order,
		// the last at 1.875s or after.
		n := len(run.Samples)
		if n < 1 || n > 8 || run.Samples[n-1].T < 1.875 || run.Goroutines != 4*run.Procs {
			t.Errorf("sched procs=%d: %d samples, %d goroutines: %+v", run.Procs, n, run.Goroutines, run.Samples)
		}
		for i, x := range run.Samples {
			if x.OpsPerSec <= 0 || i > 0 && x.T <= run.Samples[i-1].T {
				t.Errorf("sched procs=%d: sample %d %+v", run.Procs, i, x)
			}
		}
	}

	// JSON round trip, and benchmark format readable as benchstat reads it.
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(&js)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Series()) != len(r.Series()) || len(r.Series()) < 20 {
		t.Errorf("series: %d after the JSON round trip, %d before", len(back.Series()), len(r.Series()))
	}
	var bf bytes.Buffer
	if err := r.WriteBench(&bf); err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^Benchmark[A-Za-z0-9_./=-]+ 1 [0-9.e+-]+ [^ ]+$`)
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(bf.String()), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			n++
			if !line.MatchString(l) {
				t.Errorf("not Go benchmark format: %q", l)
			}
		} else if !regexp.MustCompile(`^[a-z]+: `).MatchString(l) {
			t.Errorf("not a configuration line: %q", l)
		}
	}
	if n < 40 {
		t.Errorf("%d benchmark lines:\n%s", n, bf.String())
	}
	var txt bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mem:", "gc:", "io:", "sched:", "copy", "binarytrees", "mapchurn", "GOGC=off,GOMEMLIMIT=96MiB"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, txt.String())
		}
	}
	t.Logf("\n%s", txt.String())
}

// fakeRoot is a captured root whose thermal, frequency and throttle files
// a test can change.
type fakeRoot struct {
	t   *testing.T
	dir string
}

func newFakeRoot(t *testing.T) *fakeRoot {
	f := &fakeRoot{t, t.TempDir()}
	f.set("/proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\x00")
	f.set("/proc/sys/kernel/osrelease", "6.12.25+rpt-rpi-2712")
	f.set("/sys/class/thermal/thermal_zone0/type", "cpu-thermal")
	f.set("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "ondemand")
	f.set("/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq", "2400000")
	f.set("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "2400000")
	f.state(45000, 2400000, "0")
	return f
}

// set replaces a file by renaming a new one over it, so that a reader sees
// the old content or the new, as sysfs gives.
func (f *fakeRoot) set(p, content string) {
	full := filepath.Join(f.dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(full+".new", []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(full+".new", full); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeRoot) state(milliC, khz int, throttle string) {
	f.set("/sys/class/thermal/thermal_zone0/temp", strconv.Itoa(milliC))
	f.set("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", strconv.Itoa(khz))
	f.set("/sys/devices/platform/axi/1000120000.pcie/1f000d0000.firmware/get_throttled", throttle)
}

// TestSchedFollowsHostRoot: while sched runs, the test heats the captured
// SoC, lowers its clock and sets the throttle word; the samples show the
// change from the first one taken after it, and the report records the
// state at start and end. The change is made at a known point of the run
// (after sample 5, the sampler waiting for it), so that how the machine's
// load delays the test's goroutine decides nothing.
func TestSchedFollowsHostRoot(t *testing.T) {
	f := newFakeRoot(t)
	const at = 5
	changed := make(chan struct{})
	schedSampled = func(i int) {
		if i == at {
			f.state(82500, 1500000, "50005")
			close(changed)
		}
	}
	defer func() { schedSampled = nil }()
	cfg := Config{Root: host.At(f.dir), Procs: []int{1}, SchedDuration: 3 * time.Second, SchedInterval: 100 * time.Millisecond}
	r, err := Run(t.Context(), cfg, Sched)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("the run ended before its sample 5")
	}
	if r.Start.Board != "Raspberry Pi 5 Model B Rev 1.0" || r.Start.Governor != "ondemand" || r.Start.TempC == nil || *r.Start.TempC != 45 || r.Start.Throttle != "0x0" {
		t.Errorf("start: %+v", r.Start)
	}
	if r.End.TempC == nil || *r.End.TempC != 82.5 || r.End.FreqMHz != 1500 || r.End.Throttle != "0x50005" {
		t.Errorf("end: %+v", r.End)
	}
	ss := r.Sched.Runs[0].Samples
	if len(ss) < at+2 {
		t.Fatalf("%d samples: none after the change", len(ss))
	}
	for i, s := range ss {
		hot := *s.TempC == 82.5 && s.FreqMHz == 1500 && s.Throttle == "0x50005"
		cool := *s.TempC == 45 && s.FreqMHz == 2400 && s.Throttle == "0x0"
		if i <= at && !cool || i > at && !hot {
			t.Errorf("sample %d at %.2fs: %.1f°C %v MHz %s; the change came after sample %d", i, s.T, *s.TempC, s.FreqMHz, s.Throttle, at)
		}
	}
	t.Logf("%d samples, the change after sample %d at %.2fs", len(ss), at, ss[at].T)
}

// TestGCSizedToAvailableMemory: on a machine with little memory available
// (a host root whose /proc/meminfo says 195 MiB, as a 512 MB board under a
// desktop might), the gc children's heaps stay within a quarter of it: the
// map churn has fewer entries and GOMEMLIMIT is lower; with plenty of
// memory the workloads keep their full size.
func TestGCSizedToAvailableMemory(t *testing.T) {
	for _, c := range []struct {
		quick  bool
		avail  int64
		budget int64
		keys   int
		limit  int64
	}{
		{false, 0, 288 << 20, 32 << 10, 96 << 20},
		{false, 16 << 30, 288 << 20, 32 << 10, 96 << 20},
		{true, 16 << 30, 144 << 20, 16 << 10, 96 << 20},
		{false, 400 << 20, 100 << 20, 11377, 75 << 20}, // a 512 MB board
		{false, 200 << 20, 50 << 20, 5688, 37 << 20},
		{false, 16 << 20, 4 << 20, 1 << 10, 16 << 20},
	} {
		b, k, l := gcSize(c.quick, c.avail)
		if b != c.budget || k != c.keys || l != c.limit {
			t.Errorf("gcSize(%v, %s) = %s, %d keys, limit %s; want %s, %d, %s", c.quick, units.HumanSize(c.avail),
				units.HumanSize(b), k, units.HumanSize(l), units.HumanSize(c.budget), c.keys, units.HumanSize(c.limit))
		}
	}

	f := newFakeRoot(t)
	const avail = 200000 << 10
	f.set("/proc/meminfo", "MemTotal:         440000 kB\nMemFree:          150000 kB\nMemAvailable:     200000 kB")
	r, err := RunGC(t.Context(), Config{Quick: true, Root: host.At(f.dir), Procs: []int{1, 2}, Child: testChild()})
	if err != nil {
		t.Fatal(err)
	}
	if r.HeapBudgetBytes != avail/4 || r.MapChurnKeys >= 16<<10 {
		t.Fatalf("budget %s, %d map entries: not sized to %s available", units.HumanSize(r.HeapBudgetBytes), r.MapChurnKeys, units.HumanSize(avail))
	}
	// The sizing is what RunGC controls: the map's entries (checked
	// above) and every memory limit within the budget. The heap itself
	// passes its goal while a collection marks (what is allocated then
	// counts as live until the next one, and the next goal follows it): at
	// the map churn's GB/s, 2 runs in 6 peaked at 50-63 MiB against a
	// 49 MiB budget, on a quiet machine too, with goals up to 49 MiB under
	// a 36 MiB limit. So the peak is held to twice the budget: half of
	// what is available. Unsized, the same quick run has 16 Ki entries and
	// a 96 MiB limit, which the checks above and below refuse.
	for _, x := range r.Runs {
		if x.Setting.GOMEMLIMIT > r.HeapBudgetBytes {
			t.Errorf("%s %s GOMAXPROCS=%d: memory limit %s over the budget %s", x.Workload, x.Setting, x.Procs,
				units.HumanSize(x.Setting.GOMEMLIMIT), units.HumanSize(r.HeapBudgetBytes))
		}
		if x.PeakHeapBytes > 2*r.HeapBudgetBytes {
			t.Errorf("%s %s GOMAXPROCS=%d: peak heap %s, over twice the budget %s", x.Workload, x.Setting, x.Procs, units.HumanSize(x.PeakHeapBytes), units.HumanSize(r.HeapBudgetBytes))
		}
		t.Logf("%s %s GOMAXPROCS=%d: peak heap %s, goal up to %s, budget %s", x.Workload, x.Setting, x.Procs,
			units.HumanSize(x.PeakHeapBytes), units.HumanSize(x.PeakGoalBytes), units.HumanSize(r.HeapBudgetBytes))
	}
}

// TestDefaultProcs: 1, the powers of two below the CPU count, the count.
func TestDefaultProcs(t *testing.T) {
	for n, want := range map[int]string{1: "[1]", 2: "[1 2]", 4: "[1 2 4]", 6: "[1 2 4 6]", 8: "[1 2 4 8]"} {
		if got := fmt.Sprint(defaultProcs(n)); got != want {
			t.Errorf("defaultProcs(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestChaseRing: the ring is one cycle through every cache line, one step
// per line, whatever the size of an int.
func TestChaseRing(t *testing.T) {
	const size = 1 << 20
	ring := chaseRing(size)
	if len(ring)*int(unsafe.Sizeof(int(0))) != size {
		t.Fatalf("ring of %d ints for %d bytes", len(ring), size)
	}
	seen := map[int]bool{}
	i := 0
	for range size / 64 {
		if i%chaseStride != 0 || seen[i] {
			t.Fatalf("step to %d: not a fresh line start", i)
		}
		seen[i] = true
		i = ring[i]
	}
	if i != 0 || len(seen) != size/64 {
		t.Errorf("after %d steps at %d, %d lines seen", size/64, i, len(seen))
	}
}
