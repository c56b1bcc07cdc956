package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// SchedResult is the sched benchmark: CPU-bound goroutines at each
// GOMAXPROCS, their throughput sampled next to the SoC's state.
type SchedResult struct {
	IntervalMs float64    `json:"interval_ms"`
	Runs       []SchedRun `json:"runs"`
}

// SchedRun is one GOMAXPROCS setting's run.
type SchedRun struct {
	Procs      int           `json:"procs"`
	Goroutines int           `json:"goroutines"`
	Samples    []SchedSample `json:"samples"`
}

// SchedSample is one interval: work units (a fixed integer hash loop) per
// second over the interval, and the temperature, CPU 0's frequency and the
// throttle word read at its end (absent when the machine does not expose
// them).
type SchedSample struct {
	T         float64  `json:"t"` // seconds since the run started
	OpsPerSec float64  `json:"ops_per_sec"`
	TempC     *float64 `json:"temp_c,omitempty"`
	FreqMHz   float64  `json:"freq_mhz,omitempty"`
	Throttle  string   `json:"throttle,omitempty"`
}

// schedUnit is one work unit: a hash over 4096 rounds, no memory traffic.
func schedUnit(x uint64) uint64 {
	for range 4096 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

var schedSink atomic.Uint64

// schedSampled, when set (by a test), is called with each sample's index
// after the sample is taken, from the sampling goroutine.
var schedSampled func(i int)

// RunSched runs four CPU-bound goroutines per GOMAXPROCS for
// cfg.SchedDuration at each GOMAXPROCS, sampling every cfg.SchedInterval.
func RunSched(ctx context.Context, cfg Config) (*SchedResult, error) {
	dur, every := cfg.SchedDuration, cfg.SchedInterval
	if dur <= 0 {
		dur = 10 * time.Second
		if cfg.Quick {
			dur = 2 * time.Second
		}
	}
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	r := cfg.root()
	res := &SchedResult{IntervalMs: float64(every) / float64(time.Millisecond)}
	old := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(old)
	for _, p := range cfg.procs() {
		runtime.GOMAXPROCS(p)
		run := SchedRun{Procs: p, Goroutines: 4 * p}
		cfg.logf("sched: %d goroutines at GOMAXPROCS=%d for %v, sampled every %v", run.Goroutines, p, dur, every)
		var ops atomic.Int64
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := range run.Goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := uint64(g) + 1
				for !stop.Load() {
					x = schedUnit(x)
					ops.Add(1)
				}
				schedSink.Add(x)
			}()
		}
		t0 := time.Now()
		last, lastT := int64(0), t0
		// The run ends with the sample that reaches dur, not with a timer
		// of its own: a timer and the last tick fire together, and on a
		// loaded machine either could be taken first, giving one sample
		// more or less.
		tick := time.NewTicker(every)
	sample:
		for {
			select {
			case now := <-tick.C:
				n := ops.Load()
				pr := probe(r)
				run.Samples = append(run.Samples, SchedSample{
					T:         now.Sub(t0).Seconds(),
					OpsPerSec: float64(n-last) / now.Sub(lastT).Seconds(),
					TempC:     pr.temp, FreqMHz: pr.freqMHz, Throttle: pr.throttle,
				})
				last, lastT = n, now
				if schedSampled != nil {
					schedSampled(len(run.Samples) - 1)
				}
				if now.Sub(t0) >= dur-every/2 {
					break sample
				}
			case <-ctx.Done():
				break sample
			}
		}
		tick.Stop()
		stop.Store(true)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}
