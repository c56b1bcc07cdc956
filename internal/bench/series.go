package bench

import (
	"fmt"
	"strings"
)

// Series is one measured quantity with every sample of it: what Go
// benchmark format prints, one line per value, and what compare reads.
type Series struct {
	Name   string    // benchstat-style: Mem/copy/procs=2
	Unit   string    // MB/s, ns/load, ops/s, IOPS, ...
	Values []float64 // every sample, in the order taken
	Higher bool      // whether a higher value is better
}

// Series flattens the report into its measured quantities.
func (r *Report) Series() []Series {
	var out []Series
	add := func(name, unit string, higher bool, vs ...float64) {
		if len(vs) > 0 {
			out = append(out, Series{Name: name, Unit: unit, Values: vs, Higher: higher})
		}
	}
	if m := r.Mem; m != nil {
		for _, k := range m.Kernels {
			add(fmt.Sprintf("Mem/%s/procs=%d", k.Kernel, k.Procs), "MB/s", true, k.RunsMBps...)
		}
		add("Mem/latency", "ns/load", false, m.LatencyRunsNs...)
	}
	if g := r.GC; g != nil {
		for _, c := range g.Configs() {
			name := fmt.Sprintf("GC/%s/gogc=%s", c.Workload, c.Setting.GOGC)
			if c.Setting.GOMEMLIMIT > 0 {
				name += fmt.Sprintf("/memlimit=%dMiB", c.Setting.GOMEMLIMIT>>20)
			}
			name += fmt.Sprintf("/procs=%d", c.Procs)
			col := func(f func(GCRun) float64) []float64 {
				var vs []float64
				for _, r := range c.Runs {
					vs = append(vs, f(r))
				}
				return vs
			}
			add(name, "ops/s", true, col(func(r GCRun) float64 { return r.OpsPerSec })...)
			add(name, "gc-cpu-%", false, col(func(r GCRun) float64 { return 100 * r.GCCPUFraction })...)
			add(name, "assist-ms", false, col(func(r GCRun) float64 { return 1000 * r.AssistSeconds })...)
			add(name, "pause-p99-ns", false, col(func(r GCRun) float64 { return r.PauseP99Ns })...)
			add(name, "pause-max-ns", false, col(func(r GCRun) float64 { return r.PauseMaxNs })...)
			add(name, "peak-heap-B", false, col(func(r GCRun) float64 { return float64(r.PeakHeapBytes) })...)
		}
	}
	for _, o := range r.IO {
		name := "IO/" + o.Device + "/dir=" + strings.ReplaceAll(strings.Trim(o.Dir, "/"), "/", "_")
		add(name+"/unpack", "files/s", true, o.UnpackFilesPerSec)
		add(name+"/unpack", "MB/s", true, o.UnpackMBps)
		add(name+"/walk", "files/s", true, o.WalkFilesPerSec...)
		add(name+"/randread4k", "IOPS", true, o.RandReadIOPS...)
		add(name+"/seqwrite", "MB/s", true, o.SeqWriteMBps)
		add(name+"/fsyncwrite4k", "IOPS", true, o.FsyncWriteIOPS...)
		add(name+"/fsyncwrite4k", "p99-ns", false, o.FsyncP99Ns)
	}
	if s := r.Sched; s != nil {
		for _, run := range s.Runs {
			var vs []float64
			for _, x := range run.Samples {
				vs = append(vs, x.OpsPerSec)
			}
			add(fmt.Sprintf("Sched/procs=%d", run.Procs), "ops/s", true, vs...)
		}
	}
	return out
}

// GCConfig is the runs of one workload, setting and GOMAXPROCS.
type GCConfig struct {
	Workload string
	Setting  GCSetting
	Procs    int
	Runs     []GCRun
}

// Configs groups the runs by configuration, in the order they ran.
func (g *GCResult) Configs() []GCConfig {
	var out []GCConfig
	for _, r := range g.Runs {
		if n := len(out); n > 0 && out[n-1].Workload == r.Workload && out[n-1].Setting == r.Setting && out[n-1].Procs == r.Procs {
			out[n-1].Runs = append(out[n-1].Runs, r)
			continue
		}
		out = append(out, GCConfig{Workload: r.Workload, Setting: r.Setting, Procs: r.Procs, Runs: []GCRun{r}})
	}
	return out
}
