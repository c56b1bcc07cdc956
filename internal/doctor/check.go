// Package doctor diagnoses a Go-on-Raspberry-Pi machine: checks grouped in
// sections (board, go, storage, network, cgo, kernel), each with a stable
// ID, run concurrently with their own timeouts against a host.Root (the
// live machine or a capture), and reported as text or JSON.
package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

// Status is a check's verdict.
type Status string

// The statuses, from best to worst; skip means the check did not apply or
// could not run here (not a Pi, a capture without the live host, ...).
const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is what one check found.
type Result struct {
	ID       string        `json:"id"`      // stable, e.g. "go.version"
	Section  string        `json:"section"` // board, go, storage, network, cgo, kernel
	Title    string        `json:"title"`
	Status   Status        `json:"status"`
	Finding  string        `json:"finding"`           // one line
	Fix      string        `json:"fix,omitempty"`     // one line, for warn and fail; an exact command where one exists
	Details  []string      `json:"details,omitempty"` // shown with -v
	Duration time.Duration `json:"-"`
}

// Check is one diagnosis. Run fills Status, Finding, Fix and Details; the
// runner fills ID, Section, Title and Duration, bounds Run by Timeout and
// turns a panic or a hang into a fail.
type Check struct {
	ID      string
	Section string
	Title   string
	Timeout time.Duration // 0 means the runner's default
	Run     func(ctx context.Context, env *Env) Result
}

// Env is what checks read: the machine, the go command's view, and probes
// of the live host that a capture replays.
type Env struct {
	// Root is the machine's filesystem (live "/" or a capture).
	Root *host.Root
	// Go is `go env` of the go command that wins on PATH (FromOS when none).
	Go goenv.Env
	// Getenv reads the process environment (PATH, HOME, GODEBUG, ...);
	// a capture replays the captured values.
	Getenv func(string) string
	// HTTP is the client for network checks.
	HTTP *http.Client

	mu     sync.Mutex
	probes map[string]ProbeResult
	replay bool
	vars   map[string]string // a capture's environment, when replaying
}

// ProbeResult is the recorded outcome of a live probe.
type ProbeResult struct {
	Value string `json:"value"`
	Err   string `json:"err,omitempty"`
}

// ErrNoLiveHost is returned by Probe when replaying a capture that did not
// record that probe: the check should report skip.
var ErrNoLiveHost = errors.New("needs the live host (not in this capture)")

// Probe returns the result of a fact that cannot be read back from files
// (page size, uname, a syscall probe, a command's output). Live, it runs fn
// once per name and records the answer for capture; replaying a capture it
// returns the recorded answer, or ErrNoLiveHost.
func (e *Env) Probe(name string, fn func() (string, error)) (string, error) {
	e.mu.Lock()
	if e.probes == nil {
		e.probes = map[string]ProbeResult{}
	}
	if r, ok := e.probes[name]; ok {
		e.mu.Unlock()
		return r.Value, probeErr(r.Err)
	}
	replay := e.replay
	e.mu.Unlock()
	if replay {
		return "", ErrNoLiveHost
	}
	v, err := fn()
	r := ProbeResult{Value: v}
	if err != nil {
		r.Err = err.Error()
	}
	e.mu.Lock()
	e.probes[name] = r
	e.mu.Unlock()
	return v, err
}

// Probes returns every probe result recorded so far.
func (e *Env) Probes() map[string]ProbeResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]ProbeResult, len(e.probes))
	for k, v := range e.probes {
		out[k] = v
	}
	return out
}

// LoadProbes switches e to replay mode with recorded probe results (the
// JSON of a map from name to ProbeResult).
func (e *Env) LoadProbes(data []byte) error {
	m := map[string]ProbeResult{}
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	e.mu.Lock()
	e.probes, e.replay = m, true
	e.mu.Unlock()
	return nil
}

type recordedError string

func (r recordedError) Error() string { return string(r) }

func probeErr(s string) error {
	if s == "" {
		return nil
	}
	return recordedError(s)
}
