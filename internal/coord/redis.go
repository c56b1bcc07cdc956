package coord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLease is how long a fleet lock lasts without renewal: a holder
// renews it every third of that, so a dead holder's lock frees within it.
const DefaultLease = 10 * time.Second

// RedisConfig configures the Redis coordinator.
type RedisConfig struct {
	// URL is redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://...; the
	// password may also come from REDISCLI_AUTH (never a flag).
	URL string
	// Namespace prefixes every key and channel, so fleets can share a
	// Redis: e.g. the bucket and prefix. "" means "pitstop".
	Namespace string
	// Lease is the lock lease; 0 means DefaultLease.
	Lease time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Redis coordinates replicas through a Redis server, degrading to a Local
// coordinator while the server is unreachable.
type Redis struct {
	c     *respClient
	ns    string
	lease time.Duration
	log   *slog.Logger
	local *Local

	down     atomic.Bool
	downMu   sync.Mutex
	lastTry  time.Time
	reqs     atomic.Int64
	errs     atomic.Int64
	nanos    atomic.Int64
	waits    atomic.Int64
	waitNs   atomic.Int64
	takeover atomic.Int64
}

// ErrBadRedis wraps a Redis URL or connection problem found at start.
var ErrBadRedis = errors.New("redis")

// OpenRedis parses the URL, connects and checks the server answers (and
// the password is right), so a wrong setting is reported at start.
func OpenRedis(ctx context.Context, cfg RedisConfig) (*Redis, error) {
	opt, err := parseRedisURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: URL %q: %v (want redis://[:PASSWORD@]HOST:PORT[/DB])", ErrBadRedis, redactURL(cfg.URL), err)
	}
	if opt.password == "" {
		opt.password = envPassword()
	}
	c := &respClient{o: opt}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Do(pctx, "PING"); err != nil {
		c.Close()
		msg := err.Error()
		switch {
		case strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "AUTH"):
			return nil, fmt.Errorf("%w at %s: wrong or missing password (%v): put it in the URL (redis://:PASSWORD@HOST:PORT) or REDISCLI_AUTH", ErrBadRedis, opt.addr, err)
		}
		return nil, fmt.Errorf("%w at %s unreachable: %v: start it or fix the URL", ErrBadRedis, opt.addr, err)
	}
	ns := cfg.Namespace
	if ns == "" {
		ns = "pitstop"
	}
	lease := cfg.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{c: c, ns: ns + ":", lease: lease, log: log, local: NewLocal()}, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "REDACTED" + u[i:]
		}
	}
	return u
}

// available reports whether to use Redis now: after a failure it waits a
// second before trying again, so a dead Redis costs little.
func (r *Redis) available() bool {
	if !r.down.Load() {
		return true
	}
	r.downMu.Lock()
	defer r.downMu.Unlock()
	if time.Since(r.lastTry) < time.Second {
		return false
	}
	r.lastTry = time.Now()
	r.reqs.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.c.Do(ctx, "PING"); err != nil {
		r.errs.Add(1)
		return false
	}
	r.down.Store(false)
	r.log.Info("redis is back: coordinating the fleet again")
	return true
}

// did accounts one command; it reports whether err means Redis is gone
// (then coordination goes local until it answers again).
func (r *Redis) did(start time.Time, err error) bool {
	r.reqs.Add(1)
	r.nanos.Add(int64(time.Since(start)))
	var re redisError
	if err == nil || errors.Is(err, errNil) {
		return false
	}
	r.errs.Add(1)
	if errors.As(err, &re) {
		return false // the server answered: it is there
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	if !r.down.Swap(true) {
		r.downMu.Lock()
		r.lastTry = time.Now()
		r.downMu.Unlock()
		r.log.Warn("redis unreachable: coordinating locally until it answers", "err", err)
	}
	return true
}

func token() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

const (
	renewScript   = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("pexpire", KEYS[1], ARGV[2]) else return 0 end`
	releaseScript = `if redis.call("get", KEYS[1]) == ARGV[1] then redis.call("del", KEYS[1]) end return redis.call("publish", KEYS[2], ARGV[2])`
)

// setNX sets key to val for ttl if it is not set and reports whether it did.
func (r *Redis) setNX(ctx context.Context, key, val string, ttl time.Duration) (bool, error) {
	_, err := r.c.Do(ctx, "SET", key, val, "NX", "PX", ttl.Milliseconds())
	if errors.Is(err, errNil) {
		return false, nil
	}
	return err == nil, err
}

// Lock implements Coordinator.
func (r *Redis) Lock(ctx context.Context, key string, landed func() bool) (Lease, bool, error) {
	lk, ch := r.ns+"lock:"+key, r.ns+"landed:"+key
	var start time.Time
	var sub *subscription
	defer func() {
		if sub != nil {
			sub.Close()
		}
		if !start.IsZero() {
			r.waits.Add(1)
			r.waitNs.Add(int64(time.Since(start)))
		}
	}()
	poll := 20 * time.Millisecond
	for {
		if landed != nil && landed() {
			return nil, true, nil
		}
		if !r.available() {
			return r.local.Lock(ctx, key, landed)
		}
		tok := token()
		t0 := time.Now()
		ok, err := r.setNX(ctx, lk, tok, r.lease)
		if r.did(t0, err) {
			return r.local.Lock(ctx, key, landed)
		}
		if err != nil {
			return nil, false, err
		}
		if ok {
			if !start.IsZero() {
				// We waited and no one landed it: the holder gave up or
				// its lease ran out.
				r.takeover.Add(1)
			}
			return r.newLease(lk, ch, tok), false, nil
		}
		if start.IsZero() {
			start = time.Now()
			// Subscribe, then look again: a landing between our SETNX
			// and the subscription is caught by the next landed().
			t0 := time.Now()
			sub, err = r.c.subscribe(ctx, ch)
			if r.did(t0, err) {
				return r.local.Lock(ctx, key, landed)
			}
			continue
		}
		var woken <-chan struct{}
		if sub != nil {
			woken = sub.C
		}
		select {
		case <-woken:
			poll = 20 * time.Millisecond
		case <-time.After(poll):
			poll = min(2*poll, r.lease/4, time.Second)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

type redisLease struct {
	r       *Redis
	lk, ch  string
	tok     string
	stop    chan struct{}
	cancel  context.CancelFunc // ends a renewal in flight at Release
	ctx     context.Context
	once    sync.Once
	renewed sync.WaitGroup
}

func (r *Redis) newLease(lk, ch, tok string) *redisLease {
	le := &redisLease{r: r, lk: lk, ch: ch, tok: tok, stop: make(chan struct{})}
	le.ctx, le.cancel = context.WithCancel(context.Background())
	le.renewed.Add(1)
	go le.renew()
	return le
}

func (le *redisLease) renew() {
	defer le.renewed.Done()
	// Renew every third of the lease; a renewal that fails (a slow or
	// dropped reply) is retried at once, with the time left on the lease
	// as its deadline, rather than a whole interval later.
	every := le.r.lease / 3
	t := time.NewTimer(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-le.stop:
			return
		case <-t.C:
		}
		left := le.r.lease - time.Since(last)
		if left <= 0 {
			le.r.log.Warn("fleet lock lease ran out before it could be renewed", "lock", le.lk)
			return
		}
		ctx, cancel := context.WithTimeout(le.ctx, left)
		t0 := time.Now()
		v, err := le.r.c.Do(ctx, "EVAL", renewScript, 1, le.lk, le.tok, le.r.lease.Milliseconds())
		n, _ := v.(int64)
		cancel()
		le.r.did(t0, err)
		switch {
		case err == nil && n == 0:
			le.r.log.Warn("fleet lock lost before its fetch finished", "lock", le.lk)
			return
		case err == nil:
			last = t0
			t.Reset(every)
		default:
			t.Reset(min(every, 10*time.Millisecond))
		}
	}
}

func (le *redisLease) Release(landed bool) {
	le.once.Do(func() {
		close(le.stop)
		le.cancel()
		le.renewed.Wait()
		msg := "released"
		if landed {
			msg = "landed"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		t0 := time.Now()
		_, err := le.r.c.Do(ctx, "EVAL", releaseScript, 2, le.lk, le.ch, le.tok, msg)
		le.r.did(t0, err)
	})
}

// GetEntry implements Coordinator.
func (r *Redis) GetEntry(ctx context.Context, key string) ([]byte, bool) {
	if !r.available() {
		return r.local.GetEntry(ctx, key)
	}
	t0 := time.Now()
	v, err := r.c.Do(ctx, "GET", r.ns+"entry:"+key)
	if r.did(t0, err) {
		return r.local.GetEntry(ctx, key)
	}
	b, ok := v.(string)
	return []byte(b), err == nil && ok
}

// SetEntry implements Coordinator.
func (r *Redis) SetEntry(ctx context.Context, key string, val []byte, ttl time.Duration) {
	r.local.SetEntry(ctx, key, val, ttl)
	if !r.available() {
		return
	}
	t0 := time.Now()
	_, err := r.c.Do(ctx, "SET", r.ns+"entry:"+key, val, "PX", max(ttl.Milliseconds(), 1))
	r.did(t0, err)
}

// Touch implements Coordinator: the use goes into a sorted set scored by
// Unix milliseconds.
func (r *Redis) Touch(ctx context.Context, key string) {
	r.local.Touch(ctx, key)
	if !r.available() {
		return
	}
	t0 := time.Now()
	_, err := r.c.Do(ctx, "ZADD", r.ns+"uses", time.Now().UnixMilli(), key)
	r.did(t0, err)
}

// LastUses implements Coordinator.
func (r *Redis) LastUses(ctx context.Context, keys []string) []time.Time {
	if len(keys) == 0 || !r.available() {
		return r.local.LastUses(ctx, keys)
	}
	t0 := time.Now()
	args := []any{"ZMSCORE", r.ns + "uses"}
	for _, k := range keys {
		args = append(args, k)
	}
	v, err := r.c.Do(ctx, args...)
	if r.did(t0, err) || err != nil {
		return r.local.LastUses(ctx, keys)
	}
	sc, _ := v.([]any)
	out := make([]time.Time, len(keys))
	for i := range min(len(sc), len(out)) {
		if s, ok := sc[i].(string); ok {
			if ms, err := strconv.ParseFloat(s, 64); err == nil && ms > 0 {
				out[i] = time.UnixMilli(int64(ms))
			}
		}
	}
	return out
}

// Forget drops keys' recorded uses (after gc deleted them).
func (r *Redis) Forget(ctx context.Context, keys []string) {
	if len(keys) == 0 || !r.available() {
		return
	}
	args := []any{"ZREM", r.ns + "uses"}
	for _, k := range keys {
		args = append(args, k)
	}
	t0 := time.Now()
	_, err := r.c.Do(ctx, args...)
	r.did(t0, err)
}

// TryGC implements Coordinator.
func (r *Redis) TryGC(ctx context.Context, ttl time.Duration) (func(), bool) {
	if !r.available() {
		return r.local.TryGC(ctx, ttl)
	}
	tok := token()
	t0 := time.Now()
	ok, err := r.setNX(ctx, r.ns+"gc", tok, ttl)
	if r.did(t0, err) {
		return r.local.TryGC(ctx, ttl)
	}
	if !ok {
		return nil, false
	}
	return func() {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := r.c.Do(ctx, "EVAL", releaseScript, 2, r.ns+"gc", r.ns+"gc-done", tok, "done")
		r.did(t0, err)
	}, true
}

// Stats implements Coordinator.
func (r *Redis) Stats() Stats {
	ls := r.local.Stats()
	return Stats{
		Requests:     r.reqs.Load(),
		Errors:       r.errs.Load(),
		Seconds:      time.Duration(r.nanos.Load()).Seconds(),
		LockWaits:    r.waits.Load() + ls.LockWaits,
		LockWaitSecs: time.Duration(r.waitNs.Load()).Seconds() + ls.LockWaitSecs,
		Takeovers:    r.takeover.Load(),
		Degraded:     r.down.Load(),
	}
}

// Close implements Coordinator.
func (r *Redis) Close() error { return r.c.Close() }

func envPassword() string { return os.Getenv("REDISCLI_AUTH") }
