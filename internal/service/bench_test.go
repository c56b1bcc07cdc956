package service

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// discardWriter is a ResponseWriter that costs nothing, so the benchmarks
// measure the middleware alone.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

var infoBody = []byte(`{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`)

func infoHandler(w http.ResponseWriter, r *http.Request) {
	SetRoute(w, "info")
	w.Write(infoBody)
}

func benchServe(b *testing.B, h http.Handler) {
	req, _ := http.NewRequest("GET", "/golang.org/x/text/@v/v0.3.0.info", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

func wrapped(b *testing.B, log *slog.Logger, token string) http.Handler {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(infoHandler), AuthToken: token}
	return s.wrap(log, m, reg)
}

func BenchmarkBare(b *testing.B) { benchServe(b, http.HandlerFunc(infoHandler)) }

func BenchmarkWrappedNoLog(b *testing.B) {
	benchServe(b, wrapped(b, slog.New(slog.DiscardHandler), ""))
}

func BenchmarkWrappedJSONLog(b *testing.B) {
	log, _ := NewLogger("json", io.Discard)
	benchServe(b, wrapped(b, log, ""))
}

func BenchmarkWrappedTextLog(b *testing.B) {
	log, _ := NewLogger("text", io.Discard)
	benchServe(b, wrapped(b, log, ""))
}
