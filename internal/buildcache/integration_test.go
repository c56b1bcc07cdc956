package buildcache_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/buildcache"
	"github.com/pitstop-go/pitstop/internal/store"
)

// TestMain lets the test binary serve as the GOCACHEPROG helper: the go
// command runs "<test binary> cache prog --dir D [--server URL] ...", the
// same arguments `pitstop cache prog` takes (internal/cli wires those flags
// to the same fields; its script tests run the real pitstop command).
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "cache" && os.Args[2] == "prog" {
		os.Exit(progMain(os.Args[3:]))
	}
	os.Exit(m.Run())
}

func progMain(args []string) int {
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	server := fs.String("server", "", "")
	// Generous by default, so that a get slowed by a loaded or emulated
	// machine is not a remote error (a compile in a "warm" build); the
	// timeout tests pass their own.
	timeout := fs.Duration("timeout", 30*time.Second, "")
	// Generous too: the tests that want every put uploaded (a healthy
	// server) must not lose the last ones to the product's 10 s flush
	// bound when a loaded, emulated machine uploads slowly.
	flush := fs.Duration("flush-timeout", 2*time.Minute, "")
	noPrefetch := fs.Bool("no-prefetch", false, "")
	token := fs.String("token", "", "")
	signKey := fs.String("sign-key", "", "")
	verifyKey := fs.String("verify-key", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p := &buildcache.Prog{Local: &buildcache.Local{Dir: *dir}, StatsOut: os.Stderr, StatsJSON: true, FlushTimeout: *flush}
	if *server != "" {
		cl, err := buildcache.NewClient(*server, *token)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		cl.Timeout = *timeout
		// The transport's own 3 s wait for headers, too, follows the
		// timeout: under qemu at load a server reading from S3 took longer
		// (a remote error, then a compile, in a "warm" build).
		if tr, ok := cl.HTTP.Transport.(*http.Transport); ok {
			tr.ResponseHeaderTimeout = *timeout
		}
		if *signKey != "" {
			data, _ := os.ReadFile(*signKey)
			if cl.SignKey, err = buildcache.ParseSigningKey(data); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		if *verifyKey != "" {
			k, err := buildcache.ParseVerifyKey([]byte(*verifyKey))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			cl.VerifyKeys = append(cl.VerifyKeys, k)
		}
		p.Remote = cl
		if !*noPrefetch {
			wd, _ := os.Getwd()
			p.ManifestKey = buildcache.ManifestKey(wd, os.Getenv)
		}
	}
	if err := p.Run(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prog:", err)
		return 1
	}
	return 0
}

// writeModule writes a module with several packages (and a main) to dir.
func writeModule(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"go.mod":       "module example.com/shared\n\ngo 1.22\n",
		"geo/geo.go":   "package geo\n\ntype Point struct{ X, Y int }\n\nfunc (p Point) Add(q Point) Point { return Point{p.X + q.X, p.Y + q.Y} }\n",
		"text/text.go": "package text\n\nimport \"strings\"\n\nfunc Shout(s string) string { return strings.ToUpper(s) + \"!\" }\n",
		"core/core.go": "package core\n\nimport (\n\t\"example.com/shared/geo\"\n\t\"example.com/shared/text\"\n\t\"strconv\"\n)\n\nfunc Describe(p geo.Point) string {\n\treturn text.Shout(strconv.Itoa(p.X) + \",\" + strconv.Itoa(p.Y))\n}\n",
		"cmd/hello/main.go": "package main\n\nimport (\n\t\"os\"\n\n\t\"example.com/shared/core\"\n\t\"example.com/shared/geo\"\n)\n\n" +
			"func main() { os.Stdout.WriteString(core.Describe(geo.Point{1, 2}.Add(geo.Point{3, 4})) + \"\\n\") }\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	seedOnce sync.Once
	seedDir  string
	seedErr  error
)

// seededTier returns a new local tier that already holds the standard
// library packages the test module uses (built once per test run from
// another module), so that fault tests only send the module's own packages
// to the server.
func seededTier(t *testing.T) string {
	t.Helper()
	g := goTool(t)
	seedOnce.Do(func() {
		base, err := os.MkdirTemp("", "buildcache-seed-")
		if err != nil {
			seedErr = err
			return
		}
		seedDir = filepath.Join(base, "tier")
		mod := filepath.Join(base, "seed")
		os.MkdirAll(mod, 0o755)
		os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/seed\n\ngo 1.22\n"), 0o644)
		os.WriteFile(filepath.Join(mod, "main.go"), []byte("package main\n\nimport (\n\t\"os\"\n\t\"strconv\"\n\t\"strings\"\n)\n\nfunc main() { os.Stdout.WriteString(strings.ToUpper(strconv.Itoa(1))) }\n"), 0o644)
		exe, _ := os.Executable()
		cmd := exec.Command(g, "build", "-trimpath", "-o", os.DevNull, ".")
		cmd.Dir = mod
		cmd.Env = append(goEnv(filepath.Join(base, "gocache")), fmt.Sprintf("GOCACHEPROG=%q cache prog --dir %q", exe, seedDir))
		if out, err := cmd.CombinedOutput(); err != nil {
			seedErr = fmt.Errorf("seeding the local tier: %v\n%s", err, out)
		}
	})
	if seedErr != nil {
		t.Fatal(seedErr)
	}
	dst := filepath.Join(t.TempDir(), "tier")
	if err := os.CopyFS(dst, os.DirFS(seedDir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// goEnv is the go command's environment for these tests: no user go env,
// no network, the local toolchain.
func goEnv(gocache string) []string {
	return append(os.Environ(),
		"GOENV=off", "GOFLAGS=", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0",
		"GOCACHE="+gocache) // only FuzzDir lives there with GOCACHEPROG
}

var modulePackages = []string{"example.com/shared/geo", "example.com/shared/text", "example.com/shared/core", "example.com/shared/cmd/hello"}

func goTool(t *testing.T) string {
	t.Helper()
	g, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH: " + err.Error())
	}
	return g
}

// cacheServer runs the real cache server on 127.0.0.1 over a disk store.
func cacheServer(t *testing.T, wrap func(http.Handler) http.Handler) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = &buildcache.Server{Store: st}
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts, dir
}

type buildResult struct {
	stats    map[string]int64
	compiled []string // packages the go command compiled (go build -v)
	out      string
}

// build runs `go build -v -trimpath -o BIN ./cmd/hello` plus `go build ./...`
// in modDir with GOCACHEPROG set to the test binary as helper, then runs the
// binary.
func build(t *testing.T, modDir, localDir, server string, extra ...string) buildResult {
	t.Helper()
	return buildWith(t, nil, modDir, localDir, server, extra...)
}

// buildWith is build with the go command run through wrapper (a command
// and arguments that end by executing the rest).
func buildWith(t *testing.T, wrapper []string, modDir, localDir, server string, extra ...string) buildResult {
	t.Helper()
	r := buildAny(t, wrapper, modDir, localDir, server, extra...)
	if r.out != "4,6!\n" {
		t.Fatalf("built program printed %q, want %q", r.out, "4,6!\n")
	}
	return r
}

// buildAny is buildWith without the check of what the program prints.
func buildAny(t *testing.T, wrapper []string, modDir, localDir, server string, extra ...string) buildResult {
	t.Helper()
	g := goTool(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	prog := fmt.Sprintf("%q cache prog --dir %q", exe, localDir)
	if server != "" {
		prog += " --server " + server
	}
	prog += " " + strings.Join(extra, " ")
	bin := filepath.Join(t.TempDir(), "hello")
	args := append(append([]string(nil), wrapper...), g, "build", "-v", "-trimpath", "-o", bin, "./cmd/hello")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = modDir
	cmd.Env = append(goEnv(filepath.Join(t.TempDir(), "gocache")), "GOCACHEPROG="+prog)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build with GOCACHEPROG failed: %v\n%s", err, stderr.String())
	}
	var r buildResult
	for _, l := range strings.Split(stderr.String(), "\n") {
		switch {
		case strings.HasPrefix(l, `{"pitstop_cache_stats"`):
			var m struct {
				S map[string]int64 `json:"pitstop_cache_stats"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("stats line %q: %v", l, err)
			}
			r.stats = m.S
		case l == "", strings.Contains(l, "level=WARN"),
			// The go command's note that the helper (emulated, on a
			// loaded machine) is slow to start: not a compile.
			strings.HasPrefix(l, "# still waiting for GOCACHEPROG "):
		default:
			r.compiled = append(r.compiled, l)
		}
	}
	if r.stats == nil {
		t.Fatalf("no stats from the helper; stderr:\n%s", stderr.String())
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running the built program: %v", err)
	}
	r.out = string(out)
	return r
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSharedCacheAcrossCheckouts(t *testing.T) {
	ts, srvDir := cacheServer(t, nil)

	// Cold: everything is compiled and uploaded.
	modA := filepath.Join(t.TempDir(), "checkout-a")
	writeModule(t, modA)
	cold := build(t, modA, t.TempDir(), ts.URL)
	for _, p := range modulePackages[:3] {
		if !contains(cold.compiled, p) {
			t.Errorf("cold build did not compile %s (compiled: %v)", p, cold.compiled)
		}
	}
	if cold.stats["puts"] == 0 || cold.stats["uploads"] != cold.stats["puts"] {
		t.Errorf("cold build: %d puts, %d uploaded; want all uploaded", cold.stats["puts"], cold.stats["uploads"])
	}
	if cold.stats["local_hits"] != 0 || cold.stats["remote_hits"] != 0 {
		t.Errorf("cold build hit an empty cache: %v", cold.stats)
	}
	objects := 0
	filepath.WalkDir(filepath.Join(srvDir, "o"), func(_ string, d fs.DirEntry, _ error) error {
		if d != nil && d.Type().IsRegular() {
			objects++
		}
		return nil
	})
	if int64(objects) == 0 {
		t.Fatalf("server holds no objects after the cold build")
	}

	// Fresh local tier, another checkout path: with -trimpath every
	// package comes from the server; nothing is compiled.
	modB := filepath.Join(t.TempDir(), "elsewhere", "checkout-b")
	writeModule(t, modB)
	warm := build(t, modB, t.TempDir(), ts.URL)
	if len(warm.compiled) != 0 {
		t.Errorf("fresh build at another path compiled %v; want every package from the cache", warm.compiled)
	}
	// Every hit was served by the server: prefetched, or fetched by an
	// earlier get of this build (the tier started empty).
	fromServer := warm.stats["prefetch_hits"] + warm.stats["remote_hits"]
	if fromServer == 0 || warm.stats["local_hits"]-warm.stats["prefetch_hits"] > warm.stats["remote_hits"] {
		t.Errorf("fresh build: hits that did not come from the server: %v", warm.stats)
	}
	// Only link steps may miss: their outputs are never cached.
	if warm.stats["misses"] > warm.stats["puts"] || warm.stats["corrupt"] != 0 || warm.stats["remote_errors"] != 0 {
		t.Errorf("fresh build stats: %v", warm.stats)
	}

	// The same again without prefetching: each get asks the server.
	noPre := build(t, modB, t.TempDir(), ts.URL, "--no-prefetch")
	if len(noPre.compiled) != 0 || noPre.stats["remote_hits"] == 0 || noPre.stats["prefetched"] != 0 {
		t.Errorf("without prefetch: compiled %v, stats %v", noPre.compiled, noPre.stats)
	}
}

func TestServerKilledMidBuild(t *testing.T) {
	// Warm the server, then build from a fresh tier while the server dies
	// after a few answers: connections are cut and the port closes.
	var served atomic.Int64
	var ts *httptest.Server
	killAfter := int64(-1)
	ts, _ = cacheServer(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Only reads answered with an object count: the helper's
			// background uploads race with the gets, and a slow first
			// build (under qemu) may not have uploaded everything, so
			// counting any answer could leave no remote hit to show.
			if k := atomic.LoadInt64(&killAfter); k >= 0 && served.Load() >= k {
				go ts.CloseClientConnections()
				go ts.Listener.Close()
				panic(http.ErrAbortHandler)
			}
			rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
			h.ServeHTTP(rec, r)
			if r.Method == http.MethodGet && rec.code == http.StatusOK {
				served.Add(1)
			}
		})
	})
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	build(t, mod, seededTier(t), ts.URL)

	// A fresh tier (with the standard library seeded) asks the server for
	// each of the module's packages; the server dies after 3 answers.
	served.Store(0)
	atomic.StoreInt64(&killAfter, 3)
	r := build(t, mod, seededTier(t), ts.URL, "--no-prefetch")
	if r.stats["remote_hits"] == 0 {
		t.Errorf("the server died before answering anything: %v", r.stats)
	}
	if r.stats["remote_errors"] == 0 {
		t.Errorf("server was killed but the helper saw no errors: %v", r.stats)
	}
	if r.stats["misses"] == 0 {
		t.Errorf("no misses although the server died after 3 answers: %v", r.stats)
	}
}

func TestServerHangs(t *testing.T) {
	// A server that accepts and never answers must cost a timeout, then
	// the breaker stops asking: the build succeeds.
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release) // runs first
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	r := build(t, mod, seededTier(t), ts.URL, "--timeout", "300ms", "--flush-timeout", "10s")
	if r.stats["remote_hits"] != 0 || r.stats["remote_errors"] == 0 {
		t.Errorf("hanging server: %v", r.stats)
	}
	// The go command runs a few gets at once, so a few may be in flight
	// when the breaker opens; after that the helper must stop asking.
	if r.stats["remote_gets"] >= r.stats["gets"] || r.stats["remote_gets"] > 10 {
		t.Errorf("breaker did not stop the helper from asking a hanging server: %d remote gets of %d gets", r.stats["remote_gets"], r.stats["gets"])
	}
}

func TestGarbageServer(t *testing.T) {
	// A server that answers every get with a well-formed header and wrong
	// bytes: every answer is caught, nothing wrong reaches the compiler.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pitstop-Output-Id", strings.Repeat("ab", 32))
		w.Header().Set("X-Pitstop-Size", "11")
		w.Write([]byte("hello world"))
	}))
	defer ts.Close()
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	local := seededTier(t)
	r := build(t, mod, local, ts.URL, "--no-prefetch")
	if r.stats["remote_hits"] != 0 || r.stats["corrupt"] == 0 {
		t.Errorf("garbage server: %v", r.stats)
	}
	if _, err := os.Stat(filepath.Join(local, "o", "ab", strings.Repeat("ab", 32))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("garbage object landed in the local tier: %v", err)
	}
}

func TestCorruptObjectOnServer(t *testing.T) {
	ts, srvDir := cacheServer(t, nil)
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	build(t, mod, seededTier(t), ts.URL)

	// damage flips a byte in half of the server's objects (same size, only
	// the sha256 tells) and cuts the others short.
	damage := func() {
		var flipped, cut int
		filepath.WalkDir(filepath.Join(srvDir, "o"), func(p string, d fs.DirEntry, _ error) error {
			if d == nil || !d.Type().IsRegular() {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil || len(data) < 2 {
				return nil
			}
			if flipped <= cut {
				data[len(data)/2] ^= 0xff
				flipped++
			} else {
				data = data[:len(data)/2]
				cut++
			}
			return os.WriteFile(p, data, 0o644)
		})
		if flipped == 0 || cut == 0 {
			t.Fatalf("damaged %d+%d objects; want some of each", flipped, cut)
		}
	}
	for _, mode := range []string{"--no-prefetch", ""} {
		damage()
		r := build(t, mod, seededTier(t), ts.URL, mode)
		if r.stats["corrupt"] == 0 {
			t.Errorf("%q: no corrupt object detected: %v", mode, r.stats)
		}
		// Every module package had a damaged object: all are rebuilt
		// (build checked that the program works).
		for _, p := range modulePackages[:3] {
			if !contains(r.compiled, p) {
				t.Errorf("%q: %s was not recompiled from a damaged server (compiled %v)", mode, p, r.compiled)
			}
		}
		// The rebuilt objects were uploaded again: the server is healed.
		healed := build(t, mod, seededTier(t), ts.URL, mode)
		if healed.stats["corrupt"] != 0 || len(healed.compiled) != 0 {
			t.Errorf("%q: after re-upload: compiled %v, stats %v", mode, healed.compiled, healed.stats)
		}
	}
}

// closedURL is the address of a port nothing listens on.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestServerDown(t *testing.T) {
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	r := build(t, mod, seededTier(t), closedURL(t))
	if r.stats["remote_hits"] != 0 || r.stats["misses"] == 0 {
		t.Errorf("no server: %v", r.stats)
	}
	if r.stats["remote_gets"] > 10 {
		t.Errorf("breaker did not stop the helper from asking a dead server: %d remote gets", r.stats["remote_gets"])
	}
}

func TestFullLocalDisk(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: mounts a tiny tmpfs in a new mount namespace (unshare -m)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux): " + err.Error())
	}
	// The local tier is a 512 KiB tmpfs, far too small for a build: the
	// helper keeps what does not fit in memory and the build succeeds.
	tier := filepath.Join(t.TempDir(), "tier")
	os.MkdirAll(tier, 0o755)
	ts, _ := cacheServer(t, nil)
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)
	wrap := []string{unshare, "-m", "sh", "-c", `mount -t tmpfs -o size=512k tmpfs "$0" && exec "$@"`, tier}
	r := buildWith(t, wrap, mod, tier, ts.URL)
	if r.stats["local_errors"] == 0 {
		t.Fatalf("a 512 KiB tier took the whole build? %v", r.stats)
	}
	// What went to memory was still uploaded: a fresh tier gets it all.
	if r.stats["uploads"] != r.stats["puts"] {
		t.Errorf("uploaded %d of %d puts; stats %v", r.stats["uploads"], r.stats["puts"], r.stats)
	}
	warm := build(t, mod, t.TempDir(), ts.URL)
	if len(warm.compiled) != 0 {
		t.Errorf("after a full-disk build, a fresh tier still compiled %v", warm.compiled)
	}
}

// statusRecorder remembers the status code a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}
