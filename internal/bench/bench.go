// Package bench measures what a Go developer's board does: memory bandwidth
// and latency (mem), the garbage collector under allocation-heavy work (gc),
// the module-cache workload on each storage device (io), and goroutine
// throughput next to temperature, frequency and the throttle word (sched).
// A Report holds the results with the machine's state at start and end; it
// is written as a table, JSON (docs/bench-schema.json), Go benchmark format
// for benchstat, or a self-contained HTML page, and two reports compare with
// medians, confidence intervals and significance.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Schema names the JSON layout of a Report; it changes when a field's
// meaning does.
const Schema = "pitstop-bench/1"

// Report is one run of one or more benchmarks.
type Report struct {
	Schema string `json:"schema"`
	Quick  bool   `json:"quick"`
	Start  Env    `json:"start"`
	End    Env    `json:"end"`
	// Seconds is the wall time of the whole run.
	Seconds float64      `json:"seconds"`
	Mem     *MemResult   `json:"mem,omitempty"`
	GC      *GCResult    `json:"gc,omitempty"`
	IO      []IOResult   `json:"io,omitempty"`
	Sched   *SchedResult `json:"sched,omitempty"`
}

// Env is the machine's state at one moment: what makes two results
// comparable. Fields the machine does not expose stay empty.
type Env struct {
	Time      time.Time `json:"time"`
	Board     string    `json:"board"` // device-tree model, "" without one
	Kernel    string    `json:"kernel"`
	GoVersion string    `json:"go_version"`
	GOOS      string    `json:"goos"`
	GOARCH    string    `json:"goarch"`
	CPUs      int       `json:"cpus"`
	Governor  string    `json:"governor,omitempty"`
	TempC     *float64  `json:"temp_c,omitempty"`
	FreqMHz   float64   `json:"freq_mhz,omitempty"` // CPU 0's current frequency
	Throttle  string    `json:"throttle,omitempty"` // the firmware's word, "0x50000"
}

// Config says what to measure and how long. The zero value runs the full
// (non-quick) pass on the live machine.
type Config struct {
	// Quick shortens every benchmark to a short pass (smaller arrays, fewer
	// runs, shorter durations): for a first look and for emulators.
	Quick bool
	// Root is the machine read for board, thermal and frequency state; nil
	// is the live machine.
	Root *host.Root
	// Log receives one line per step as the run goes; nil discards them.
	Log io.Writer
	// Dirs are the directories the io benchmark measures; empty is the
	// system's temporary directory.
	Dirs []string
	// SchedDuration is how long sched runs at each GOMAXPROCS; 0 is 10s
	// (2s when Quick).
	SchedDuration time.Duration
	// SchedInterval is sched's sampling interval; 0 is 250ms.
	SchedInterval time.Duration
	// Procs are the GOMAXPROCS values mem, gc and sched run at; empty is 1,
	// the powers of two below the CPU count, and the CPU count.
	Procs []int
	// Child is the command that runs one gc configuration in a fresh
	// process: argv, to which nothing is appended; the child must call
	// RunGCChild. Empty is this executable with the arguments "bench"
	// "gc-child".
	Child []string
}

func (c *Config) root() *host.Root {
	if c.Root == nil {
		c.Root = host.Live()
	}
	return c.Root
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

func (c *Config) procs() []int {
	if len(c.Procs) > 0 {
		return c.Procs
	}
	return defaultProcs(runtime.NumCPU())
}

func defaultProcs(n int) []int {
	out := []int{1}
	for p := 2; p < n; p *= 2 {
		out = append(out, p)
	}
	if n > 1 {
		out = append(out, n)
	}
	return out
}

// Which benchmarks Run runs.
const (
	Mem   = "mem"
	GC    = "gc"
	IO    = "io"
	Sched = "sched"
)

// All lists the benchmarks in the order Run runs them.
var All = []string{Mem, GC, IO, Sched}

// Run runs the named benchmarks (All when none) and returns the report.
// A cancelled ctx stops the run; temporary files are removed before Run
// returns, whatever happened.
func Run(ctx context.Context, cfg Config, which ...string) (*Report, error) {
	if len(which) == 0 {
		which = All
	}
	r := cfg.root()
	rep := &Report{Schema: Schema, Quick: cfg.Quick, Start: Snapshot(r)}
	t0 := time.Now()
	for _, w := range which {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var err error
		switch w {
		case Mem:
			rep.Mem, err = RunMem(ctx, cfg)
		case GC:
			rep.GC, err = RunGC(ctx, cfg)
		case IO:
			rep.IO, err = RunIO(ctx, cfg)
		case Sched:
			rep.Sched, err = RunSched(ctx, cfg)
		default:
			err = fmt.Errorf("no benchmark %q (want one of %v)", w, All)
		}
		if err != nil {
			return nil, err
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	rep.End = Snapshot(r)
	return rep, nil
}

// Snapshot reads the machine's state now.
func Snapshot(r *host.Root) Env {
	e := Env{Time: time.Now().UTC(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU()}
	e.Board, _ = r.Model()
	e.Kernel, _ = r.KernelRelease()
	p := probe(r)
	e.Governor, e.TempC, e.FreqMHz, e.Throttle = p.governor, p.temp, p.freqMHz, p.throttle
	return e
}

// probed is what one look at the thermal, frequency and throttle files
// finds.
type probed struct {
	governor string
	temp     *float64
	freqMHz  float64
	throttle string
}

func probe(r *host.Root) probed {
	var p probed
	if t, err := r.CPUTemp(); err == nil {
		c := t.C
		p.temp = &c
	}
	if f, err := r.CPUFreq(0); err == nil {
		p.governor = f.Governor
		p.freqMHz = float64(f.CurKHz) / 1000
	}
	if t, _, err := r.ThrottleSysfs(); err == nil {
		p.throttle = t.String()
	}
	return p
}

// selfChild is the default Config.Child.
func selfChild() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this executable to start gc children: %w", err)
	}
	return []string{exe, "bench", "gc-child"}, nil
}
