package doctor

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds a check that does not set its own Timeout.
const DefaultTimeout = 1500 * time.Millisecond

// Report is the outcome of a run: every result, in the order of the checks.
type Report struct {
	Root     string // "live" or the capture replayed
	Started  time.Time
	Duration time.Duration
	Results  []Result
}

// Count returns how many results have status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == s {
			n++
		}
	}
	return n
}

// ExitCode is the process exit code the report asks for: 0 when nothing
// warned or failed (skips are fine), 1 with warnings, 2 with failures.
func (r *Report) ExitCode() int {
	switch {
	case r.Count(Fail) > 0:
		return 2
	case r.Count(Warn) > 0:
		return 1
	}
	return 0
}

// Find returns the result with the given ID.
func (r *Report) Find(id string) (Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return Result{}, false
}

// Run runs checks concurrently against env, each bounded by its own
// Timeout (DefaultTimeout when zero). A check that panics, hangs past its
// timeout or returns no status is reported as fail with the reason; the run
// always returns a result for every check, in the checks' order.
func Run(ctx context.Context, env *Env, checks []Check) *Report {
	return run(ctx, env, checks, DefaultTimeout)
}

func run(ctx context.Context, env *Env, checks []Check, def time.Duration) *Report {
	rep := &Report{Root: "live", Started: time.Now(), Results: make([]Result, len(checks))}
	if !env.Root.IsLive() {
		rep.Root = env.Root.Dir()
	}
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Results[i] = runOne(ctx, env, c, def)
		}()
	}
	wg.Wait()
	rep.Duration = time.Since(rep.Started)
	return rep
}

func runOne(ctx context.Context, env *Env, c Check, def time.Duration) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = def
	}
	if c.GoEnv && env.NoGoEnv {
		return Result{ID: c.ID, Section: c.Section, Title: c.Title, Status: Skip,
			Finding: "no go env in this capture (a tree without .pitstop/goenv.json): nothing to judge"}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	done := make(chan Result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- Result{
					Status:  Fail,
					Finding: fmt.Sprintf("check crashed: %v", v),
					Fix:     "report this with the output of `pitstop doctor --capture doctor.tar.gz` attached",
					Details: panicDetails(),
				}
			}
		}()
		done <- c.Run(ctx, env)
	}()
	var res Result
	select {
	case res = <-done:
		if res.Status == "" {
			res.Status, res.Finding = Fail, "check returned no status (a bug in pitstop)"
		}
	case <-ctx.Done():
		// The check goroutine is left to finish on its own; its answer is
		// dropped.
		reason := fmt.Sprintf("timed out after %v", timeout)
		if ctx.Err() == context.Canceled {
			reason = "interrupted"
		}
		res = Result{Status: Fail, Finding: "check did not finish: " + reason,
			Fix: "run `pitstop doctor -v --only " + c.ID + "` again; if it persists, report it with a capture"}
	}
	res.ID, res.Section, res.Title = c.ID, c.Section, c.Title
	res.Duration = time.Since(start)
	if env.Root != nil && !env.Root.IsLive() {
		// A capture is read from a temporary directory: report the
		// machine's paths, not where the capture was unpacked.
		dir := strings.TrimSuffix(env.Root.Dir(), "/")
		res.Finding = strings.ReplaceAll(res.Finding, dir+"/", "/")
		res.Fix = strings.ReplaceAll(res.Fix, dir+"/", "/")
		res.Details = append([]string(nil), res.Details...)
		for i, d := range res.Details {
			res.Details[i] = strings.ReplaceAll(d, dir+"/", "/")
		}
	}
	return res
}

func panicDetails() []string {
	var out []string
	for _, l := range strings.Split(string(debug.Stack()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
		if len(out) >= 16 {
			break
		}
	}
	return out
}

// UnknownCheckError names the entries of Select's only that are neither a
// check's ID nor a section.
type UnknownCheckError struct{ Names []string }

func (e *UnknownCheckError) Error() string {
	return "unknown check " + strings.Join(quoteAll(e.Names), ", ")
}

// Select returns the checks whose ID, or whose section name, is in only
// (all checks when only is empty), in their original order. An unknown
// name is an *UnknownCheckError; an only that holds nothing but empty
// names is an error too.
func Select(checks []Check, only []string) ([]Check, error) {
	if len(only) == 0 {
		return checks, nil
	}
	want := map[string]bool{}
	for _, o := range only {
		if o = strings.TrimSpace(o); o != "" {
			want[o] = true
		}
	}
	if len(want) == 0 {
		return nil, errors.New("names no check: give IDs or sections, e.g. board,storage")
	}
	known := map[string]bool{}
	for _, c := range checks {
		known[c.ID], known[c.Section] = true, true
	}
	var unknown []string
	for o := range want {
		if !known[o] {
			unknown = append(unknown, o)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &UnknownCheckError{Names: unknown}
	}
	var out []Check
	for _, c := range checks {
		if want[c.ID] || want[c.Section] {
			out = append(out, c)
		}
	}
	return out, nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
