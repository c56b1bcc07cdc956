package modproxy

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
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
	h := &Handler{Store: st, Logger: slog.New(slog.DiscardHandler),
		Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	p := testupstream.FilePath("example.com/dep", "v1.0.0", "info")
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
