package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pitstop-go/pitstop/internal/units"
)

// WriteJSON writes the report as indented JSON (docs/bench-schema.json).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report WriteJSON wrote.
func ReadReport(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, err
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("schema %q, want %q (a report of pitstop bench --json)", r.Schema, Schema)
	}
	return &r, nil
}

// WriteBench writes the report in Go benchmark format, one line per
// sample, for benchstat.
func (r *Report) WriteBench(w io.Writer) error {
	e := r.Start
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\npkg: pitstop/bench\n", e.GOOS, e.GOARCH)
	if e.Board != "" {
		fmt.Fprintf(w, "cpu: %s\n", e.Board)
	}
	fmt.Fprintf(w, "kernel: %s\ngo: %s\n", orDash(e.Kernel), e.GoVersion)
	for _, s := range r.Series() {
		for _, v := range s.Values {
			fmt.Fprintf(w, "Benchmark%s 1 %s %s\n", s.Name, strconv.FormatFloat(v, 'g', 6, 64), s.Unit)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// Spark draws values as a sparkline, scaled from their minimum to their
// maximum (a flat line when they are all equal).
func Spark(vs []float64) string {
	if len(vs) == 0 {
		return ""
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	var b strings.Builder
	for _, v := range vs {
		i := len(sparks) / 2
		if hi > lo {
			i = int(math.Round((v - lo) / (hi - lo) * float64(len(sparks)-1)))
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// num prints a rate compactly: 950, 12.3k, 4.56M.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 2, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// dur prints nanoseconds as a duration with three significant digits.
func dur(ns float64) string {
	switch {
	case ns >= 1e9:
		return strconv.FormatFloat(ns/1e9, 'f', 2, 64) + "s"
	case ns >= 1e6:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + "ms"
	case ns >= 1e3:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + "µs"
	default:
		return strconv.FormatFloat(ns, 'f', 0, 64) + "ns"
	}
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// Line describes a machine state on one line.
func (e Env) Line() string {
	var parts []string
	if e.TempC != nil {
		parts = append(parts, fmt.Sprintf("%.1f°C", *e.TempC))
	} else {
		parts = append(parts, "temperature -")
	}
	if e.FreqMHz > 0 {
		parts = append(parts, fmt.Sprintf("%.0f MHz", e.FreqMHz))
	}
	parts = append(parts, "throttle "+orDash(e.Throttle))
	return strings.Join(parts, ", ")
}

// BoardName names the board, or says there is no device tree.
func (e Env) BoardName() string {
	if e.Board == "" {
		return "unknown board (no device tree)"
	}
	return e.Board
}

// WriteText writes the report as tables with sparklines.
func (r *Report) WriteText(w io.Writer) error {
	s := r.Start
	fmt.Fprintf(w, "%s, kernel %s, %s %s/%s, %d CPUs, governor %s\n", s.BoardName(), orDash(s.Kernel), s.GoVersion, s.GOOS, s.GOARCH, s.CPUs, orDash(s.Governor))
	fmt.Fprintf(w, "start: %s; end: %s; %.0fs", s.Line(), r.End.Line(), r.Seconds)
	if r.Quick {
		fmt.Fprint(w, " (quick)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if m := r.Mem; m != nil {
		fmt.Fprintf(tw, "\nmem: 3 arrays of %s", units.HumanSize(m.ArrayBytes))
		if m.LLCBytes > 0 {
			fmt.Fprintf(tw, " (last-level cache %s)", units.HumanSize(m.LLCBytes))
		}
		fmt.Fprintf(tw, ", best of %d", m.Runs)
		if m.NTStores != "" {
			fmt.Fprintf(tw, "; copy-nt stores with %s", m.NTStores)
		}
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "kernel\tGOMAXPROCS\tbest MB/s\truns")
		for _, k := range m.Kernels {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\n", k.Kernel, k.Procs, k.BestMBps, Spark(k.RunsMBps))
		}
		fmt.Fprintf(tw, "latency\t1\t%.1f ns/load\t%s\t(pointer chase over %s)\n", m.LatencyNs, Spark(m.LatencyRunsNs), units.HumanSize(m.ChaseBytes))
	}
	tw.Flush()
	if g := r.GC; g != nil {
		fmt.Fprintf(tw, "\ngc: each run a process of its own, %.1fs; heap budget %s, map churn of %d entries\n", g.Seconds, units.HumanSize(g.HeapBudgetBytes), g.MapChurnKeys)
		copyBW := r.copyBandwidth()
		fmt.Fprintln(tw, "workload\tsetting\tGOMAXPROCS\tops/s\tGC CPU\tassist\tpause p50/p99/max\tpeak heap\talloc MB/s\tpauses")
		for _, c := range g.Configs() {
			var ops, frac, assist, p50, p99, pmax, peak, alloc []float64
			var pauses []Bucket
			for _, x := range c.Runs {
				ops, frac, assist = append(ops, x.OpsPerSec), append(frac, x.GCCPUFraction), append(assist, x.AssistSeconds)
				p50, p99, pmax = append(p50, x.PauseP50Ns), append(p99, x.PauseP99Ns), append(pmax, x.PauseMaxNs)
				peak, alloc = append(peak, float64(x.PeakHeapBytes)), append(alloc, x.AllocMBps)
				pauses = append(pauses, x.Pauses...)
			}
			a := fmt.Sprintf("%.0f", median(alloc))
			if bw := copyBW[c.Procs]; bw > 0 {
				a += fmt.Sprintf(" (%.0f%% of copy)", 100*median(alloc)/bw)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.1f%%\t%s\t%s/%s/%s\t%s\t%s\t%s\n", c.Workload, c.Setting, c.Procs, num(median(ops)),
				100*median(frac), dur(1e9*median(assist)), dur(median(p50)), dur(median(p99)), dur(slices.Max(pmax)),
				units.HumanSize(int64(median(peak))), a, Spark(histCounts(pauses)))
		}
		tw.Flush()
	}
	if len(r.IO) > 0 {
		fmt.Fprintln(tw, "\nio: the module-cache workload")
		fmt.Fprintln(tw, "directory\tdevice\tunpack files/s\tMB/s\twalk files/s\trandom 4K IOPS\tseq write MB/s\tfsync'd 4K IOPS\tfsync p50/p99")
		for _, o := range r.IO {
			rr := num(median(o.RandReadIOPS))
			if !o.RandReadDirect {
				rr += " (cached)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s %s\t%.1f\t%s %s\t%s/%s\n", o.Dir, o.Device, num(o.UnpackFilesPerSec), o.UnpackMBps,
				num(median(o.WalkFilesPerSec)), rr, Spark(o.RandReadIOPS), o.SeqWriteMBps, num(median(o.FsyncWriteIOPS)), Spark(o.FsyncWriteIOPS),
				dur(o.FsyncP50Ns), dur(o.FsyncP99Ns))
		}
		tw.Flush()
	}
	if sc := r.Sched; sc != nil {
		fmt.Fprintf(tw, "\nsched: CPU-bound goroutines, sampled every %.0fms\n", sc.IntervalMs)
		fmt.Fprintln(tw, "GOMAXPROCS\tgoroutines\tmedian ops/s\tthroughput\ttemperature\tfrequency\tthrottle")
		for _, run := range sc.Runs {
			var ops, temp, freq []float64
			var thr []string
			for _, x := range run.Samples {
				ops = append(ops, x.OpsPerSec)
				if x.TempC != nil {
					temp = append(temp, *x.TempC)
				}
				if x.FreqMHz > 0 {
					freq = append(freq, x.FreqMHz)
				}
				if x.Throttle != "" && (len(thr) == 0 || thr[len(thr)-1] != x.Throttle) {
					thr = append(thr, x.Throttle)
				}
			}
			t, f := "-", "-"
			if len(temp) > 0 {
				t = fmt.Sprintf("%s %.0f→%.0f°C", Spark(temp), temp[0], temp[len(temp)-1])
			}
			if len(freq) > 0 {
				f = fmt.Sprintf("%.0f→%.0f MHz", freq[0], freq[len(freq)-1])
			}
			th := "-"
			if len(thr) > 0 {
				th = strings.Join(thr, "→")
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", run.Procs, run.Goroutines, num(median(ops)), Spark(ops), t, f, th)
		}
		tw.Flush()
	}
	return nil
}

// copyBandwidth is the best copy MB/s at each GOMAXPROCS, when mem ran.
func (r *Report) copyBandwidth() map[int]float64 {
	out := map[int]float64{}
	if r.Mem != nil {
		for _, k := range r.Mem.Kernels {
			if k.Kernel == "copy" {
				out[k.Procs] = k.BestMBps
			}
		}
	}
	return out
}

// histCounts merges buckets by their lower bound and returns the counts in
// bound order.
func histCounts(bs []Bucket) []float64 {
	m := map[float64]float64{}
	var keys []float64
	for _, b := range bs {
		if _, ok := m[b.LoNs]; !ok {
			keys = append(keys, b.LoNs)
		}
		m[b.LoNs] += float64(b.Count)
	}
	slices.Sort(keys)
	var out []float64
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}
