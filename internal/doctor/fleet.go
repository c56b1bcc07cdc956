package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/pitstop-go/pitstop/internal/modfetch"
)

// Fleet is the join the CLI hands in (the doctor does not read the join
// state itself): the server pitstop join pointed this machine at, and how
// to ask it whether it is pitstop.
type Fleet struct {
	// Server is the joined server's base URL; "" when not joined.
	Server string
	// Identify asks Server whether it answers as pitstop; nil skips that.
	Identify func(ctx context.Context) error
}

// ProbeFleet names the probe of the joined server.
const ProbeFleet = "fleet.identify"

// runFleet judges a joined board: the server reachable and answering as
// pitstop, GOPROXY starting with it and falling through (|) to another
// entry, GOCACHEPROG using its cache; a stale join is named with its fix.
func runFleet(ctx context.Context, env *Env) Result {
	f := env.Fleet
	if f == nil || f.Server == "" {
		return Result{Status: OK, Finding: "not joined to a pitstop serve"}
	}
	s := f.Server
	goproxy := env.Go.Get("GOPROXY")
	details := []string{"joined: " + s, "GOPROXY=" + modfetch.Redact(goproxy), "GOCACHEPROG=" + env.Go.Get("GOCACHEPROG")}
	first, sep, rest := cutProxyList(goproxy)
	switch {
	case stripUserinfo(first) != s:
		return Result{Status: Warn, Details: details,
			Finding: fmt.Sprintf("joined to %s, but GOPROXY (%s) no longer starts with it: something changed GOPROXY after pitstop join", s, modfetch.Redact(goproxy)),
			Fix:     "pitstop leave && pitstop join " + s}
	case sep != "|" || rest == "" || rest == "off":
		return Result{Status: Warn, Details: details,
			Finding: fmt.Sprintf("GOPROXY has no fallback after %s: while it is off, every module download fails", s),
			Fix:     fmt.Sprintf("go env -w GOPROXY=%q (the list after | is tried when %s does not answer)", s+"|"+"YOUR-PREVIOUS-GOPROXY", s)}
	case !strings.Contains(env.Go.Get("GOCACHEPROG"), "--server "+s+"/cache"):
		return Result{Status: Warn, Details: details,
			Finding: fmt.Sprintf("joined to %s, but GOCACHEPROG does not use its build cache", s),
			Fix:     "pitstop leave && pitstop join " + s}
	}
	if f.Identify != nil {
		msg, err := Probe(env, ProbeFleet, func() (string, error) {
			if err := f.Identify(ctx); err != nil {
				return err.Error(), nil
			}
			return "", nil
		})
		if err != nil {
			return probeSkip(err)
		}
		if msg != "" {
			return Result{Status: Warn, Details: details,
				Finding: fmt.Sprintf("stale join: %s does not answer as pitstop (%s); builds fall through to %s and every shared build cache get is a miss", s, msg, modfetch.Redact(rest)),
				Fix:     fmt.Sprintf("start pitstop serve on %s (systemctl status pitstop-serve), or pitstop leave", hostPart(s))}
		}
	}
	return Result{Status: OK, Details: details, Finding: fmt.Sprintf("joined to %s: it answers as pitstop; GOPROXY falls through to %s", s, modfetch.Redact(rest))}
}

// cutProxyList splits a GOPROXY list after its first entry.
func cutProxyList(l string) (first, sep, rest string) {
	i := strings.IndexAny(l, ",|")
	if i < 0 {
		return l, "", ""
	}
	return l[:i], l[i : i+1], l[i+1:]
}

func stripUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
