package modproxy

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memBytes sums the entries c holds, to check its byte count against.
func memBytes(c *memCache) (n int64, count int) {
	c.m.Range(func(_, v any) bool {
		n += int64(len(v.(*memEntry).data))
		count++
		return true
	})
	return n, count
}

func TestMemCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newMemCache(1000, 100)
	data := make([]byte, 100)
	put := func(k string) { c.put(k, Request{Kind: KindInfo}, data, time.Now(), jsonType, ccImmutable, true) }
	for i := range 10 {
		put("k" + strconv.Itoa(i))
	}
	if c.get("k0") == nil { // used: now as recent as the last put
		t.Fatal("k0 missing before the cache was full")
	}
	put("k10") // 1100 bytes: evict down to three quarters
	for _, k := range []string{"k0", "k10", "k9"} {
		if c.get(k) == nil {
			t.Errorf("%s evicted, but it was among the most recently used", k)
		}
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		if c.get(k) != nil {
			t.Errorf("%s kept, but it was among the least recently used", k)
		}
	}
	n, _ := memBytes(c)
	if c.bytes != n || n > 750 {
		t.Errorf("byte count %d, entries hold %d; want equal and at most 750", c.bytes, n)
	}
}

// TestMemCacheConcurrent: hits read without a lock while puts, drops and
// evictions run; the byte count stays that of the entries held, within
// the bound (run with -race).
func TestMemCacheConcurrent(t *testing.T) {
	c := newMemCache(4000, 300)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				k := fmt.Sprint("k", (i*7+g)%50)
				switch i % 5 {
				case 0:
					c.put(k, Request{Kind: KindMod}, make([]byte, 1+(i%300)), time.Now(), textType, ccImmutable, true)
				case 1:
					if e := c.get(k); e != nil {
						c.drop(k, e)
					}
				default:
					if e := c.get(k); e != nil && len(e.data) == 0 {
						t.Error("empty entry")
					}
				}
			}
		}()
	}
	wg.Wait()
	n, count := memBytes(c)
	if c.bytes != n || n > 4000 {
		t.Errorf("byte count %d, %d entries hold %d; want equal and at most 4000", c.bytes, count, n)
	}
}
