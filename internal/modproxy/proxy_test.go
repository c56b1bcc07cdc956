package modproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestMain lets the test binary run as a proxy server in a child process
// (for the kill -9 test).
func TestMain(m *testing.M) {
	if os.Getenv("PITSTOP_PROXY_CHILD") == "fleet" {
		childFleetServe()
		return
	}
	if os.Getenv("PITSTOP_PROXY_CHILD") == "1" {
		childServe()
		return
	}
	os.Exit(m.Run())
}

func childServe() {
	up, sumdb, dir := os.Getenv("CHILD_UPSTREAM"), os.Getenv("CHILD_GOSUMDB"), os.Getenv("CHILD_DIR")
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	h := &Handler{Store: st, Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": up, "GOSUMDB": sumdb}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("LISTEN", ln.Addr().String())
	http.Serve(ln, h)
}

func m(path, vers string, kv ...string) testupstream.Module {
	mod := testupstream.Module{Path: path, Version: vers, Files: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		mod.Files[kv[i]] = kv[i+1]
	}
	return mod
}

// graph is a small module graph: app -> example.com/Lib -> example.com/dep.
var graph = []testupstream.Module{
	m("example.com/Lib", "v1.0.0",
		"go.mod", "module example.com/Lib\n\ngo 1.21\n\nrequire example.com/dep v1.1.0\n",
		"lib.go", "package lib\n\nimport \"example.com/dep\"\n\nfunc Answer() int { return dep.N * 2 }\n"),
	m("example.com/Lib", "v1.1.0-rc.1",
		"go.mod", "module example.com/Lib\n\ngo 1.21\n",
		"lib.go", "package lib\n\nfunc Answer() int { return 0 }\n"),
	m("example.com/dep", "v1.0.0", "go.mod", "module example.com/dep\n\ngo 1.21\n", "dep.go", "package dep\n\nconst N = 20\n"),
	m("example.com/dep", "v1.1.0", "go.mod", "module example.com/dep\n\ngo 1.21\n", "dep.go", "package dep\n\nconst N = 21\n"),
	{Path: "golang.org/toolchain", Version: "v0.0.1-go1.22.5.linux-arm64", Files: map[string]string{
		"bin/go": "#!/bin/sh\necho go1.22.5\n", "VERSION": "go1.22.5\n"}},
}

// bigZipModule has a multi-megabyte zip (incompressible content).
func bigZipModule(size int) testupstream.Module {
	data := make([]byte, size)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	return m("example.com/big", "v1.0.0", "go.mod", "module example.com/big\n", "blob.bin", string(data))
}

type proxy struct {
	URL   string
	H     *Handler
	Store *store.Disk
	Dir   string
	srv   *http.Server
}

func startProxy(t *testing.T, up *testupstream.Server, dir string, tweak func(*Handler, goenv.Env)) *proxy {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}
	h := &Handler{Store: st, Logger: slog.New(slog.DiscardHandler)}
	if tweak != nil {
		tweak(h, env)
	}
	if h.Fetcher == nil {
		h.Fetcher = &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(t.TempDir(), "direct")}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &proxy{URL: "http://" + ln.Addr().String(), H: h, Store: st, Dir: dir, srv: srv}
}

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
}

// goCmd runs the real go command as a proxy client in dir with a fresh
// module cache.
func goCmd(t *testing.T, dir, proxyURL, gosumdb string, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"GOPROXY="+proxyURL, "GOSUMDB="+gosumdb, "GOMODCACHE="+filepath.Join(home, "modcache"),
		"GOFLAGS=-mod=mod -modcacherw", "GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GOTOOLCHAIN=local",
		"GOPATH="+filepath.Join(home, "gopath"), "GOWORK=off")
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func writeApp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n\nrequire example.com/Lib v1.0.0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\t\"example.com/Lib\"\n)\n\nfunc main() { fmt.Println(lib.Answer()) }\n"), 0o644)
	return dir
}

func TestGraphBuildsThenBuildsOffline(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", func(h *Handler, _ goenv.Env) { h.ListTTL = time.Millisecond })

	out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "run", ".")
	if err != nil || lastLine(out) != "42" {
		t.Fatalf("go run through the proxy: %v\n%s", err, out)
	}
	if up.Count("/sumdb/sumdb.test/lookup/*") == 0 {
		t.Fatalf("the proxy never verified against the checksum database: %v", up.Requests())
	}
	// Lists and queries are cached too; warm them before going offline.
	if out, err := goCmd(t, t.TempDir(), p.URL, up.GOSUMDB, nil, "list", "-m", "-versions", "example.com/Lib"); err != nil ||
		!strings.Contains(out, "v1.0.0 v1.1.0-rc.1") {
		t.Fatalf("go list -versions: %v\n%s", err, out)
	}

	up.Stop()
	// A fresh module cache and no go.sum: everything, including the
	// checksum database's lookups and tiles, must come from the proxy.
	out, err = goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "run", ".")
	if err != nil || lastLine(out) != "42" {
		t.Fatalf("offline go run through the proxy: %v\n%s", err, out)
	}
	out, err = goCmd(t, t.TempDir(), p.URL, up.GOSUMDB, nil, "list", "-m", "-versions", "example.com/Lib")
	if err != nil || !strings.Contains(out, "v1.0.0 v1.1.0-rc.1") {
		t.Fatalf("offline go list -versions (stale list): %v\n%s", err, out)
	}
	resp, err := http.Get(p.URL + "/example.com/!lib/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(StaleHeader) == "" {
		t.Fatalf("stale list: status %d, %s=%q", resp.StatusCode, StaleHeader, resp.Header.Get(StaleHeader))
	}
}

func TestTamperedZipRefused(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	if err := up.Tamper("example.com/dep", "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, up, "", nil)
	out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "build", "./...")
	if err == nil {
		t.Fatalf("build with a tampered dependency succeeded:\n%s", out)
	}
	honest, _, _ := up.Hash("example.com/dep", "v1.1.0")
	if !strings.Contains(out, "checksum mismatch") || !strings.Contains(out, honest) || !strings.Contains(out, "example.com/dep@v1.1.0") {
		t.Fatalf("error does not name the module and hashes:\n%s", out)
	}
	if _, err := p.Store.Stat(context.Background(), "example.com/dep/@v/v1.1.0.zip"); err == nil {
		t.Fatal("tampered zip was stored")
	}
	// Nothing tampered is left in the directory either. (The checksum
	// database's verified lookup, with the honest hash, is kept.)
	filepath.WalkDir(p.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !strings.Contains(path, "/sumdb/") && strings.Contains(path, "v1.1.0") && strings.Contains(path, "dep") && !d.IsDir() && !strings.HasSuffix(path, ".mod") && !strings.HasSuffix(path, ".info") {
			t.Errorf("left behind: %s", path)
		}
		return nil
	})
}

func TestConcurrentColdRequestsOneFetch(t *testing.T) {
	big := bigZipModule(3 << 20)
	up := testupstream.NewForTest(t, big)
	p := startProxy(t, up, "", nil)
	zp := testupstream.ZipPath(big.Path, big.Version)
	hold := make(chan struct{})
	up.SetFault(zp, testupstream.Fault{Hold: hold, HoldAfter: 1 << 20})

	const n = 16
	var wg sync.WaitGroup
	bodies := make([][]byte, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Get(p.URL + zp)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				errs[i] = fmt.Errorf("status %d", resp.StatusCode)
			}
			bodies[i], errs[i] = io.ReadAll(resp.Body)
		}(i)
	}
	// While the upstream is stalled mid-body, a late client already
	// streams what has arrived.
	deadline := time.Now().Add(time.Minute)
	for up.Count(zp) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if up.Count(zp) == 0 {
		t.Fatal("no client reached the upstream within a minute")
	}
	resp, err := http.Get(p.URL + zp)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 512<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("streaming client before the upstream finished: %v", err)
	}
	if h := resp.Header.Get(CacheHeader); h != "stream" {
		t.Errorf("%s = %q while the zip arrives, want stream", CacheHeader, h)
	}
	close(hold)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(first, rest...), up.ZipBytes(big.Path, big.Version)) {
		t.Fatalf("streamed zip differs (err %v)", err)
	}
	wg.Wait()
	want := up.ZipBytes(big.Path, big.Version)
	for i := 0; i < n; i++ {
		if errs[i] != nil || !bytes.Equal(bodies[i], want) {
			t.Fatalf("client %d: err %v, %d bytes (want %d)", i, errs[i], len(bodies[i]), len(want))
		}
	}
	if c := up.Count(zp); c != 1 {
		t.Fatalf("%d concurrent cold requests made %d upstream fetches, want 1", n, c)
	}
	// Later clients read the store.
	resp, err = http.Get(p.URL + zp)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(CacheHeader) != "hit" || up.Count(zp) != 1 {
		t.Fatalf("warm request: %s=%q, upstream count %d", CacheHeader, resp.Header.Get(CacheHeader), up.Count(zp))
	}
}

func TestStreamingClientsCutOnBadZip(t *testing.T) {
	big := bigZipModule(2 << 20)
	up := testupstream.NewForTest(t, big)
	if err := up.Tamper(big.Path, big.Version); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, up, "", nil)
	zp := testupstream.ZipPath(big.Path, big.Version)
	hold := make(chan struct{})
	up.SetFault(zp, testupstream.Fault{Hold: hold, HoldAfter: 1 << 20})
	done := make(chan error, 1)
	streaming := make(chan struct{})
	go func() {
		defer close(streaming)
		resp, err := http.Get(p.URL + zp)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get(CacheHeader) != "stream" {
			done <- fmt.Errorf("status %d, %s=%q: want 200 and a stream while the upstream holds", resp.StatusCode, CacheHeader, resp.Header.Get(CacheHeader))
			return
		}
		// The upstream holds after 1 MiB: the client is streaming once it
		// has half of that.
		if _, err := io.ReadFull(resp.Body, make([]byte, 512<<10)); err != nil {
			done <- fmt.Errorf("reading the first 512 KiB while the upstream holds: %v", err)
			return
		}
		streaming <- struct{}{}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = fmt.Errorf("read all %d bytes of a tampered zip without error", len(b))
		} else {
			err = nil
		}
		done <- err
	}()
	<-streaming
	close(hold)
	if err := <-done; err != nil {
		t.Fatalf("a streaming client received a complete tampered zip: %v", err)
	}
}

func TestRangeETagAndHead(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	zp := testupstream.ZipPath("example.com/dep", "v1.0.0")
	want := up.ZipBytes("example.com/dep", "v1.0.0")
	get := func(hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", p.URL+zp, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	r := get()
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Equal(b, want) {
		t.Fatal("cold zip differs")
	}
	r = get("Range", "bytes=10-19")
	b, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusPartialContent || !bytes.Equal(b, want[10:20]) {
		t.Fatalf("range: %d %q", r.StatusCode, b)
	}
	etag := r.Header.Get("Etag")
	if etag == "" || r.Header.Get("Last-Modified") == "" {
		t.Fatalf("no ETag/Last-Modified: %v", r.Header)
	}
	r = get("If-None-Match", etag)
	r.Body.Close()
	if r.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}
	// Small files: ETag from memory, too.
	resp, err := http.Get(p.URL + testupstream.FilePath("example.com/dep", "v1.0.0", "info"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", p.URL+testupstream.FilePath("example.com/dep", "v1.0.0", "info"), nil)
	req.Header.Set("If-None-Match", resp.Header.Get("Etag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("info If-None-Match: %d", resp.StatusCode)
	}
}

func TestBadRequests(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	outside := filepath.Join(filepath.Dir(p.Dir), "escaped")
	for _, c := range []struct {
		path string
		code int
	}{
		{"/../../etc/passwd", 404},
		{"/example.com/../../x/@v/list", 400},
		{"/example.com/%2e%2e/@v/list", 400},
		{"/example.com/dep/@v/..%2f..%2fescaped.zip", 400},
		{"/example.com/dep/@v/v1.0.0.exe", 404},
		{"/example.com/dep/@v/master.zip", 400},
		{"/example.com/Dep/@v/list", 400},
		{"/example.com/dep/@v/v1.0.0%00.zip", 400},
		{"/example.com/dep/@v/v2.0.0.mod", 400},
		{"/example.com/dep/@v/v2.0.0.info", 404},
		{"/nodot/@v/list", 400},
		{"/sumdb/sumdb.test/lookup/../../x", 400},
		{"/sumdb/sumdb.test/tile/8/0/../../../x", 400},
		{"/sumdb/other.db/latest", 404},
		{"/example.com/missing/@v/list", 404},
		{"/" + strings.Repeat("a/", 600) + "@v/list", 400},
	} {
		resp, err := http.Get(p.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(b) == 0 {
			t.Errorf("GET %s = %d %q (%s), want %d with a plain message", c.path, resp.StatusCode, b, resp.Header.Get("Content-Type"), c.code)
		}
	}
	resp, err := http.Post(p.URL+"/example.com/dep/@v/list", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Fatal("a file was written outside the store")
	}
}

func TestNotFoundCachedBriefly(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	for i := 0; i < 3; i++ {
		resp, err := http.Get(p.URL + "/example.com/nope/@v/v1.0.0.info")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(b), "not found") {
			t.Fatalf("missing module: %d %q", resp.StatusCode, b)
		}
	}
	if c := up.Count("/example.com/nope/@v/v1.0.0.info"); c != 1 {
		t.Fatalf("3 requests for a missing version made %d upstream requests, want 1", c)
	}
}

func TestMaxSizeEvicts(t *testing.T) {
	var mods []testupstream.Module
	for i := 0; i < 8; i++ {
		b := bigZipModule(200 << 10)
		b.Path = fmt.Sprintf("example.com/big%d", i)
		b.Files["go.mod"] = "module " + b.Path + "\n"
		mods = append(mods, b)
	}
	up := testupstream.NewForTest(t, mods...)
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, up, dir, func(h *Handler, _ goenv.Env) { h.Store = st })
	for _, md := range mods {
		resp, err := http.Get(p.URL + testupstream.ZipPath(md.Path, md.Version))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", md.Path, resp.StatusCode)
		}
	}
	u := st.Usage()
	if u.Bytes > 1<<20 || u.Evictions == 0 {
		t.Fatalf("store usage %+v with a 1 MiB cap", u)
	}
}

// TestKill9DuringFetch kills a proxy process while it is fetching a zip,
// restarts it on the same directory and checks that the store serves only
// correct bytes.
func TestKill9DuringFetch(t *testing.T) {
	big := bigZipModule(3 << 20)
	up := testupstream.NewForTest(t, append([]testupstream.Module{big}, graph...)...)
	zp := testupstream.ZipPath(big.Path, big.Version)
	hold := make(chan struct{})
	defer close(hold)
	up.SetFault(zp, testupstream.Fault{Hold: hold, HoldAfter: 2 << 20})
	dir := t.TempDir()

	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PITSTOP_PROXY_CHILD=1", "CHILD_UPSTREAM="+up.URL, "CHILD_GOSUMDB="+up.GOSUMDB, "CHILD_DIR="+dir)
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "LISTEN ") {
			cmd.Process.Kill()
			t.Fatalf("child: %q %v", line, err)
		}
		return cmd, "http://" + strings.TrimSpace(strings.TrimPrefix(line, "LISTEN "))
	}
	child, url := start()
	// A small file first, so the store has committed entries too.
	if resp, err := http.Get(url + testupstream.FilePath("example.com/dep", "v1.0.0", "mod")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("mod: %v %v", resp, err)
	}
	go func() {
		if resp, err := http.Get(url + zp); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	// Wait until the child has written part of the zip into a temp file.
	deadline := time.Now().Add(time.Minute)
	for !hasTempFile(dir) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !hasTempFile(dir) {
		t.Fatal("the child never started writing the zip")
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()

	up.SetFault(zp, testupstream.Fault{})
	st, err := store.Open(dir, store.Options{}) // as a restart does: indexes and cleans
	if err != nil {
		t.Fatal(err)
	}
	if hasTempFile(dir) {
		t.Fatal("temp files survived a reopen")
	}
	if _, err := st.Stat(context.Background(), strings.TrimPrefix(zp, "/")); err == nil {
		t.Fatal("a half-fetched zip is in the store")
	}
	child, url = start()
	defer func() { child.Process.Kill(); child.Wait() }()
	resp, err := http.Get(url + zp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, up.ZipBytes(big.Path, big.Version)) {
		t.Fatalf("after restart: %d bytes, status %d", len(b), resp.StatusCode)
	}
	mod, err := os.ReadFile(filepath.Join(dir, "example.com/dep/@v/v1.0.0.mod"))
	if err != nil || string(mod) != "module example.com/dep\n\ngo 1.21\n" {
		t.Fatalf("committed .mod after kill: %q %v", mod, err)
	}
}

func hasTempFile(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".tmp-") {
			found = true
		}
		return nil
	})
	return found
}

func TestPrivateModulesNeverReachPublicUpstream(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	t.Setenv("GIT_CONFIG_GLOBAL", testupstream.GitModule(t, "v1.0.0"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	p := startProxy(t, up, "", func(h *Handler, env goenv.Env) { env["GOPRIVATE"] = "private.test" })
	app := t.TempDir()
	os.WriteFile(filepath.Join(app, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n\nrequire (\n\tprivate.test/secret.git v1.0.0\n\texample.com/Lib v1.0.0\n)\n"), 0o644)
	os.WriteFile(filepath.Join(app, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\tlib \"example.com/Lib\"\n\tsecret \"private.test/secret.git\"\n)\n\nfunc main() { fmt.Println(secret.S + lib.Answer()) }\n"), 0o644)
	// The client sends private modules to pitstop (GONOPROXY=none) and
	// does not look them up in the checksum database.
	out, err := goCmd(t, app, p.URL, up.GOSUMDB, []string{"GONOSUMDB=private.test", "GONOPROXY=none.invalid"}, "run", ".")
	if err != nil || lastLine(out) != "84" {
		t.Fatalf("go run with a private module: %v\n%s", err, out)
	}
	for path := range up.Requests() {
		if strings.Contains(path, "private") || strings.Contains(path, "secret") {
			t.Errorf("private module reached the public upstream: %s", path)
		}
	}
	if up.Count("/example.com/!lib/*") == 0 {
		t.Errorf("public modules did not use the upstream: %v", up.Requests())
	}
}

// TestSmokeRealUpstream downloads a real module through pitstop from the
// upstream in `go env`. It runs only with PITSTOP_SMOKE=1 and skips when
// the upstream is unreachable.
func TestSmokeRealUpstream(t *testing.T) {
	if os.Getenv("PITSTOP_SMOKE") != "1" {
		t.Skip("set PITSTOP_SMOKE=1 to download a real module from go env GOPROXY")
	}
	needGo(t)
	env, err := goenv.Read(context.Background(), "")
	if err != nil {
		t.Skip("no go env: ", err)
	}
	proxies, err := env.Proxies()
	if err != nil || len(proxies) == 0 || proxies[0].Direct() || proxies[0].Off() {
		t.Skip("go env GOPROXY names no proxy")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if resp, err := client.Get(proxies[0].URL + "/golang.org/x/text/@v/list"); err != nil {
		t.Skip("upstream unreachable: ", err)
	} else {
		resp.Body.Close()
	}
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Store: st, Fetcher: &modfetch.Fetcher{Env: env}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(ln, h)
	defer ln.Close()
	out, err := goCmd(t, t.TempDir(), "http://"+ln.Addr().String(), env.Get("GOSUMDB"), nil, "mod", "download", "-json", "golang.org/x/text@v0.14.0")
	if err != nil || !strings.Contains(out, `"Sum": "h1:`) {
		t.Fatalf("go mod download through pitstop: %v\n%s", err, out)
	}
	if _, err := st.Stat(context.Background(), "golang.org/x/text/@v/v0.14.0.zip"); err != nil {
		t.Fatalf("zip not stored: %v", err)
	}
}

func TestWarmFetchesGraphAndToolchain(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	app := writeApp(t)
	os.WriteFile(filepath.Join(app, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n\ntoolchain go1.22.5\n\nrequire example.com/Lib v1.0.0\n"), 0o644)
	var out bytes.Buffer
	wm := &Warm{ProxyURL: p.URL, Env: goenv.Env{"GOSUMDB": up.GOSUMDB}, Platforms: []string{"linux-arm64"}, Out: &out}
	res, err := wm.Run(context.Background(), []string{app, "example.com/dep@v1.0.0"})
	if err != nil {
		t.Fatalf("warm: %v\n%s", err, out.String())
	}
	for _, k := range []string{
		"example.com/!lib/@v/v1.0.0.zip", "example.com/dep/@v/v1.1.0.zip", "example.com/dep/@v/v1.0.0.zip",
		"golang.org/toolchain/@v/v0.0.1-go1.22.5.linux-arm64.zip",
	} {
		if _, err := p.Store.Stat(context.Background(), k); err != nil {
			t.Errorf("%s not in the store after warm: %v\n%s", k, err, out.String())
		}
	}
	if res.Modules < 4 || !strings.Contains(out.String(), "warmed ") || !strings.Contains(out.String(), "golang.org/toolchain v0.0.1-go1.22.5.linux-arm64") {
		t.Errorf("warm progress:\n%s", out.String())
	}
	// Now offline: a fresh client builds from the proxy alone.
	up.Stop()
	if out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "build", "./..."); err != nil {
		t.Fatalf("offline build after warm: %v\n%s", err, out)
	}
	if _, err := wm.Run(context.Background(), []string{filepath.Join(t.TempDir(), "nope")}); err == nil || !strings.Contains(err.Error(), "want a directory with go.mod") {
		t.Errorf("warm of a missing dir: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	reg := prometheus.NewRegistry()
	p := startProxy(t, up, "", func(h *Handler, _ goenv.Env) { h.Registry = reg })
	for i := 0; i < 2; i++ {
		for _, ext := range []string{"info", "mod", "zip"} {
			resp, err := http.Get(p.URL + testupstream.FilePath("example.com/dep", "v1.0.0", ext))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	http.Get(p.URL + "/bad/@v/list")
	for _, c := range []struct {
		metric string
		labels []string
		want   float64
	}{
		{"pitstop_proxy_requests_total", []string{"zip", "miss"}, 1},
		{"pitstop_proxy_requests_total", []string{"zip", "hit"}, 1},
		{"pitstop_proxy_requests_total", []string{"other", "bad"}, 1},
		{"pitstop_proxy_cache_hits_total", []string{"info"}, 1},
		{"pitstop_proxy_cache_misses_total", []string{"mod"}, 1},
		{"pitstop_proxy_upstream_fetches_total", []string{"zip", "ok"}, 1},
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, mf := range mfs {
			if mf.GetName() != c.metric {
				continue
			}
			for _, mt := range mf.GetMetric() {
				match := true
				for i, l := range mt.GetLabel() {
					if i < len(c.labels) && l.GetValue() != c.labels[i] {
						match = false
					}
				}
				if match {
					got = mt.GetCounter().GetValue()
				}
			}
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	n, err := testutil.GatherAndCount(reg, "pitstop_proxy_store_bytes", "pitstop_proxy_store_evictions_total", "pitstop_proxy_upstream_fetch_duration_seconds", "pitstop_proxy_served_bytes_total")
	if err != nil || n < 4 {
		t.Errorf("store/latency/bytes metrics: %d series, %v", n, err)
	}
}

func TestUpstreamLoopRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Store: st, Logger: slog.New(slog.DiscardHandler), LoopToken: "tok",
		Fetcher: &modfetch.Fetcher{Env: goenv.Env{"GOPROXY": url, "GOSUMDB": "off"}, Header: http.Header{LoopHeader: {"tok"}}}}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get(url + "/example.com/a/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "request loop") {
		t.Fatalf("self-upstream: %d %q", resp.StatusCode, b)
	}
}

// Answers kept in memory follow the store: a file that another process
// (pitstop proxy gc) removed is not served from memory once MemRecheck has
// passed, and a file served only from memory stays recently used on disk,
// so LRU eviction takes colder files first.
func TestMemoryCopiesFollowStore(t *testing.T) {
	up := testupstream.NewForTest(t, graph...)
	dir := t.TempDir()
	p := startProxy(t, up, dir, func(h *Handler, _ goenv.Env) { h.MemRecheck = time.Millisecond })
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get(CacheHeader)
	}
	modA := testupstream.FilePath("example.com/dep", "v1.0.0", "mod")
	modB := testupstream.FilePath("example.com/dep", "v1.1.0", "mod")
	if code, how := get(modA); code != 200 || how != "miss" {
		t.Fatalf("first %s: %d %s", modA, code, how)
	}
	time.Sleep(20 * time.Millisecond) // distinct use times on coarse clocks
	if code, how := get(modB); code != 200 || how != "miss" {
		t.Fatalf("first %s: %d %s", modB, code, how)
	}
	time.Sleep(20 * time.Millisecond)
	if code, how := get(modA); code != 200 || how != "hit" {
		t.Fatalf("second %s: %d %s", modA, code, how)
	}
	// Evict all but the most recently used object: A, used last (from
	// memory), must be the one kept.
	infoA, err := p.Store.Stat(context.Background(), strings.TrimPrefix(modA, "/"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Store.Trim(context.Background(), infoA.Size); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.Stat(context.Background(), strings.TrimPrefix(modA, "/")); err != nil {
		t.Fatalf("the file served from memory was evicted first: %v (usage %+v)", err, p.Store.Usage())
	}
	if _, err := p.Store.Stat(context.Background(), strings.TrimPrefix(modB, "/")); err == nil {
		t.Fatalf("the colder file survived a trim to one file's size (usage %+v)", p.Store.Usage())
	}

	// Another process removes A (as pitstop proxy gc does) and the
	// upstream goes away: the memory copy must not be served any more.
	other, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(context.Background(), strings.TrimPrefix(modA, "/")); err != nil {
		t.Fatal(err)
	}
	up.Stop()
	time.Sleep(20 * time.Millisecond)
	if code, how := get(modA); code == 200 {
		t.Fatalf("%s removed from the store was still served (%s)", modA, how)
	}
}
