package modproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestConcurrentColdMetadataOneFetchEach: concurrent cold requests for every
// kind of metadata the proxy answers (.info, .mod, @v/list, @latest, a
// version query, checksum-database lookups and tiles) make exactly one
// upstream request each. Zips have their own test
// (TestConcurrentColdRequestsOneFetch).
func TestConcurrentColdMetadataOneFetchEach(t *testing.T) {
	mods := []testupstream.Module{
		m("example.com/info", "v1.0.0", "go.mod", "module example.com/info\n"),
		m("example.com/mod", "v1.0.0", "go.mod", "module example.com/mod\n\ngo 1.21\n"),
		m("example.com/list", "v1.0.0", "go.mod", "module example.com/list\n"),
		m("example.com/list", "v1.1.0", "go.mod", "module example.com/list\n"),
		m("example.com/latest", "v1.2.0", "go.mod", "module example.com/latest\n"),
		m("example.com/query", "v1.3.0", "go.mod", "module example.com/query\n"),
		m("example.com/lookup", "v1.0.0", "go.mod", "module example.com/lookup\n"),
		m("example.com/tiled", "v1.0.0", "go.mod", "module example.com/tiled\n"),
	}
	up := testupstream.NewForTest(t, mods...)
	// The test checksum database adds records on lookup: one lookup made
	// straight to the upstream gives the tree one record, hence tiles.
	getWant(t, up.URL+"/sumdb/"+up.SumDBName+"/lookup/example.com/tiled@v1.0.0", 200)
	p := startProxy(t, up, "", nil)

	sum := "/sumdb/" + up.SumDBName
	paths := []string{
		testupstream.FilePath("example.com/info", "v1.0.0", "info"),
		testupstream.FilePath("example.com/mod", "v1.0.0", "mod"),
		"/example.com/list/@v/list",
		"/example.com/latest/@latest",
		"/example.com/query/@v/latest.info",
		sum + "/lookup/example.com/lookup@v1.0.0",
		sum + "/tile/8/0/000.p/1",
		sum + "/tile/8/data/000.p/1",
	}
	// upstreamOf is the upstream request each proxy path leads to: the
	// proxy resolves a version query with the module's list.
	upstreamOf := func(path string) string {
		if path == "/example.com/query/@v/latest.info" {
			return "/example.com/query/@v/list"
		}
		return path
	}
	up.ResetCounts()
	// Every upstream answer waits, so that all clients of a path are
	// inside the proxy before the first upstream answer arrives.
	const wait = 2 * time.Second
	for _, path := range paths {
		up.SetFault(upstreamOf(path), testupstream.Fault{Delay: wait})
	}

	// entered counts requests that reached the proxy's handler.
	var entered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		p.H.ServeHTTP(w, r)
	}))
	defer srv.Close()

	const n = 8
	type result struct {
		code int
		body string
		err  error
	}
	results := make([][]result, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		results[i] = make([]result, n)
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					results[i][j].err = err
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				results[i][j] = result{resp.StatusCode, string(b), err}
			}()
		}
	}
	start := time.Now()
	for entered.Load() < int64(len(paths)*n) && time.Since(start) < time.Minute {
		time.Sleep(5 * time.Millisecond)
	}
	if got := entered.Load(); got < int64(len(paths)*n) {
		t.Fatalf("only %d of %d requests reached the proxy within a minute", got, len(paths)*n)
	}
	if d := time.Since(start); d >= wait {
		// Not a failure, but the clients may not have overlapped.
		t.Logf("clients took %v to reach the proxy (upstream delay %v)", d, wait)
	}
	wg.Wait()

	for i, path := range paths {
		for j, r := range results[i] {
			if r.err != nil || r.code != 200 || r.body != results[i][0].body || r.body == "" {
				t.Errorf("%s client %d: status %d, err %v, %d-byte body (client 0's: %d bytes, same: %v)", path, j, r.code, r.err, len(r.body), len(results[i][0].body), r.body == results[i][0].body)
			}
		}
		if c := up.Count(upstreamOf(path)); c != 1 {
			t.Errorf("%d concurrent cold requests for %s made %d upstream requests for %s, want 1", n, path, c, upstreamOf(path))
		}
	}
	if t.Failed() {
		t.Logf("upstream requests: %v", up.Requests())
	}
}

// getWant is get that fails the test unless the status is want.
func getWant(t *testing.T, url string, want int) string {
	t.Helper()
	code, body := get(t, url)
	if code != want {
		t.Fatalf("GET %s: status %d (want %d): %s", url, code, want, body)
	}
	return body
}
