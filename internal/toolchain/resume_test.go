package toolchain

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// cutOnce serves data at any path ending in .zip: the first answer
// announces the full length, sends half and drops the connection; later
// answers honour Range (rangeOK) or send everything again.
type cutOnce struct {
	data    []byte
	rangeOK bool
	mu      sync.Mutex
	n       int
	ranges  []string
	next    http.Handler
}

func (c *cutOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, ".zip") {
		c.next.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	c.n++
	first := c.n == 1
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	c.mu.Unlock()
	if first {
		w.Header().Set("Content-Length", strconv.Itoa(len(c.data)))
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusOK)
		w.Write(c.data[:len(c.data)/2])
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if !c.rangeOK {
		r.Header.Del("Range")
	}
	w.Header().Set("ETag", `"v1"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(c.data))
}

func TestResumeTransport(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for _, rangeOK := range []bool{true, false} {
		h := &cutOnce{data: data, rangeOK: rangeOK}
		srv := httptest.NewServer(h)
		rt := &ResumeTransport{Backoff: time.Millisecond}
		c := &http.Client{Transport: rt}
		resp, err := c.Get(srv.URL + "/m/@v/v1.0.0.zip")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("rangeOK=%v: read %d bytes, %v; want %d", rangeOK, len(got), err, len(data))
		}
		if rt.Resumed() != 1 || len(h.ranges) != 2 || h.ranges[1] != "bytes="+strconv.Itoa(len(data)/2)+"-" {
			t.Fatalf("rangeOK=%v: resumed %d, ranges %q", rangeOK, rt.Resumed(), h.ranges)
		}
	}
}

// An install whose download breaks off halfway resumes with Range (here
// through a front that cuts the first answer) and succeeds, verified.
func TestInstallResumesWithRange(t *testing.T) {
	f := newFixture(t, "1.22.5")
	v, _ := ParseVersion("1.22.5")
	mv := ModuleVersion(v, f.native)
	u, _ := url.Parse(f.up.URL)
	h := &cutOnce{data: f.up.ZipBytes(ModulePath, mv), rangeOK: true, next: httputil.NewSingleHostReverseProxy(u)}
	front := httptest.NewServer(h)
	defer front.Close()
	env := goenv.Env{"GOPROXY": front.URL, "GOSUMDB": f.up.GOSUMDB}
	rt := &ResumeTransport{Backoff: time.Millisecond}
	f.in.Env, f.in.Source = env, FetcherSource(NewFetcher(env, rt))
	var last int64
	f.in.Progress = func(written, total int64) { last = written }
	res, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Active || rt.Resumed() != 1 || h.n != 2 || !strings.HasPrefix(h.ranges[1], "bytes=") {
		t.Fatalf("res %+v resumed %d requests %d ranges %q", res, rt.Resumed(), h.n, h.ranges)
	}
	if last != int64(len(h.data)) {
		t.Fatalf("progress ended at %d of %d", last, len(h.data))
	}
}

// An install cut off (with no resumption in that run) keeps what it got;
// the next run, with a new transport as a new process would have, asks
// only for the rest.
func TestInstallContinuesAcrossRuns(t *testing.T) {
	f := newFixture(t, "1.22.5")
	v, _ := ParseVersion("1.22.5")
	mv := ModuleVersion(v, f.native)
	u, _ := url.Parse(f.up.URL)
	h := &cutOnce{data: f.up.ZipBytes(ModulePath, mv), rangeOK: true, next: httputil.NewSingleHostReverseProxy(u)}
	front := httptest.NewServer(h)
	defer front.Close()
	env := goenv.Env{"GOPROXY": front.URL, "GOSUMDB": f.up.GOSUMDB}
	f.in.Env, f.in.Attempts = env, 1
	f.in.Source = FetcherSource(NewFetcher(env, &ResumeTransport{Retries: -1}))
	if _, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5")); err == nil {
		t.Fatal("first run succeeded over a cut connection")
	}
	if !strings.Contains(f.out.String(), "the next pitstop go install continues it") {
		t.Fatalf("output:\n%s", f.out)
	}
	if f.in.Layout.Active() != "" {
		t.Fatal("something became active")
	}
	rt := &ResumeTransport{Retries: -1}
	f.in.Source = FetcherSource(NewFetcher(env, rt))
	res, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5"))
	if err != nil {
		t.Fatal(err)
	}
	want := "bytes=" + strconv.Itoa(len(h.data)/2) + "-"
	if !res.Active || rt.Resumed() != 1 || len(h.ranges) != 2 || h.ranges[1] != want {
		t.Fatalf("second run: %+v resumed %d ranges %q (want %q)", res, rt.Resumed(), h.ranges, want)
	}
	if m, _ := filepath.Glob(filepath.Join(f.in.Layout.Dir, ".download-*")); len(m) != 0 {
		t.Fatalf("download files left: %v", m)
	}
}

// A connection that stalls (sends nothing) is cut after IdleTimeout and
// continued like a broken one.
func TestResumeAfterStall(t *testing.T) {
	data := bytes.Repeat([]byte("stall"), 10000)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:1000])
			http.NewResponseController(w).Flush()
			<-r.Context().Done() // stall until the client gives up
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	rt := &ResumeTransport{Backoff: time.Millisecond, IdleTimeout: 100 * time.Millisecond}
	resp, err := (&http.Client{Transport: rt}).Get(srv.URL + "/m/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) || rt.Resumed() != 1 {
		t.Fatalf("read %d of %d bytes, %v, resumed %d", len(got), len(data), err, rt.Resumed())
	}
}
