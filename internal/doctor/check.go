// Package doctor diagnoses a Go-on-Raspberry-Pi machine: checks grouped in
// sections (board, go, storage, network, cgo, kernel, gpu), each with a stable
// ID, run concurrently with their own timeouts against a host.Root (the
// live machine or a capture), and reported as text or JSON.
package doctor

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/modfetch"
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
	Section  string        `json:"section"` // board, go, storage, network, cgo, kernel, gpu
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
	// GoEnv says the check judges the go command's settings (Env.Go): on a
	// capture that recorded none (a board's tree copied without
	// .pitstop/goenv.json) it is skipped rather than judging empty values.
	GoEnv bool
	Run   func(ctx context.Context, env *Env) Result
}

// Env is what checks read: the machine, the go command's view, and probes
// of the live host that a capture replays.
type Env struct {
	// Root is the machine's filesystem (live "/" or a capture).
	Root *host.Root
	// Go is `go env` of the go command that wins on PATH (FromOS when none).
	Go goenv.Env
	// NoGoEnv is set on a capture that recorded no go env: checks with
	// GoEnv are skipped.
	NoGoEnv bool
	// Getenv reads the process environment (PATH, HOME, GODEBUG, ...);
	// a capture replays the captured values.
	Getenv func(string) string
	// HTTP is the client for network checks; nil means modfetch's default
	// client.
	HTTP *http.Client
	// Tuning is the profile of kernel settings the kernel checks recommend
	// (see Tuning); the zero value names none.
	Tuning Tuning
	// RamdiskActive reports whether path on root is kept in RAM by pitstop
	// ramdisk; nil recognises no ramdisk (an overlay whose upper layer is on
	// tmpfs is still reported as in RAM).
	RamdiskActive func(root *host.Root, path string) bool
	// Fleet is the join pitstop join made, handed in by the CLI; nil when
	// not joined or not known (a capture).
	Fleet *Fleet

	mu     sync.Mutex
	fetch  *modfetch.Fetcher     // see fetcher
	probes map[string]*probeCall // the memo of Probe: one run per name
	replay bool
	vars   map[string]string // a capture's environment, when replaying
}
