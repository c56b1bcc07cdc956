package coord

import (
	"context"
	"sync"
	"time"
)

// Local coordinates within one process only: what a replica does without
// Redis, and while Redis is unreachable.
type Local struct {
	mu      sync.Mutex
	locks   map[string]chan struct{} // closed on release
	entries map[string]localEntry
	bytes   int // of entries' values
	uses    map[string]time.Time
	gc      sync.Mutex
	waits   int64
	waitSec float64
}

type localEntry struct {
	val   []byte
	until time.Time
}

// maxLocalEntries bounds the in-memory entries and uses; maxLocalBytes
// the entries' values (shared list and @latest answers can be large).
const (
	maxLocalEntries = 100_000
	maxLocalBytes   = 32 << 20
)

// NewLocal returns a process-local coordinator.
func NewLocal() *Local {
	return &Local{locks: map[string]chan struct{}{}, entries: map[string]localEntry{}, uses: map[string]time.Time{}}
}

// Lock implements Coordinator.
func (l *Local) Lock(ctx context.Context, key string, landed func() bool) (Lease, bool, error) {
	var start time.Time
	for {
		if landed != nil && landed() {
			l.waited(start)
			return nil, true, nil
		}
		l.mu.Lock()
		ch, held := l.locks[key]
		if !held {
			ch = make(chan struct{})
			l.locks[key] = ch
			l.mu.Unlock()
			l.waited(start)
			return &localLease{l: l, key: key, ch: ch}, false, nil
		}
		l.mu.Unlock()
		if start.IsZero() {
			start = time.Now()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			l.waited(start)
			return nil, false, ctx.Err()
		}
	}
}

func (l *Local) waited(start time.Time) {
	if start.IsZero() {
		return
	}
	l.mu.Lock()
	l.waits++
	l.waitSec += time.Since(start).Seconds()
	l.mu.Unlock()
}

type localLease struct {
	l    *Local
	key  string
	ch   chan struct{}
	once sync.Once
}

func (le *localLease) Release(bool) {
	le.once.Do(func() {
		le.l.mu.Lock()
		if le.l.locks[le.key] == le.ch {
			delete(le.l.locks, le.key)
		}
		le.l.mu.Unlock()
		close(le.ch)
	})
}

// GetEntry implements Coordinator.
func (l *Local) GetEntry(_ context.Context, key string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[key]
	if !ok || time.Now().After(e.until) {
		l.drop(key)
		return nil, false
	}
	return e.val, true
}

// SetEntry implements Coordinator.
func (l *Local) SetEntry(_ context.Context, key string, val []byte, ttl time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop(key)
	if len(val) > maxLocalBytes {
		return
	}
	if len(l.entries) >= maxLocalEntries || l.bytes+len(val) > maxLocalBytes {
		now := time.Now()
		for k, e := range l.entries {
			if now.After(e.until) || len(l.entries) >= maxLocalEntries || l.bytes+len(val) > maxLocalBytes {
				l.drop(k)
			}
		}
	}
	l.entries[key] = localEntry{val: val, until: time.Now().Add(ttl)}
	l.bytes += len(val)
}

// drop removes an entry; l.mu is held.
func (l *Local) drop(key string) {
	if e, ok := l.entries[key]; ok {
		l.bytes -= len(e.val)
		delete(l.entries, key)
	}
}

// Touch implements Coordinator.
func (l *Local) Touch(_ context.Context, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.uses[key]; !ok && len(l.uses) >= maxLocalEntries {
		for k := range l.uses {
			delete(l.uses, k)
			break
		}
	}
	l.uses[key] = time.Now()
}

// LastUses implements Coordinator.
func (l *Local) LastUses(_ context.Context, keys []string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]time.Time, len(keys))
	for i, k := range keys {
		out[i] = l.uses[k]
	}
	return out
}

// TryGC implements Coordinator.
func (l *Local) TryGC(context.Context, time.Duration) (func(), bool) {
	if !l.gc.TryLock() {
		return nil, false
	}
	return l.gc.Unlock, true
}

// Stats implements Coordinator.
func (l *Local) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{LockWaits: l.waits, LockWaitSecs: l.waitSec}
}

// Close implements Coordinator.
func (l *Local) Close() error { return nil }
