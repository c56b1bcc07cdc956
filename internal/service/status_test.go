package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/store"
)

// TestStatsBounded: however many distinct keys and clients arrive, the
// tables stay at their bounds, and the heavy keys stay in them with their
// exact counts when they dominate.
func TestStatsBounded(t *testing.T) {
	s := &Stats{Name: "t"}
	now := time.Now()
	for i := range 20000 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		s.Record(at, fmt.Sprintf("10.0.%d.%d:1234", i/256%256, i%256), fmt.Sprintf("example.com/m%d", i), false, 10)
		if i%4 == 0 {
			s.Record(at, "192.168.1.7:5555", "example.com/heavy", true, 1000)
		}
		s.Event(EventMiss, fmt.Sprintf("k%d", i), strings.Repeat("x", 1000))
	}
	snap := s.Snapshot(now.Add(20 * time.Second))
	if len(snap.TopByReqs) > TopEntries || len(snap.TopByBytes) > TopEntries {
		t.Fatalf("top tables %d, %d rows; want at most %d", len(snap.TopByReqs), len(snap.TopByBytes), TopEntries)
	}
	if snap.TopByReqs[0].Key != "example.com/heavy" || snap.TopByReqs[0].Requests-snap.TopByReqs[0].Overestimate > 5000 || snap.TopByReqs[0].Requests < 5000 {
		t.Errorf("top by requests = %+v; want example.com/heavy with 5000 (within its overestimate)", snap.TopByReqs[0])
	}
	if snap.TopByBytes[0].Key != "example.com/heavy" || snap.TopByBytes[0].Bytes < 5000*1000 {
		t.Errorf("top by bytes = %+v; want example.com/heavy with at least 5000000", snap.TopByBytes[0])
	}
	if len(snap.Clients) != MaxClients {
		t.Errorf("%d clients kept; want %d", len(snap.Clients), MaxClients)
	}
	var heavy *Client
	for i, c := range snap.Clients[:5] {
		if c.Addr == "192.168.1.7" {
			heavy = &snap.Clients[i]
		}
	}
	if heavy == nil || heavy.Requests != 5000 || heavy.Bytes != 5000*1000 {
		t.Errorf("192.168.1.7 among the 5 most recent clients: %+v; want it with 5000 requests", heavy)
	}
	if len(snap.Events) != MaxEvents || snap.Events[0].Subject != "k19999" || len(snap.Events[0].Detail) > maxDetailLen+4 {
		t.Errorf("events: %d, newest %q with a %d-byte detail; want %d, k19999, cut", len(snap.Events), snap.Events[0].Subject, len(snap.Events[0].Detail), MaxEvents)
	}
	all := snap.Windows[2]
	if all.Requests != 25000 || all.Hits != 5000 || all.Bytes != 20000*10+5000*1000 {
		t.Errorf("since start: %+v; want 25000 requests, 5000 hits, %d bytes", all, 20000*10+5000*1000)
	}
}

// TestStatsWindows: requests fall out of the 5-minute window after five
// minutes and out of the hour after an hour; the totals keep them.
func TestStatsWindows(t *testing.T) {
	s := &Stats{Name: "t"}
	t0 := time.Now()
	s.Record(t0.Add(-2*time.Hour), "a:1", "m", true, 1) // wraps the ring: must not count in the hour
	s.Record(t0.Add(-30*time.Minute), "a:1", "m", true, 10)
	s.Record(t0.Add(-time.Minute), "a:1", "m", false, 100)
	s.Record(t0, "a:1", "m", true, 1000)
	w := s.Snapshot(t0).Windows
	if w[0].Requests != 2 || w[0].Bytes != 1100 || w[0].Hits != 1 {
		t.Errorf("5m = %+v; want 2 requests, 1 hit, 1100 bytes", w[0])
	}
	if w[1].Requests != 3 || w[1].Bytes != 1110 {
		t.Errorf("1h = %+v; want 3 requests, 1110 bytes", w[1])
	}
	if w[2].Requests != 4 || w[2].HitRatio != 0.75 {
		t.Errorf("start = %+v; want 4 requests, hit ratio 0.75", w[2])
	}
}

func statusServer(t *testing.T, public bool) (string, *Stats) {
	st := &Stats{Name: "proxy", Classify: func(r *http.Request, code int, h http.Header) (string, bool, bool) {
		return strings.TrimPrefix(r.URL.Path, "/"), h.Get("X-Hit") == "1", true
	}}
	srv := &Server{
		Name:      "t",
		AuthToken: "sekrit",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Hit", "1")
			fmt.Fprint(w, "hello")
		}),
		Status:       &StatusPage{Title: "pitstop test", Parts: []StatusPart{{Stats: st, Usage: func() store.Usage { return store.Usage{Bytes: 512 << 20, Objects: 3, MaxSize: 1 << 30} }}}},
		StatusPublic: public,
	}
	base, _ := start(t, srv)
	return base, st
}

// TestStatusPage: the page and its JSON need the read token; with it, they
// show the requests served, the store, the clients and the refusals.
func TestStatusPage(t *testing.T) {
	base, _ := statusServer(t, false)
	auth := []string{"Authorization", "Bearer sekrit"}
	for range 3 {
		get(t, base+"/example.com/a/@v/list", auth...)
	}
	get(t, base+"/example.com/b/@v/list", auth...)
	get(t, base+"/example.com/b/@v/list") // refused: no token
	for _, p := range []string{"/", "/api/status"} {
		resp, body := get(t, base+p)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d %q; want 401", p, resp.StatusCode, body)
		}
	}
	resp, body := get(t, base+"/api/status", auth...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/status: %d %s", resp.StatusCode, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	p := st.Parts[0]
	if p.Windows[0].Requests != 4 || p.Windows[0].Hits != 4 || p.Windows[0].Bytes != 20 {
		t.Errorf("5m window = %+v; want 4 requests, 4 hits, 20 bytes", p.Windows[0])
	}
	if len(p.TopRequests) != 2 || p.TopRequests[0].Key != "example.com/a/@v/list" || p.TopRequests[0].Requests != 3 {
		t.Errorf("top by requests = %+v; want example.com/a/@v/list ×3 first", p.TopRequests)
	}
	if p.Store == nil || p.Store.UsedPct != 50 || p.Store.MaxH != "1 GiB" {
		t.Errorf("store = %+v; want 50%% of 1 GiB", p.Store)
	}
	if len(st.Clients) != 1 || st.Clients[0].Addr != "127.0.0.1" || st.Clients[0].Requests != 4 {
		t.Errorf("clients = %+v; want 127.0.0.1 with 4 requests", st.Clients)
	}
	if len(st.Events) != 1 || st.Events[0].Kind != EventRefused {
		t.Errorf("events = %+v; want one refusal", st.Events)
	}
	resp, page := get(t, base+"/", auth...)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"pitstop test", "example.com/a/@v/list", "<td>3</td>", "127.0.0.1", "refused", "<polyline", "512 MiB"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if len(page) > 60<<10 {
		t.Errorf("page weighs %d bytes; want under 60 KiB", len(page))
	}
	t.Logf("page weight: %d bytes (JSON %d bytes)", len(page), len(body))
}

// TestStatusPublic: --status public opens the page, not the data.
func TestStatusPublic(t *testing.T) {
	base, _ := statusServer(t, true)
	if resp, _ := get(t, base+"/api/status"); resp.StatusCode != 200 {
		t.Errorf("public /api/status without a token: %d; want 200", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/x"); resp.StatusCode != 401 {
		t.Errorf("data without a token: %d; want 401", resp.StatusCode)
	}
}

// BenchmarkStatsRecord is the cost of recording one request, from
// parallel goroutines (the hit path's share of the status page).
func BenchmarkStatsRecord(b *testing.B) {
	s := &Stats{Name: "b"}
	keys := []string{"golang.org/x/text", "example.com/a", "example.com/b", "github.com/x/y"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.Record(time.Now(), "192.168.1.20:51234", keys[i%len(keys)], true, 512)
			i++
		}
	})
}

// BenchmarkWrappedStatus is BenchmarkWrappedNoLog with the status page
// recording every request (compare the two).
func BenchmarkWrappedStatus(b *testing.B) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, "bench")
	if err != nil {
		b.Fatal(err)
	}
	st := &Stats{Name: "b", Classify: func(r *http.Request, code int, h http.Header) (string, bool, bool) {
		return "golang.org/x/text", h.Get("X-Pitstop-Cache") == "hit", true
	}}
	s := &Server{Handler: http.HandlerFunc(infoHandler), Status: &StatusPage{Parts: []StatusPart{{Stats: st}}}}
	benchServe(b, s.wrap(slog.New(slog.DiscardHandler), m, reg))
}

// BenchmarkStatusRender is the cost of one page and one JSON answer with
// full tables.
func BenchmarkStatusRender(b *testing.B) {
	s := &Stats{Name: "proxy"}
	now := time.Now()
	for i := range 5000 {
		s.Record(now.Add(-time.Duration(i)*time.Second), fmt.Sprintf("10.0.0.%d:1", i%300), fmt.Sprintf("example.com/m%d", i%100), i%3 != 0, 1000)
		s.Event(EventMiss, fmt.Sprintf("example.com/m%d/@v/v1.0.0.zip", i), "fetched in 2ms")
	}
	s.Upstream("module upstream 10.0.0.1:3000", time.Millisecond, nil)
	p := &StatusPage{Title: "pitstop proxy", Parts: []StatusPart{{Stats: s, Usage: func() store.Usage { return store.Usage{Bytes: 1 << 30, MaxSize: 4 << 30} }}}}
	for _, path := range []string{"/", "/api/status"} {
		b.Run(path, func(b *testing.B) {
			req, _ := http.NewRequest("GET", path, nil)
			b.ReportAllocs()
			for b.Loop() {
				p.cached = [2]struct {
					at time.Time
					b  []byte
				}{} // measure rendering, not the cache
				w := &discardWriter{h: http.Header{}}
				p.ServeHTTP(w, req)
			}
		})
	}
}

// TestStatusPageWeightBound: with every table full to its bound (the
// longest keys and details, the most clients, events and toolchains), two
// parts as `pitstop serve` would show, the page stays under 60 KB.
func TestStatusPageWeightBound(t *testing.T) {
	now := time.Now()
	var parts []StatusPart
	for _, name := range []string{"proxy", "build cache"} {
		s := &Stats{Name: name}
		long := strings.Repeat("x", maxKeyLen)
		for i := range 2000 {
			key := fmt.Sprintf("%03d%s", i%TopEntries, long)
			s.Record(now.Add(-time.Duration(i)*time.Second), fmt.Sprintf("[fd00::%x]:1", i), key, i%2 == 0, 1<<20)
			s.Event(EventTampered, key, strings.Repeat("d", maxDetailLen+50))
		}
		for i := range maxUpstreams {
			s.Upstream(fmt.Sprintf("module upstream %d %s", i, long), time.Second, errors.New(strings.Repeat("e", 500)))
		}
		var tcs []string
		for i := range 64 {
			tcs = append(tcs, fmt.Sprintf("v0.0.1-go1.%d.5.linux-arm64", i))
		}
		parts = append(parts, StatusPart{Stats: s, Usage: func() store.Usage { return store.Usage{Bytes: 1 << 30, MaxSize: 4 << 30} }, Toolchains: func() []string { return tcs }})
	}
	p := &StatusPage{Title: "pitstop", Parts: parts}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	page := w.Body.Len()
	w = httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/api/status", nil))
	t.Logf("page at its bounds: %d bytes; JSON %d bytes", page, w.Body.Len())
	if page > 60_000 {
		t.Errorf("page at its bounds weighs %d bytes; want under 60 KB", page)
	}
}
