package modproxy

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// memCache keeps small answers (.info, .mod, lists, checksum-database
// lookups and tiles) in memory with their response headers prepared, so a
// warm hit is a map read and one write. It is bounded in bytes and evicts
// the least recently used entries (approximately: a use stamps the entry
// with the clock, which only puts advance, so a hit writes nothing shared
// unless the entry's stamp is older than the last put; eviction scans).
// A hit reads the map without a lock (sync.Map: nothing shared is written
// to find an entry, so hits on both cores do not contend); puts, drops and
// eviction keep the byte count under mu.
type memCache struct {
	max     int64
	maxItem int

	mu    sync.Mutex // bytes, and changes to m
	m     sync.Map   // string -> *memEntry
	bytes int64
	clock atomic.Int64
}

type memEntry struct {
	kind      Kind
	immutable bool
	data      []byte
	modTime   time.Time // when stored upstream-fresh (TTL base)
	ctype     []string
	clen      []string
	lastMod   []string
	etag      []string
	cc        []string
	used      atomic.Int64
	checked   atomic.Int64 // unix nanoseconds of the last check against the store
}

func newMemCache(max int64, maxItem int) *memCache {
	return &memCache{max: max, maxItem: maxItem}
}

func (c *memCache) get(key string) *memEntry {
	if c == nil {
		return nil
	}
	v, _ := c.m.Load(key)
	e, _ := v.(*memEntry)
	if e != nil {
		if now := c.clock.Load(); e.used.Load() != now {
			e.used.Store(now)
		}
	}
	return e
}

func (c *memCache) put(key string, req Request, data []byte, modTime time.Time, ctype, cacheControl string, immutable bool) *memEntry {
	if c == nil || len(data) > c.maxItem || int64(len(data)) > c.max {
		return nil
	}
	e := &memEntry{
		kind:      req.Kind,
		immutable: immutable,
		data:      data,
		modTime:   modTime,
		ctype:     []string{ctype},
		clen:      []string{strconv.Itoa(len(data))},
		lastMod:   []string{modTime.UTC().Format(http.TimeFormat)},
		etag:      []string{etagOf(int64(len(data)), modTime)},
		cc:        []string{cacheControl},
	}
	e.checked.Store(time.Now().UnixNano())
	e.used.Store(c.clock.Add(1))
	c.mu.Lock()
	if old, loaded := c.m.Swap(key, e); loaded {
		c.bytes -= int64(len(old.(*memEntry).data))
	}
	c.bytes += int64(len(data))
	over := c.bytes > c.max
	c.mu.Unlock()
	if over {
		c.evict()
	}
	return e
}

// drop removes key if it still maps to e.
func (c *memCache) drop(key string, e *memEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if c.m.CompareAndDelete(key, e) {
		c.bytes -= int64(len(e.data))
	}
	c.mu.Unlock()
}

func (c *memCache) evict() {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.max - c.max/4
	for c.bytes > target {
		// Drop the oldest of a sample; caches of this size hold a few
		// thousand entries, so a full scan per eviction round is cheap.
		var oldK string
		var oldE *memEntry
		c.m.Range(func(k, v any) bool {
			if e := v.(*memEntry); oldE == nil || e.used.Load() < oldE.used.Load() {
				oldK, oldE = k.(string), e
			}
			return true
		})
		if oldE == nil {
			return
		}
		c.bytes -= int64(len(oldE.data))
		c.m.Delete(oldK)
	}
}

func etagOf(size int64, mod time.Time) string {
	return `"` + strconv.FormatInt(size, 36) + "-" + strconv.FormatInt(mod.UnixNano(), 36) + `"`
}
