package store_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
)

// BenchmarkGetHit: a warm read of a small object (open, fstat, read, close).
func BenchmarkGetHit(b *testing.B) {
	d, err := store.Open(b.TempDir(), store.Options{MaxSize: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := "golang.org/x/text/@v/v0.3.0.info"
	d.Put(ctx, key, strings.NewReader(`{"Version":"v0.3.0","Time":"2017-12-14T13:08:43Z"}`))
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		obj, err := d.Get(ctx, key)
		if err != nil {
			b.Fatal(err)
		}
		io.ReadFull(obj.Body, buf[:obj.Size])
		obj.Close()
	}
}

// BenchmarkIndexMemory reports the heap the in-memory index takes per
// object, for 20,000 objects with proxy-like keys.
func BenchmarkIndexMemory(b *testing.B) {
	dir := b.TempDir()
	d, _ := store.Open(dir, store.Options{NoSync: true})
	const n = 20000
	for i := range n {
		d.Put(context.Background(), fmt.Sprintf("github.com/owner%d/module%d/@v/v1.%d.0.mod", i/100, i%100, i), strings.NewReader("m"))
	}
	b.ResetTimer()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d2, err := store.Open(dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heapB/object")
		runtime.KeepAlive(d2)
	}
}
