package bench

import (
	"bytes"
	"fmt"
	"math"
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
	if m == nil || len(m.Kernels) != 4*len(procs) || m.LatencyNs <= 0 || m.ArrayBytes < 8<<20 {
		t.Fatalf("mem: %+v", m)
	}
	for _, k := range m.Kernels {
		if len(k.RunsMBps) != m.Runs || k.BestMBps <= 0 {
			t.Errorf("mem %s/%d: best %v of %v", k.Kernel, k.Procs, k.BestMBps, k.RunsMBps)
		}
	}

	g := r.GC
	if g == nil || len(g.Configs()) != len(gcWorkloads)*len(gcSettings(true))*len(procs) {
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
				if b.Runs[0].PeakHeapBytes <= a.Runs[0].PeakHeapBytes {
					t.Errorf("%s: GOGC=off,GOMEMLIMIT peak heap %d <= GOGC=100's %d: the child did not get its GOGC", a.Workload, b.Runs[0].PeakHeapBytes, a.Runs[0].PeakHeapBytes)
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
		// 2s sampled every 250ms: 8 samples at most, at whole intervals
		// (a loaded machine drops ticks, so fewer is speed, not a fault).
		if len(run.Samples) < 1 || len(run.Samples) > 8 || run.Goroutines != 4*run.Procs {
			t.Errorf("sched procs=%d: %d samples, %d goroutines", run.Procs, len(run.Samples), run.Goroutines)
		}
		for i, x := range run.Samples[min(1, len(run.Samples)):] {
			steps := (x.T - run.Samples[i].T) / 0.25
			if steps < 0.75 || math.Abs(steps-math.Round(steps)) > 0.25 {
				t.Errorf("sched procs=%d: sample %d at %.4fs, sample %d at %.4fs: not a whole number of 250ms intervals apart", run.Procs, i+1, x.T, i, run.Samples[i].T)
			}
		}
		for _, x := range run.Samples {
			if x.OpsPerSec <= 0 {
				t.Errorf("sched procs=%d: sample %+v", run.Procs, x)
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
// SoC and lowers its clock; the samples show the change when it happens,
// and the report records the state at start and end.
func TestSchedFollowsHostRoot(t *testing.T) {
	f := newFakeRoot(t)
	cfg := Config{Root: host.At(f.dir), Procs: []int{1}, SchedDuration: 3 * time.Second, SchedInterval: 100 * time.Millisecond}
	done := make(chan *Report)
	errc := make(chan error, 1)
	spawned := time.Now() // the run's clock starts later: its T is at most this one's
	go func() {
		r, err := Run(t.Context(), cfg, Sched)
		errc <- err
		done <- r
	}()
	time.Sleep(1500 * time.Millisecond)
	f.state(82500, 1500000, "50005")
	changed := time.Since(spawned).Seconds()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.Start.Board != "Raspberry Pi 5 Model B Rev 1.0" || r.Start.Governor != "ondemand" || r.Start.TempC == nil || *r.Start.TempC != 45 || r.Start.Throttle != "0x0" {
		t.Errorf("start: %+v", r.Start)
	}
	if r.End.TempC == nil || *r.End.TempC != 82.5 || r.End.FreqMHz != 1500 || r.End.Throttle != "0x50005" {
		t.Errorf("end: %+v", r.End)
	}
	ss := r.Sched.Runs[0].Samples
	// Samples come at the interval: each one a whole number of intervals
	// (give or take a quarter) after the one before. (A loaded machine
	// drops ticks: seen, 9 samples of 30; how many is speed, so it is
	// logged. A late tick can also shift the grid by a few ms.)
	t.Logf("%d samples in 3s at 100ms", len(ss))
	for i, s := range ss[1:] {
		steps := (s.T - ss[i].T) / cfg.SchedInterval.Seconds()
		if steps < 0.75 || math.Abs(steps-math.Round(steps)) > 0.25 {
			t.Errorf("sample %d at %.4fs, sample %d at %.4fs: not a whole number of %v intervals apart", i+1, s.T, i, ss[i].T, cfg.SchedInterval)
		}
	}
	// Each file switches once, cool to hot. A sample may show part of the
	// change: the test writes the three files one after another and the
	// sampler reads them one after another, and sched's GOMAXPROCS=1 with
	// four busy goroutines can stop either in between for more than a
	// sample interval on a loaded machine (seen: two samples with only the
	// temperature hot, one with only the throttle). No file reads cool in
	// a sample taken after the test finished changing it.
	first := [3]int{-1, -1, -1}
	names := [3]string{"temperature", "clock", "throttle"}
	for i, s := range ss {
		hot := [3]bool{*s.TempC == 82.5, s.FreqMHz == 1500, s.Throttle == "0x50005"}
		cool := [3]bool{*s.TempC == 45, s.FreqMHz == 2400, s.Throttle == "0x0"}
		for k := range names {
			switch {
			case !hot[k] && !cool[k]:
				t.Errorf("sample %d: %.1f°C %v MHz %s: its %s is neither state's", i, *s.TempC, s.FreqMHz, s.Throttle, names[k])
			case hot[k] && first[k] < 0:
				first[k] = i
			case cool[k] && first[k] >= 0:
				t.Errorf("sample %d at %.2fs: the %s is cool again after sample %d was hot", i, s.T, names[k], first[k])
			}
			if cool[k] && s.T > changed {
				t.Errorf("sample %d at %.2fs shows the %s from before the change, which ended at %.2fs", i, s.T, names[k], changed)
			}
		}
	}
	// The change came at 1.5s: about sample 15 of 30, with cool samples
	// before it and hot ones after.
	for k, i := range first {
		if i < 1 {
			t.Errorf("the %s was hot from sample %d (%v): want cool samples, then hot ones from about 1.5s", names[k], i, ss)
		}
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
