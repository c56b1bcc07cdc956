package modproxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/modfetch"
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

// MaxFleetEntry bounds a list, @latest or query answer shared through the
// coordinator (Redis): a larger one is shared as a marker that names its
// time, and replicas read the answer itself from the shared store, as
// without Redis.
const MaxFleetEntry = 256 << 10

// Shared mutable answers: one byte saying where the answer is ('d' inline,
// 's' in the store), the time it was fetched (the TTL base, Unix
// nanoseconds, 8 bytes big-endian), then the answer when inline. Only the
// upstream's own answer is ever shared: the policy filters each replica's
// answers on the way out, so a policy change takes effect at once and
// replicas with different policies can share one Redis.
const (
	metaInline  = 'd'
	metaInStore = 's'
)

func metaEntryKey(key string) string { return "meta:" + key }

func encodeMeta(data []byte, mod time.Time) []byte {
	inline := len(data) <= MaxFleetEntry
	b := make([]byte, 9, 9+len(data))
	b[0] = metaInStore
	if inline {
		b[0] = metaInline
	}
	binary.BigEndian.PutUint64(b[1:], uint64(mod.UnixNano()))
	if !inline {
		return b
	}
	return append(b, data...)
}

func decodeMeta(b []byte) (data []byte, mod time.Time, inline, ok bool) {
	if len(b) < 9 || (b[0] != metaInline && b[0] != metaInStore) {
		return nil, time.Time{}, false, false
	}
	mod = time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	return b[9:], mod, b[0] == metaInline, true
}

// fleetMeta returns a fresh mutable answer (list, @latest, query, the
// checksum database's latest) another replica (or this one) shared, kept
// in memory on the way; nil when there is none, it is stale, or it was too
// large to share inline (the store has it).
func (h *Handler) fleetMeta(ctx context.Context, req Request) *memEntry {
	if h.Coord == nil || req.Immutable() {
		return nil
	}
	return h.sharedMeta(ctx, req, false)
}

// fleetMetaLanded is the answer another replica fetched while this one
// waited for the fleet lock: inline, or read from the store when it was
// too large to share.
func (h *Handler) fleetMetaLanded(ctx context.Context, req Request) *memEntry {
	return h.sharedMeta(ctx, req, true)
}

// sharedMeta is the fresh answer shared under req's key, kept in memory on
// the way; one too large to share inline is read from the store only when
// fromStore is set.
func (h *Handler) sharedMeta(ctx context.Context, req Request, fromStore bool) *memEntry {
	b, ok := h.Coord.GetEntry(ctx, metaEntryKey(req.Key))
	if !ok {
		return nil
	}
	data, mod, inline, ok := decodeMeta(b)
	if !ok || !h.fresh(req, mod) {
		return nil
	}
	if inline {
		return h.remember(req, data, mod)
	}
	if !fromStore {
		return nil
	}
	obj, err := h.Store.Get(ctx, req.Key)
	if err != nil {
		return nil
	}
	defer obj.Close()
	data, err = readAllLimit(obj.Body, modfetch.MaxMetaSize)
	if err != nil || !h.fresh(req, obj.ModTime) {
		return nil
	}
	return h.remember(req, data, obj.ModTime)
}

// fleetMetaTurn makes the upstream fetch of a mutable answer single flight
// across replicas: it waits while another replica fetches it, then
// returns what that one shared (e non-nil). Otherwise the caller fetches
// and calls done with the answer and its time (nil data for a failure),
// which shares it for the rest of its TTL and wakes the waiters. A
// not-found another replica learned meanwhile is returned as err.
func (h *Handler) fleetMetaTurn(ctx context.Context, req Request) (done func(data []byte, mod time.Time), e *memEntry, err error) {
	if h.Coord == nil || req.Immutable() {
		return func([]byte, time.Time) {}, nil, nil
	}
	var neg string
	isLanded := func() bool {
		if e = h.fleetMetaLanded(ctx, req); e != nil {
			return true
		}
		msg, ok := h.fleetNegative(req.Key)
		neg = msg
		return ok
	}
	le, landed, err := h.Coord.Lock(ctx, "meta:"+req.Key, isLanded)
	if err != nil {
		return nil, nil, fmt.Errorf("waiting for another replica's fetch: %w", err)
	}
	if !landed && isLanded() {
		// Another replica shared it and released the lock between our
		// last look and our taking the lock.
		le.Release(true)
		landed = true
	}
	switch {
	case landed && e != nil:
		return nil, e, nil
	case landed:
		return nil, nil, negativeError(neg)
	}
	return func(data []byte, mod time.Time) {
		if data != nil {
			if ttl := h.ListTTL - time.Since(mod); ttl > 0 {
				h.Coord.SetEntry(context.Background(), metaEntryKey(req.Key), encodeMeta(data, mod), ttl)
			}
		}
		le.Release(data != nil)
	}, nil, nil
}
