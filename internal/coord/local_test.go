package coord_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
)

// TestLocalLock: within a process, a second Lock waits for the first and
// then sees the object landed; entries expire after their TTL.
func TestLocalLock(t *testing.T) {
	l := coord.NewLocal()
	ctx := context.Background()
	var stored atomic.Bool
	landed := func() bool { return stored.Load() }
	le, got, err := l.Lock(ctx, "k", landed)
	if err != nil || got || le == nil {
		t.Fatalf("Lock = %v %v %v", le, got, err)
	}
	done := make(chan bool, 1)
	go func() {
		le2, got, _ := l.Lock(ctx, "k", landed)
		if le2 != nil {
			le2.Release(false)
		}
		done <- got
	}()
	select {
	case <-done:
		t.Fatal("second Lock did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	stored.Store(true)
	le.Release(true)
	if !<-done {
		t.Error("second Lock took the lock instead of seeing the object landed")
	}
	if s := l.Stats(); s.LockWaits != 1 {
		t.Errorf("LockWaits = %d, want 1", s.LockWaits)
	}
	// A TTL long enough that a loaded machine reads the entry back before
	// it expires: the test is about expiry, not about scheduling latency.
	const ttl = time.Second
	set := time.Now()
	l.SetEntry(ctx, "e", []byte("v"), ttl)
	if v, ok := l.GetEntry(ctx, "e"); (!ok || string(v) != "v") && time.Since(set) < ttl {
		t.Errorf("GetEntry = %q %v", v, ok)
	}
	time.Sleep(ttl + 30*time.Millisecond)
	if _, ok := l.GetEntry(ctx, "e"); ok {
		t.Error("entry outlived its TTL")
	}
	rel, ok := l.TryGC(ctx, time.Minute)
	if !ok {
		t.Fatal("TryGC on a free lock failed")
	}
	if _, ok := l.TryGC(ctx, time.Minute); ok {
		t.Error("TryGC succeeded twice")
	}
	rel()
}

// TestLocalEntriesBoundedInBytes: large shared answers (lists) cannot grow
// the local entries past their byte bound; the newest stays readable.
func TestLocalEntriesBoundedInBytes(t *testing.T) {
	l := coord.NewLocal()
	ctx := context.Background()
	val := make([]byte, 1<<20)
	for i := range 3 * coord.MaxLocalBytes / len(val) {
		l.SetEntry(ctx, fmt.Sprint("k", i), val, time.Hour)
		if n := l.EntryBytes(); n > coord.MaxLocalBytes {
			t.Fatalf("after %d entries of 1 MiB the local entries hold %d bytes, above the bound %d", i+1, n, coord.MaxLocalBytes)
		}
	}
	if b, ok := l.GetEntry(ctx, fmt.Sprint("k", 3*coord.MaxLocalBytes/len(val)-1)); !ok || len(b) != len(val) {
		t.Errorf("the newest entry is gone (%v, %d bytes)", ok, len(b))
	}
	l.SetEntry(ctx, "huge", make([]byte, coord.MaxLocalBytes+1), time.Hour)
	if _, ok := l.GetEntry(ctx, "huge"); ok {
		t.Error("an entry larger than the whole bound was kept")
	}
}
