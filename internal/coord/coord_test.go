package coord_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/testfleet"
)

func open(t *testing.T, url string, lease time.Duration) *coord.Redis {
	t.Helper()
	c, err := coord.OpenRedis(context.Background(), coord.RedisConfig{URL: url, Lease: lease, Namespace: "t"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestLandedWakesWaiter: replica B waits on A's lock and is woken when A's
// object lands, without taking the lock itself.
func TestLandedWakesWaiter(t *testing.T) {
	rs := testfleet.StartRedis(t)
	a, b := open(t, rs.URL, 5*time.Second), open(t, rs.URL, 5*time.Second)
	ctx := context.Background()
	var stored atomic.Bool
	landed := func() bool { return stored.Load() }
	la, got, err := a.Lock(ctx, "k", landed)
	if err != nil || got || la == nil {
		t.Fatalf("A: Lock = %v, %v, %v; want the lease", la, got, err)
	}
	done := make(chan bool, 1)
	go func() {
		lb, got, err := b.Lock(ctx, "k", landed)
		if err != nil {
			t.Error(err)
		}
		if lb != nil {
			lb.Release(false)
		}
		done <- got
	}()
	select {
	case <-done:
		t.Fatal("B got past A's lock while A held it")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	stored.Store(true)
	la.Release(true)
	select {
	case got := <-done:
		if !got {
			t.Fatal("B took the lock instead of seeing the object landed")
		}
		// A's lease is renewed until the release, so only the landing
		// (or the release) can let B go; how soon is scheduling, not
		// behaviour, so it is logged rather than asserted.
		t.Logf("B woke %v after the landing", time.Since(start).Round(time.Millisecond))
	case <-time.After(time.Minute):
		t.Fatal("B was not woken by the landing within a minute")
	}
	if s := b.Stats(); s.LockWaits != 1 || s.Requests == 0 {
		t.Errorf("B stats = %+v, want 1 lock wait and some requests", s)
	}
}

// TestDeadHolderLeaseExpires: a holder that stops renewing (dead) frees
// the lock when its lease runs out, and a waiter takes over.
func TestDeadHolderLeaseExpires(t *testing.T) {
	rs := testfleet.StartRedis(t)
	const lease = 600 * time.Millisecond
	b := open(t, rs.URL, lease)
	// A dead replica's lock: set like a holder would, never renewed. The
	// clock starts before the SET, so a stall between it and Lock does
	// not make the takeover look early.
	start := time.Now()
	if err := coord.RawDo(rs.URL, "SET", "t:lock:k", "dead", "PX", lease.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	lb, got, err := b.Lock(context.Background(), "k", func() bool { return false })
	if err != nil || got || lb == nil {
		t.Fatalf("Lock = %v, %v, %v; want the lease after expiry", lb, got, err)
	}
	defer lb.Release(false)
	if d := time.Since(start); d < lease/2 {
		t.Errorf("took the lock after %v, before the dead holder's lease (%v) ran out", d, lease)
	}
	if s := b.Stats(); s.Takeovers != 1 {
		t.Errorf("Takeovers = %d, want 1", s.Takeovers)
	}
}

// TestLiveHolderRenews: a live holder keeps its lock past the lease.
func TestLiveHolderRenews(t *testing.T) {
	rs := testfleet.StartRedis(t)
	// A lease long enough that a loaded 2-core CI machine still renews in
	// time: the test is about renewal, not about scheduling latency.
	const lease = time.Second
	a, b := open(t, rs.URL, lease), open(t, rs.URL, lease)
	la, _, err := a.Lock(context.Background(), "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*lease)
	defer cancel()
	if lb, _, err := b.Lock(ctx, "k", nil); err == nil {
		lb.Release(false)
		t.Fatal("B took a lock A was renewing")
	}
	la.Release(false)
}

// TestRedisLostDegrades: with Redis killed, Lock and entries keep working
// locally; when Redis returns, coordination goes back to it.
func TestRedisLostDegrades(t *testing.T) {
	rs := testfleet.StartRedis(t)
	a := open(t, rs.URL, time.Second)
	ctx := context.Background()
	a.SetEntry(ctx, "e", []byte("v"), time.Minute)
	rs.Kill()
	for i := range 20 {
		le, _, err := a.Lock(ctx, "k", nil)
		if err != nil || le == nil {
			t.Fatalf("Lock %d with Redis down = %v, %v; want a local lease", i, le, err)
		}
		le.Release(true)
	}
	if !a.Stats().Degraded {
		t.Error("Stats().Degraded = false with Redis down")
	}
	if v, ok := a.GetEntry(ctx, "e"); !ok || string(v) != "v" {
		t.Errorf("GetEntry with Redis down = %q, %v; want the local copy", v, ok)
	}
	rs.Restart()
	deadline := time.Now().Add(time.Minute) // Redis restarting on a loaded machine
	for !usesRedis(t, a, rs) || a.Stats().Degraded {
		if time.Now().After(deadline) {
			t.Fatal("did not go back to Redis within a minute after it returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func usesRedis(t *testing.T, a *coord.Redis, rs *testfleet.Redis) bool {
	le, _, err := a.Lock(context.Background(), "probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer le.Release(false)
	v, err := coord.RawReply(rs.URL, "EXISTS", "t:lock:probe")
	return err == nil && v == int64(1)
}

// TestBadRedis: a wrong URL or an unreachable server is reported at open.
func TestBadRedis(t *testing.T) {
	for _, u := range []string{"http://x", "redis://127.0.0.1:1"} {
		if _, err := coord.OpenRedis(context.Background(), coord.RedisConfig{URL: u}); err == nil {
			t.Errorf("OpenRedis(%q) succeeded", u)
		}
	}
}

// TestRedisPassword: a server with a password refuses a missing or wrong
// one at open, saying so, and takes the right one from the URL or
// REDISCLI_AUTH.
func TestRedisPassword(t *testing.T) {
	rs := testfleet.StartRedis(t, "--requirepass", "s3cret")
	ctx := context.Background()
	for _, u := range []string{rs.URL, "redis://:wrong@" + rs.Addr} {
		_, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: u})
		if err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("OpenRedis(%q) = %v, want a password error", u, err)
		}
	}
	c, err := coord.OpenRedis(ctx, coord.RedisConfig{URL: "redis://:s3cret@" + rs.Addr + "/2"})
	if err != nil {
		t.Fatal(err)
	}
	c.SetEntry(ctx, "e", []byte("v\r\n$3 bytes"), time.Minute)
	c.Close()
	t.Setenv("REDISCLI_AUTH", "s3cret")
	c, err = coord.OpenRedis(ctx, coord.RedisConfig{URL: "redis://" + rs.Addr + "/2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A fresh coordinator has no local copy: this reads db 2 on the server.
	if v, ok := c.GetEntry(ctx, "e"); !ok || string(v) != "v\r\n$3 bytes" {
		t.Errorf("GetEntry = %q, %v", v, ok)
	}
	if _, ok := c.GetEntry(ctx, "missing"); ok {
		t.Error("GetEntry of a missing key found one")
	}
	c.Touch(ctx, "a")
	if u := c.LastUses(ctx, []string{"a", "b"}); u[0].IsZero() || !u[1].IsZero() {
		t.Errorf("LastUses = %v, want a then zero", u)
	}
}
