package modproxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkInfoHit measures the handler alone on a warm .info hit.
func BenchmarkInfoHit(b *testing.B) {
	up := testupstream.NewForTest(b, graph...)
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	benchWarmHit(b, up, st, testupstream.FilePath("example.com/dep", "v1.0.0", "info"))
}

// benchWarmHit fetches p once through a handler on st, then measures the
// handler alone answering it again, from parallel goroutines.
func benchWarmHit(b *testing.B, up *testupstream.Server, st store.Store, p string) {
	h := &Handler{Store: st, Logger: slog.New(slog.DiscardHandler),
		Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
	if rec.Code != 200 {
		b.Fatal(rec.Code)
	}
	req := httptest.NewRequest("GET", p, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &nopWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkPolicyGate measures warm answers with a policy (cooldown,
// vulnerability database, retractions) against the same handler setup
// without one, interleaved in one run: "x-list" and "x-info" are the
// policy's cost as a ratio of the plain answer's time.
func BenchmarkPolicyGate(b *testing.B) {
	old := time.Now().Add(-100 * 24 * time.Hour)
	var mods []testupstream.Module
	for i := range 50 {
		mods = append(mods, timed("example.com/vuln", fmt.Sprintf("v1.%d.0", i), old.Add(time.Duration(i)*time.Hour)))
	}
	up := testupstream.NewForTest(b, mods...)
	newHandler := func(src *policy.Source) *Handler {
		st, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return &Handler{Store: st, Logger: slog.New(slog.DiscardHandler), Policy: src,
			Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	}
	dir := b.TempDir()
	os.CopyFS(filepath.Join(dir, "vulndb"), os.DirFS("testdata/vulndb"))
	file := filepath.Join(dir, "policy.toml")
	os.WriteFile(file, []byte("vulndb = \"vulndb\"\n[default]\nmin_age = \"3d\"\n"), 0o644)
	src, err := policy.Open(file, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	plain, gated := newHandler(nil), newHandler(src)
	list := "/example.com/vuln/@v/list"
	info := testupstream.FilePath("example.com/vuln", "v1.40.0", "info")
	for _, h := range []*Handler{plain, gated} {
		for _, p := range []string{list, info} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
			if rec.Code != 200 {
				b.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
			}
		}
	}
	var tPlain, tGated [2]time.Duration
	w := &nopWriter{h: http.Header{}}
	reqs := []*http.Request{httptest.NewRequest("GET", list, nil), httptest.NewRequest("GET", info, nil)}
	b.ResetTimer()
	for range b.N {
		for i, r := range reqs {
			clear(w.h)
			t0 := time.Now()
			plain.ServeHTTP(w, r)
			t1 := time.Now()
			clear(w.h)
			gated.ServeHTTP(w, r)
			tGated[i] += time.Since(t1)
			tPlain[i] += t1.Sub(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tPlain[0].Nanoseconds())/n, "ns-list-plain")
	b.ReportMetric(float64(tGated[0].Nanoseconds())/n, "ns-list-policy")
	b.ReportMetric(float64(tGated[0])/float64(tPlain[0]), "x-list")
	b.ReportMetric(float64(tGated[1])/float64(tPlain[1]), "x-info")
}

// BenchmarkWarmModTier measures the handler alone on a warm .mod hit with
// the single-node disk store ("disk") and with a replica's local tier in
// front of a shared store ("tiered"; the remote is a second disk store, as
// a warm hit never reaches it). bench/fleet measures the same over
// loopback HTTP with S3 behind the tier; this isolates the handler's part.
func BenchmarkWarmModTier(b *testing.B) {
	up := testupstream.NewForTest(b, graph...)
	open := func() *store.Disk {
		st, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	p := testupstream.FilePath("example.com/dep", "v1.0.0", "mod")
	for _, c := range []struct {
		name string
		st   store.Store
	}{
		{"disk", open()},
		{"tiered", &store.Tiered{Local: open(), Remote: open(), Mutable: MutableKey}},
	} {
		b.Run(c.name, func(b *testing.B) { benchWarmHit(b, up, c.st, p) })
	}
}

// BenchmarkWarmZipOpen measures opening and closing a warm zip as the
// handler does before sendfile: the single-node disk store's GetFile, a
// replica's tier as it was (Get, the path parsed to decide mutability) and
// as it is (GetFile, the suffix fast path), interleaved in one run.
func BenchmarkWarmZipOpen(b *testing.B) {
	ctx := b.Context()
	open := func() *store.Disk {
		st, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	key := "example.com/dep/@v/v1.0.0.zip"
	parsed := func(k string) bool { req, err := ParseRequest("/" + k); return err != nil || !req.Immutable() }
	disk := open()
	before := &store.Tiered{Local: open(), Remote: open(), Mutable: parsed}
	now := &store.Tiered{Local: open(), Remote: open(), Mutable: MutableKey}
	for _, st := range []store.Store{disk, before.Local, now.Local} {
		if err := st.Put(ctx, key, strings.NewReader(strings.Repeat("z", 64<<10))); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		get  func(context.Context, string) (store.Object, error)
	}{
		{"disk-getfile", disk.GetFile},
		{"tier-before", before.Get},
		{"tier-now", now.GetFile},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				obj, err := c.get(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				obj.Close()
			}
		})
	}
}
