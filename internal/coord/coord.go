// Package coord coordinates pitstop replicas that share one store: a
// fleet-wide single flight for misses (a lock with a lease the holder
// renews; waiters woken when the object lands; a dead holder's lease
// expiring so another replica takes over), shared entries with a TTL, and
// a gc lock so one replica at a time trims the shared store.
//
// New(nil-ish config) gives the local coordinator, which coordinates
// nothing beyond the process (each replica's own single flight already
// dedupes its clients). The Redis coordinator degrades to the local one
// while Redis is unreachable: it logs once, keeps serving, and goes back to
// Redis when it answers again. Nothing here ever fails a request because
// Redis is gone.
package coord

import (
	"context"
	"time"
)

// Coordinator is what replicas share.
type Coordinator interface {
	// Lock takes the fleet-wide lock named key, waiting while another
	// replica holds it. Before each try and whenever woken it calls
	// landed: if that reports true (the object is now in the shared
	// store), Lock returns (nil, true, nil) and the caller serves what
	// landed. Otherwise the caller gets a held Lease, which it must
	// Release. A holder that dies stops renewing; its lease runs out and
	// a waiter takes over.
	Lock(ctx context.Context, key string, landed func() bool) (Lease, bool, error)

	// GetEntry returns a shared entry (a list, @latest or query answer, a
	// not-found) and whether there was one; SetEntry stores one for ttl.
	GetEntry(ctx context.Context, key string) ([]byte, bool)
	SetEntry(ctx context.Context, key string, val []byte, ttl time.Duration)

	// Touch records a use of an object for fleet-wide LRU gc;
	// LastUses reports the recorded uses of keys (zero when unknown).
	Touch(ctx context.Context, key string)
	LastUses(ctx context.Context, keys []string) []time.Time

	// TryGC takes the fleet's gc lock for ttl without waiting; ok false
	// means another replica is collecting.
	TryGC(ctx context.Context, ttl time.Duration) (release func(), ok bool)

	// Stats reports counters for /metrics.
	Stats() Stats

	Close() error
}

// Lease is a held lock. Release gives it up; landed says the object is now
// stored, which wakes the waiters at once.
type Lease interface {
	Release(landed bool)
}

// Stats are a coordinator's counters.
type Stats struct {
	Requests     int64   // Redis commands sent
	Errors       int64   // Redis commands that failed (connection or server)
	Seconds      float64 // total Redis command latency
	LockWaits    int64   // Lock calls that had to wait for another replica
	LockWaitSecs float64 // total time spent waiting
	Takeovers    int64   // locks taken after a holder's lease ran out
	Degraded     bool    // Redis unreachable: coordinating locally
}
