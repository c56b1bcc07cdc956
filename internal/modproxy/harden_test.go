package modproxy

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/testexe"
	"github.com/pitstop-go/pitstop/internal/testlog"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// fakeGo writes a go command stand-in that records each run in a file and
// fails with a recognisable stderr, and returns its path and the record.
func fakeGo(t *testing.T) (bin, ran string) {
	t.Helper()
	dir := t.TempDir()
	bin, ran = filepath.Join(dir, "go"), filepath.Join(dir, "ran")
	script := "#!/bin/sh\necho \"$@\" >> " + ran + "\necho 'STDERR-MARKER dial tcp 10.9.8.7:443: connect: connection refused' >&2\nexit 1\n"
	if err := testexe.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, ran
}

func runs(ran string) int {
	b, _ := os.ReadFile(ran)
	return strings.Count(string(b), "\n")
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDirectToPrivateAddressesNeverLeaves: a client naming a module on
// 127.0.0.x or a private address gets a refusal; no go command runs and a
// listener at that address sees no connection. The control case (the
// same fetch with private hosts allowed) shows the listener would see it.
func TestDirectToPrivateAddressesNeverLeaves(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	ln, err := net.Listen("tcp", "127.0.0.77:443")
	if err != nil {
		t.Fatalf("listening on 127.0.0.77:443 (the test runs as root): %v", err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	var logs testlog.Buffer
	p := startProxy(t, up, "", func(h *Handler, env goenv.Env) {
		env["GOPROXY"] = up.URL + ",direct"
		h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		h.Fetcher = &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(t.TempDir(), "direct"),
			DirectPublicHostsOnly: true, Logger: h.Logger}
	})
	for _, mod := range []string{"127.0.0.77/x", "10.1.2.3/repo.git", "192.168.1.1/y", "169.254.169.254/latest", "127.1/z", "0x7f.1/z"} {
		code, body := get(t, p.URL+"/"+mod+"/@v/v1.0.0.info")
		if code != http.StatusNotFound || !strings.Contains(body, "not a public name") {
			t.Errorf("%s: %d %q, want 404 refusing the host", mod, code, body)
		}
	}
	out, err := goCmd(t, t.TempDir(), p.URL, "off", nil, "mod", "download", "-json", "127.0.0.77/x@v1.0.0")
	if err == nil || !strings.Contains(out, "not a public name") {
		t.Errorf("go mod download of a loopback module: %v\n%s", err, out)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the listener on 127.0.0.77:443 saw %d connections", n)
	}
	if !strings.Contains(logs.String(), "direct fetch refused") {
		t.Errorf("refusals not logged:\n%s", logs.String())
	}

	// Control: with private hosts allowed the go command does reach it.
	p2 := startProxy(t, up, "", func(h *Handler, env goenv.Env) {
		env["GOPROXY"] = up.URL + ",direct"
		h.Fetcher = &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(t.TempDir(), "direct"), Logger: h.Logger}
	})
	get(t, p2.URL+"/127.0.0.77/x/@v/v1.0.0.info")
	if conns.Load() == 0 {
		t.Fatal("control: with private hosts allowed the listener saw nothing, so the test proves nothing")
	}
}

// TestDirectPublicModuleRefusedUnlessAllowed: with DirectNoProxyOnly, a
// public module the upstream lacks is not fetched direct; allowed, the go
// command runs, and its stderr is logged but not sent to the client.
func TestDirectPublicModuleRefusedUnlessAllowed(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	bin, ran := fakeGo(t)
	var logs testlog.Buffer
	serve := func(allow bool) *proxy {
		return startProxy(t, up, "", func(h *Handler, env goenv.Env) {
			env["GOPROXY"] = up.URL + ",direct"
			h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			h.Fetcher = &modfetch.Fetcher{Env: env, DirectDir: filepath.Join(t.TempDir(), "direct"), GoBin: bin,
				DirectNoProxyOnly: !allow, Logger: h.Logger}
		})
	}
	p := serve(false)
	out, err := goCmd(t, t.TempDir(), p.URL, "off", nil, "mod", "download", "-json", "example.com/elsewhere@v1.0.0")
	if err == nil || !strings.Contains(out, "GOPRIVATE or GONOPROXY") {
		t.Errorf("direct fetch of a public module in serve mode: %v\n%s", err, out)
	}
	if n := runs(ran); n != 0 {
		t.Fatalf("the go command ran %d times for a refused direct fetch", n)
	}

	p = serve(true)
	out, err = goCmd(t, t.TempDir(), p.URL, "off", nil, "mod", "download", "-json", "example.com/elsewhere@v1.0.0")
	if err == nil {
		t.Fatalf("download through a failing direct fetch succeeded:\n%s", out)
	}
	if runs(ran) == 0 {
		t.Fatal("allowed direct fetch did not run the go command")
	}
	code, body := get(t, p.URL+"/example.com/elsewhere/@v/v1.0.0.mod")
	for _, leak := range []string{"STDERR-MARKER", "10.9.8.7"} {
		if strings.Contains(out, leak) || strings.Contains(body, leak) {
			t.Errorf("the go command's stderr reached the client (%q):\n%s\n%d %s", leak, out, code, body)
		}
	}
	if code != http.StatusBadGateway || !strings.Contains(body, "direct fetch failed") {
		t.Errorf("failed direct fetch answered %d %q", code, body)
	}
	if l := logs.String(); !strings.Contains(l, "STDERR-MARKER") || !strings.Contains(l, "module=example.com/elsewhere") || !strings.Contains(l, "level=WARN") {
		t.Errorf("the go command's stderr was not logged at warn with the module:\n%s", l)
	}
}

// TestPrivateSumDBLookupAnsweredLocally: a board missing GOPRIVATE asks the
// proxy's checksum database about a module the proxy treats as private;
// the proxy answers itself, telling it to set GOPRIVATE, and the upstream
// never hears the path.
func TestPrivateSumDBLookupAnsweredLocally(t *testing.T) {
	needGo(t)
	secret := m("corp.example/secret", "v1.0.0", "go.mod", "module corp.example/secret\n\ngo 1.21\n", "s.go", "package secret\n")
	up := testupstream.NewForTest(t, append(graph, secret)...)
	p := startProxy(t, up, "", func(h *Handler, env goenv.Env) {
		// corp.example comes from the upstream (an in-house proxy) but is
		// private: never looked up in the checksum database.
		env["GONOSUMDB"] = "corp.example"
	})
	out, err := goCmd(t, t.TempDir(), p.URL, up.GOSUMDB, nil, "mod", "download", "-json", "corp.example/secret@v1.0.0")
	if err == nil || !strings.Contains(out, "GOPRIVATE") {
		t.Errorf("board without GOPRIVATE: %v\n%s", err, out)
	}
	code, body := get(t, p.URL+"/sumdb/"+up.SumDBName+"/lookup/corp.example/secret@v1.0.0")
	if code != http.StatusNotFound || !strings.Contains(body, "go env -w GOPRIVATE=corp.example/secret") {
		t.Errorf("private lookup answered %d %q", code, body)
	}
	if n := up.Count("/sumdb/" + up.SumDBName + "/lookup/corp.example*"); n != 0 {
		t.Fatalf("the private path reached the upstream checksum database %d times", n)
	}
	// With GOPRIVATE set the board does not ask, and the download works.
	out, err = goCmd(t, t.TempDir(), p.URL, up.GOSUMDB, []string{"GOPRIVATE=corp.example", "GONOPROXY=none.invalid"}, "mod", "download", "-json", "corp.example/secret@v1.0.0")
	if err != nil {
		t.Fatalf("board with GOPRIVATE: %v\n%s", err, out)
	}
}

// lookupBody fetches the honest lookup answer from the upstream itself.
func lookupBody(t *testing.T, up *testupstream.Server, path, vers string) []byte {
	t.Helper()
	code, body := get(t, up.SumDBURL+"/lookup/"+path+"@"+vers)
	if code != http.StatusOK {
		t.Fatalf("upstream lookup %s@%s: %d %s", path, vers, code, body)
	}
	return []byte(body)
}

// TestBadSumDBLookupNeverKept: an upstream that answers a lookup with a
// record the signed tree does not contain is refused; once it recovers,
// clients get the honest answer and so does the proxy's own verification.
func TestBadSumDBLookupNeverKept(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	honest := lookupBody(t, up, "example.com/dep", "v1.1.0")
	zipHash, _, _ := up.Hash("example.com/dep", "v1.1.0")
	forged := bytes.Replace(honest, []byte(zipHash), []byte("h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 1)
	if bytes.Equal(forged, honest) {
		t.Fatal("could not forge the lookup")
	}
	lookup := "/sumdb/" + up.SumDBName + "/lookup/example.com/dep@v1.1.0"
	up.SetFault(lookup, testupstream.Fault{Body: forged})
	refusedNotKept(t, p, lookup)
	out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "build", "./...")
	if err == nil {
		t.Fatalf("build with a forged checksum database answer succeeded:\n%s", out)
	}

	up.SetFault(lookup, testupstream.Fault{}) // the upstream recovers
	code, body := get(t, p.URL+lookup)
	// The record is the honest one (the signed tree head after it may
	// have grown meanwhile: the build looked up more modules).
	record, _, _ := strings.Cut(string(honest), "\ngo.sum database tree\n")
	if code != http.StatusOK || !strings.HasPrefix(body, record+"\ngo.sum database tree\n") || !strings.Contains(body, zipHash) {
		t.Fatalf("after recovery: %d\n%s\nwant the record\n%s", code, body, record)
	}
	keptAndBuilds(t, p, up, lookup)
}

// TestBadSumDBTileNeverKept: a tile that does not hash to the signed tree
// head is refused and not kept; after the upstream recovers the honest
// tile is served and kept.
func TestBadSumDBTileNeverKept(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	// Records exist once looked up.
	lookupBody(t, up, "example.com/!lib", "v1.0.0")
	lookupBody(t, up, "example.com/dep", "v1.1.0")
	_, latest := get(t, up.SumDBURL+"/latest")
	v, err := note.NewVerifier(up.GOSUMDB)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open([]byte(latest), note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		t.Fatal(err)
	}
	tile := tlog.NewTiles(8, 0, tree.N)[0]
	rel := "/sumdb/" + up.SumDBName + "/" + tile.Path()
	_, honest := get(t, up.URL+rel)
	forged := []byte(honest)
	forged[0] ^= 0xff
	up.SetFault(rel, testupstream.Fault{Body: forged})
	refusedNotKept(t, p, rel)
	up.SetFault(rel, testupstream.Fault{})
	code, body := get(t, p.URL+rel)
	if code != http.StatusOK || body != honest {
		t.Fatalf("after recovery: %d %q, want the honest tile", code, body)
	}
	keptAndBuilds(t, p, up, rel)
}

// refusedNotKept asserts that the proxy refuses a forged answer at rel
// (twice: no refusal is remembered as a hit either) and keeps nothing.
func refusedNotKept(t *testing.T, p *proxy, rel string) {
	t.Helper()
	for i := 0; i < 2; i++ {
		if code, body := get(t, p.URL+rel); code == http.StatusOK {
			t.Fatalf("forged %s served (attempt %d): %q", rel, i, body)
		}
	}
	if _, err := p.Store.Stat(context.Background(), strings.TrimPrefix(rel, "/")); err == nil {
		t.Fatalf("forged %s stored", rel)
	}
}

// keptAndBuilds asserts that the verified answer at rel is kept and that a
// board builds through the proxy.
func keptAndBuilds(t *testing.T, p *proxy, up *testupstream.Server, rel string) {
	t.Helper()
	if _, err := p.Store.Stat(context.Background(), strings.TrimPrefix(rel, "/")); err != nil {
		t.Fatalf("verified %s not kept: %v", rel, err)
	}
	if out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "build", "./..."); err != nil {
		t.Fatalf("build after the upstream recovered: %v\n%s", err, out)
	}
}

// TestBoardsShareOneVerifiedSumDBCache: eight boards downloading a graph
// make the proxy fetch each checksum-database path from upstream once,
// for its own verification and their lookups and tiles alike.
func TestBoardsShareOneVerifiedSumDBCache(t *testing.T) {
	needGo(t)
	up := testupstream.NewForTest(t, graph...)
	p := startProxy(t, up, "", nil)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := goCmd(t, writeApp(t), p.URL, up.GOSUMDB, nil, "mod", "download", "-json", "all"); err != nil {
				errs <- out
			}
		}()
	}
	wg.Wait()
	close(errs)
	for out := range errs {
		t.Fatalf("board download failed:\n%s", out)
	}
	paths := 0
	for path, n := range up.Requests() {
		if !strings.HasPrefix(path, "/sumdb/") {
			continue
		}
		paths++
		if n != 1 {
			t.Errorf("%s fetched from upstream %d times, want 1", path, n)
		}
	}
	if paths < 3 {
		t.Fatalf("only %d checksum-database paths reached the upstream: %v", paths, up.Requests())
	}
	t.Logf("%d checksum-database paths, each fetched once", paths)
}
