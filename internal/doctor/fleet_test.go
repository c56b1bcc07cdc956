package doctor

import (
	"context"
	"errors"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// TestFleetCheck: go.fleet judges a joined board from the join the CLI
// hands in: a server answering as pitstop with GOPROXY server|fallback and
// its cache in GOCACHEPROG is ok; a stale join (server off or not pitstop),
// a GOPROXY changed since, one without a fallback, a GOCACHEPROG without
// the server's cache are warnings whose fix names the command.
func TestFleetCheck(t *testing.T) {
	const s = "http://pi5.local:3000"
	prog := "/usr/local/bin/pitstop cache prog --server " + s + "/cache"
	answers := func(context.Context) error { return nil }
	off := func(context.Context) error { return errors.New("server unreachable: connection refused") }
	for _, tt := range []struct {
		name             string
		fleet            *Fleet
		goproxy, gocprog string
		status           Status
		want             []string
	}{
		{"not joined", nil, "https://proxy.example,direct", "", OK, []string{"not joined"}},
		{"joined and answering", &Fleet{Server: s, Identify: answers}, s + "|http://fallback.lan", prog, OK, []string{"answers as pitstop", "falls through to http://fallback.lan"}},
		{"token in GOPROXY", &Fleet{Server: s, Identify: answers}, "http://pitstop:tok@pi5.local:3000|direct", prog, OK, []string{"answers as pitstop"}},
		{"stale: server off", &Fleet{Server: s, Identify: off}, s + "|http://fallback.lan", prog, Warn, []string{"stale join", "connection refused", "pitstop leave"}},
		{"GOPROXY changed since", &Fleet{Server: s, Identify: answers}, "http://other.lan,direct", prog, Warn, []string{"no longer starts with it", "pitstop leave && pitstop join " + s}},
		{"no fallback", &Fleet{Server: s, Identify: answers}, s, prog, Warn, []string{"no fallback", "every module download fails"}},
		{"comma is no fallback on errors", &Fleet{Server: s, Identify: answers}, s + ",direct", prog, Warn, []string{"no fallback"}},
		{"cache not used", &Fleet{Server: s, Identify: answers}, s + "|direct", "", Warn, []string{"GOCACHEPROG does not use its build cache"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := &Env{Go: goenv.Env{"GOPROXY": tt.goproxy, "GOCACHEPROG": tt.gocprog}, Fleet: tt.fleet}
			expectCk(t, runCk(t, goChecks(), "go.fleet", env), tt.status, tt.want...)
		})
	}
}
