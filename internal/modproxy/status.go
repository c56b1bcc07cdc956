package modproxy

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
)

// NewStats returns the Stats of a proxy for the status page (set it as the
// Handler's Status and in a service.StatusPart): requests keyed by module
// path, a hit being an answer without the upstream (CacheHeader "hit").
func NewStats() *service.Stats {
	return &service.Stats{Name: "proxy", Classify: classifyStatus}
}

// classifyStatus keys a proxy request by its module path; checksum
// database requests count without a key.
func classifyStatus(r *http.Request, code int, h http.Header) (key string, hit, ok bool) {
	p := r.URL.Path
	if len(p) > 1 {
		p = p[1:]
	}
	// CacheHeader is in canonical form: index the map (Get would
	// canonicalise it on every request).
	var how string
	if v := h[CacheHeader]; len(v) > 0 {
		how = v[0]
	}
	hit = how == "hit" || code == http.StatusOK && how == "" && strings.HasSuffix(p, "/supported")
	if strings.HasPrefix(p, "sumdb/") {
		return "", hit, true
	}
	if i := strings.Index(p, "/@"); i > 0 {
		return unescapeModule(p[:i]), hit, true
	}
	return "", hit, true
}

// unescapeModule undoes the GOPROXY protocol's case encoding ("!x" for
// "X") for display; it allocates only when there is something to undo.
func unescapeModule(p string) string {
	if !strings.Contains(p, "!") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '!' && i+1 < len(p) && p[i+1] >= 'a' && p[i+1] <= 'z' {
			b.WriteByte(p[i+1] - 'a' + 'A')
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// statusFetch records an upstream fetch into the status page: an event for
// the miss, the upstream's failure or a refused (tampered) file. (Upstream
// health is recorded per HTTP request, by statusUpstream.)
func (h *Handler) statusFetch(req Request, d time.Duration, err error) {
	s := h.Status
	if s == nil {
		return
	}
	var ce *modfetch.ChecksumError
	switch {
	case err == nil:
		s.Event(service.EventMiss, req.Key, "fetched in "+d.Round(100*time.Microsecond).String())
	case errors.Is(err, fs.ErrNotExist):
		s.Event(service.EventMiss, req.Key, "not found upstream")
	case errors.As(err, &ce):
		s.Event(service.EventTampered, req.Key, oneLine(err))
	default:
		s.Event(service.EventUpstreamError, req.Key, oneLine(err))
	}
}

// UseStats sets Status to s and makes the Fetcher report its upstream
// requests to it; call it before serving (Init does the latter for a
// Status set before it).
func (h *Handler) UseStats(s *service.Stats) {
	h.Status = s
	h.statusInit()
}

// statusPolicy records a version the policy refused among the status
// page's events.
func (h *Handler) statusPolicy(mod, version string, d policy.Decision) {
	if h.Status == nil || d.Served() {
		return
	}
	h.Status.Event(service.EventPolicy, mod+"@"+version, d.Rule+": "+d.Reason)
}

// statusInit makes the Fetcher report its upstream requests to Status
// (unless something else already takes them).
func (h *Handler) statusInit() {
	if h.Status != nil && h.Fetcher != nil && h.Fetcher.OnUpstream == nil {
		h.Fetcher.OnUpstream = statusUpstream(h.Status)
	}
}

// statusUpstream records each upstream request's latency and error into s,
// under the upstream's host: checksum-database requests (lookup/, tile/,
// latest, or through a proxy's /sumdb/) apart from module requests. A not-found answer is healthy.
func statusUpstream(s *service.Stats) func(base, rel string, d time.Duration, err error) {
	return func(base, rel string, d time.Duration, err error) {
		host := base
		if u, perr := url.Parse(base); perr == nil && u.Host != "" {
			host = u.Host
		}
		name := "module upstream " + host
		if strings.HasPrefix(rel, "lookup/") || strings.HasPrefix(rel, "tile/") || rel == "latest" || strings.Contains(base, "/sumdb/") {
			name = "checksum database " + host
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		s.Upstream(name, d, err)
	}
}

// Toolchains returns a lister of the golang.org/toolchain versions a store
// holds (zips), at most 64, refreshed at most every 30 seconds; nil when
// the store cannot list its keys.
func Toolchains(st store.Store) func() []string {
	w, ok := st.(interface {
		Walk(ctx context.Context, prefix string, fn func(store.Info) error) error
	})
	if !ok {
		return nil
	}
	var mu sync.Mutex
	var last time.Time
	var cached []string
	const prefix = "golang.org/toolchain/@v/"
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < 30*time.Second && !last.IsZero() {
			return cached
		}
		var out []string
		w.Walk(context.Background(), prefix, func(in store.Info) error {
			if v, ok := strings.CutSuffix(in.Key[len(prefix):], ".zip"); ok {
				out = append(out, v)
			}
			if len(out) >= 64 {
				return errors.New("enough")
			}
			return nil
		})
		cached, last = out, time.Now()
		return cached
	}
}
