package modproxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// BenchmarkServedHit measures warm .info and .mod hits over a keep-alive
// loopback connection, served as "pitstop proxy serve" serves them
// (service.Server with metrics, the status page and the text access
// log, to io.Discard), against a bare handler answering the same bytes
// from memory under a plain http.Server, in one run. The client is a
// fixed request written and a response of known length read, so
// allocs/op are the servers'; pitstop's minus bare's are what the proxy
// adds per hit.
func BenchmarkServedHit(b *testing.B) {
	up := testupstream.NewForTest(b, graph...)
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log, _ := service.NewLogger("text", io.Discard)
	h := &Handler{Store: st, Logger: log, Registry: reg,
		Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}}
	h.UseStats(NewStats())
	paths := map[string]string{
		"info": testupstream.FilePath("example.com/dep", "v1.0.0", "info"),
		"mod":  testupstream.FilePath("example.com/dep", "v1.0.0", "mod"),
	}
	bodies := map[string][]byte{}
	for _, p := range paths {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			b.Fatalf("%s: %d", p, rec.Code)
		}
		bodies[p] = rec.Body.Bytes()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &service.Server{Name: "proxy", Listener: ln, Handler: h, Logger: log, Registry: reg,
		Status: &service.StatusPage{Title: "pitstop proxy", Parts: []service.StatusPart{{Stats: h.Status}}}}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	bareLn, _ := net.Listen("tcp", "127.0.0.1:0")
	ctype := []string{"application/octet-stream"}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header()["Content-Type"] = ctype
		w.Write(body)
	})}
	go bare.Serve(bareLn)
	defer bare.Close()

	for _, kind := range []string{"info", "mod"} {
		for _, server := range []struct {
			name string
			addr string
		}{{"bare", bareLn.Addr().String()}, {"pitstop", ln.Addr().String()}} {
			b.Run(kind+"/"+server.name, func(b *testing.B) {
				benchKeepAlive(b, server.addr, paths[kind])
			})
		}
	}
}

// benchKeepAlive sends GET path on one connection b.N times.
func benchKeepAlive(b *testing.B, addr, path string) {
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer cn.Close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: Go-http-client/1.1\r\n\r\n")
	// The first response's length is every response's: the headers
	// differ only in the Date, which has a fixed width.
	cn.Write(req)
	var first bytes.Buffer
	resp, err := http.ReadResponse(bufio.NewReader(io.TeeReader(cn, &first)), nil)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %s", path, resp.Status)
	}
	size := bytes.Index(first.Bytes(), []byte("\r\n\r\n")) + 4 + int(resp.ContentLength)
	buf := make([]byte, size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := cn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(cn, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		b.Fatalf("last response: %q", buf)
	}
}
