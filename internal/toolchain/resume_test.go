package toolchain

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
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
	if !strings.Contains(f.out.String(), "continuing the download kept from an earlier try: ") {
		t.Errorf("the second run does not say it continues:\n%s", f.out)
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
	// A second, so that a loaded machine's pause in reading the resumed
	// body is not taken for a second stall (Resumed would be 2).
	rt := &ResumeTransport{Backoff: time.Millisecond, IdleTimeout: time.Second}
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

// zipCounter proxies to an upstream and counts the zip downloads.
type zipCounter struct {
	mu   sync.Mutex
	zips int
	next http.Handler
}

func (z *zipCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, ".zip") {
		z.mu.Lock()
		z.zips++
		z.mu.Unlock()
	}
	z.next.ServeHTTP(w, r)
}

// TestInterruptAfterDownloadKeepsIt: Ctrl-C (ctx cancelled) while the
// downloaded zip unpacks (and is hashed on the way) stops the install at
// once with ctx's error (not "the new toolchain does not work"), leaves
// nothing half-installed and keeps the complete zip; the next install
// checks it again and unpacks it without downloading. A kept zip that no
// longer matches is downloaded again.
func TestInterruptAfterDownloadKeepsIt(t *testing.T) {
	f := newFixture(t, "1.22.5")
	u, _ := url.Parse(f.up.URL)
	zc := &zipCounter{next: httputil.NewSingleHostReverseProxy(u)}
	front := httptest.NewServer(zc)
	defer front.Close()
	env := goenv.Env{"GOPROXY": front.URL, "GOSUMDB": f.up.GOSUMDB}
	f.in.Env = env
	f.in.Source = FetcherSource(NewFetcher(env, &ResumeTransport{}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	f.in.UnpackProgress = func(done, total int64) {
		calls++
		cancel() // Ctrl-C as the first file is unpacked
	}
	_, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "does not work") {
		t.Fatalf("interrupted install: %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("unpacking went on after the interruption: %d progress calls", calls)
	}
	dir := f.in.Layout.Dir
	zip := filepath.Join(dir, ".download-"+ModuleVersion(mustVersion(t, "1.22.5"), f.native)+".zip")
	for _, p := range []string{zip, zip + verifiedSuffix} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("verified download not kept: %v", err)
		}
	}
	if got := snapshot(t, dir); got != "\n" && got != ".\n" {
		t.Errorf("an interrupted install left:\n%s", got)
	}
	if !strings.Contains(f.out.String(), "interrupted: kept the complete download in "+zip) {
		t.Errorf("output does not say the download is kept:\n%s", f.out)
	}

	// The next run uses it: no second download.
	f.in.UnpackProgress = nil
	f.out.Reset()
	res, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5"))
	if err != nil {
		t.Fatal(err)
	}
	if zc.zips != 1 || !res.Active || res.Hash == "" {
		t.Errorf("second run: %d zip downloads in all (want 1), %+v", zc.zips, res)
	}
	if !strings.Contains(f.out.String(), "kept by an interrupted install") || strings.Contains(f.out.String(), "downloading ") {
		t.Errorf("second run output:\n%s", f.out)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".download-*")); len(m) != 0 {
		t.Errorf("download files left: %v", m)
	}

	// A kept zip that was changed is checked, refused and fetched again.
	if _, err := f.in.Layout.Unuse(); err != nil {
		t.Fatal(err)
	}
	if err := f.in.Layout.Remove(res.Name); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(zip, []byte("PK not the zip"), 0o644)
	os.WriteFile(zip+verifiedSuffix, []byte("h1:x\n"), 0o644)
	f.out.Reset()
	if _, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5")); err != nil {
		t.Fatal(err)
	}
	if zc.zips != 2 || !strings.Contains(f.out.String(), "the kept download failed its check") {
		t.Errorf("a changed kept zip: %d downloads, output:\n%s", zc.zips, f.out)
	}
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
