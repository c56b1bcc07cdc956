package modproxy

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/modfetch"
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
	hit = h.Get(CacheHeader) == "hit" || code == http.StatusOK && h.Get(CacheHeader) == "" && strings.HasSuffix(p, "/supported")
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

// statusFetch records an upstream fetch into the status page: its health
// (the checksum database apart from the module upstreams) and an event for
// the miss, the upstream's failure or a refused (tampered) file.
func (h *Handler) statusFetch(req Request, d time.Duration, err error) {
	s := h.Status
	if s == nil {
		return
	}
	name := "module upstream (GOPROXY)"
	if req.Kind == KindSumDB {
		name = "checksum database " + req.SumDB
	}
	var ce *modfetch.ChecksumError
	switch {
	case err == nil:
		s.Upstream(name, d, nil)
		s.Event(service.EventMiss, req.Key, "fetched in "+d.Round(time.Millisecond).String())
	case errors.Is(err, fs.ErrNotExist):
		s.Upstream(name, d, nil)
		s.Event(service.EventMiss, req.Key, "not found upstream")
	case errors.As(err, &ce):
		s.Upstream(name, d, nil) // the upstream answered; its answer was refused
		s.Event(service.EventTampered, req.Key, oneLine(err))
	default:
		s.Upstream(name, d, err)
		s.Event(service.EventUpstreamError, req.Key, oneLine(err))
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
