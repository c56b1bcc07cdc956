package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

// BenchmarkWrappedTextLogParallel is BenchmarkWrappedTextLog from every
// CPU at once, as a busy server runs it: against the serial figure it
// shows what the counters and the log buffer shared by all requests cost
// when CPUs contend for them (ns/op halves on 2 CPUs when nothing is
// shared).
func BenchmarkWrappedTextLogParallel(b *testing.B) {
	log, _ := NewLogger("text", io.Discard)
	h := wrapped(b, log, "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", "/golang.org/x/text/@v/v0.3.0.info", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
}

// BenchmarkStream measures a 16 MiB response over loopback written in
// 32 KiB Writes and sent from a file (sendfile), with the progress rule
// on (the default) and off: the rule's cost is a deadline per write.
func BenchmarkStream(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20)
	os.WriteFile(p, data, 0o644)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/file" {
			f, _ := os.Open(p)
			defer f.Close()
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			io.Copy(w, f)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for b := data; len(b) > 0; b = b[32<<10:] {
			w.Write(b[:32<<10])
		}
	})
	for _, path := range []string{"/write", "/file"} {
		for _, tc := range []struct {
			name    string
			timeout time.Duration
		}{{"progress", 0}, {"unlimited", -1}} {
			b.Run(path[1:]+"/"+tc.name, func(b *testing.B) {
				srv := &Server{Addr: "127.0.0.1:0", Handler: h, ProgressTimeout: tc.timeout, Logger: slog.New(slog.DiscardHandler)}
				ready := make(chan net.Addr, 1)
				srv.Ready = func(a net.Addr) { ready <- a }
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- srv.Run(ctx) }()
				defer func() { cancel(); <-done }()
				url := "http://" + (<-ready).String() + path
				cl := &http.Client{Transport: &http.Transport{}}
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					resp, err := cl.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				cl.CloseIdleConnections()
			})
		}
	}
}
