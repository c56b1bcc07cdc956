package doctor

import (
	"context"
	"net/http"
	"os"
	"strings"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

// NewLive returns the Env of the running machine: the live root, `go env`
// of the go command that wins on PATH (goenv.FromOS when there is none) and
// the process environment.
func NewLive(ctx context.Context) *Env {
	return &Env{
		Root:   host.Live(),
		Go:     goenv.Load(ctx),
		Getenv: os.Getenv,
		HTTP:   &http.Client{},
	}
}

// Replaying reports whether e replays a capture (probes that were not
// recorded return ErrNoLiveHost).
func (e *Env) Replaying() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.replay
}

// CapturedVar reports whether an environment variable is saved in a
// capture: PATH, HOME, TMPDIR, CC, CXX and every GO* and CGO_* variable
// (GODEBUG, GOFLAGS, GOPROXY, ...). Nothing else leaves the machine.
func CapturedVar(name string) bool {
	switch name {
	case "PATH", "HOME", "TMPDIR", "CC", "CXX":
		return true
	}
	return strings.HasPrefix(name, "GO") || strings.HasPrefix(name, "CGO_")
}

// environ returns the captured variables as Getenv sees them.
func (e *Env) environ() map[string]string {
	out := map[string]string{}
	if e.vars != nil {
		for k, v := range e.vars {
			out[k] = v
		}
		return out
	}
	getenv := e.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if CapturedVar(k) {
			out[k] = getenv(k)
		}
	}
	return out
}
