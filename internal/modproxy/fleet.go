package modproxy

import (
	"context"
	"errors"
	"strings"

	"github.com/pitstop-go/pitstop/internal/store"
)

// MutableKey reports whether the proxy may replace the object stored under
// key (lists, @latest, queries, the checksum database's latest): a local
// tier in front of shared storage must not keep those, as other replicas
// refresh them.
func MutableKey(key string) bool {
	// The hot path (a replica's tier asks on every zip it serves): a
	// module zip or .mod never changes. Every such key the proxy stores is
	// a request it parsed, so this answers as parsing would.
	if i := strings.LastIndex(key, "/@v/"); i > 0 && (strings.HasSuffix(key, ".zip") || strings.HasSuffix(key, ".mod")) &&
		!strings.Contains(key[i+4:], "/") {
		return false
	}
	req, err := ParseRequest("/" + key)
	return err != nil || !req.Immutable()
}

// fleetLock takes the fleet-wide lock for req's zip when a Coordinator is
// set. landed reports that another replica stored the zip meanwhile: the
// caller serves that instead of fetching.
func (h *Handler) fleetLock(ctx context.Context, req Request) (release func(landed bool), landed bool, err error) {
	if h.Coord == nil {
		return func(bool) {}, false, nil
	}
	le, landed, err := h.Coord.Lock(ctx, "zip:"+req.Key, func() bool {
		_, err := h.Store.Stat(ctx, req.Key)
		return err == nil
	})
	if err != nil || landed {
		return nil, landed, err
	}
	return le.Release, false, nil
}

// storageDown reports an error that means the shared storage is
// unreachable: a 503, not a 502.
func storageDown(err error) bool { return errors.Is(err, store.ErrUnavailable) }

// shareNegative tells the fleet that key was not found upstream, for
// NotFoundTTL, so other replicas answer 404 without asking again.
func (h *Handler) shareNegative(key, msg string) {
	if h.Coord != nil && h.NotFoundTTL > 0 {
		h.Coord.SetEntry(context.Background(), "notfound:"+key, []byte(msg), h.NotFoundTTL)
	}
}

// fleetNegative reports a not-found another replica shared.
func (h *Handler) fleetNegative(key string) (string, bool) {
	if h.Coord == nil || h.NotFoundTTL <= 0 {
		return "", false
	}
	b, ok := h.Coord.GetEntry(context.Background(), "notfound:"+key)
	return string(b), ok
}
