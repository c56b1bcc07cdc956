package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/testexe"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// pitstopBinary copies this test binary to DIR/pitstop: run under that
// name it is the pitstop command (TestMain), and os.Executable, which join
// writes into GOCACHEPROG, is that copy.
func pitstopBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "pitstop")
	if err := testexe.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// fleetEnv is a machine's environment for the go command and pitstop: its
// own HOME, GOENV file, caches and module cache; nothing from the test's
// own go settings.
type fleetEnv struct {
	t    *testing.T
	root string
	vars map[string]string
}

func newFleetEnv(t *testing.T) *fleetEnv {
	root := t.TempDir()
	e := &fleetEnv{t: t, root: root, vars: map[string]string{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GO") || strings.HasPrefix(k, "PITSTOP") || k == "HOME" || strings.HasPrefix(k, "XDG_") {
			continue
		}
		e.vars[k] = v
	}
	for k, v := range map[string]string{
		"HOME": root + "/home", "XDG_CONFIG_HOME": root + "/config", "GOENV": root + "/config/go/env",
		"GOPATH": root + "/gopath", "GOTOOLCHAIN": "local", "GOWORK": "off",
	} {
		e.vars[k] = v
	}
	e.machine("a")
	return e
}

// machine switches to another machine's caches (build cache, cache prog's
// local tier, module cache); the GOENV file stays.
func (e *fleetEnv) machine(name string) {
	e.vars["GOCACHE"] = e.root + "/" + name + "/gocache"
	e.vars["XDG_CACHE_HOME"] = e.root + "/" + name + "/xdgcache"
	e.vars["GOMODCACHE"] = e.root + "/" + name + "/modcache"
	e.vars["GOFLAGS"] = "-modcacherw"
}

func (e *fleetEnv) environ() []string {
	var env []string
	for k, v := range e.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// run runs name args in dir with the machine's environment; it returns
// stdout, stderr and the exit code.
func (e *fleetEnv) run(dir, name string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = e.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s %v: %v", name, args, err)
	}
	return stdout.String(), stderr.String(), code
}

func (e *fleetEnv) mustRun(dir, name string, args ...string) (string, string) {
	e.t.Helper()
	out, errOut, code := e.run(dir, name, args...)
	if code != 0 {
		e.t.Fatalf("%s %s: exit %d\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// cacheStats sums the PITSTOP_CACHE_STATS=json lines cache prog printed.
func cacheStats(t *testing.T, stderr string) map[string]int64 {
	t.Helper()
	sum := map[string]int64{}
	n := 0
	for _, line := range strings.Split(stderr, "\n") {
		var v struct {
			S map[string]int64 `json:"pitstop_cache_stats"`
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.S != nil {
			n++
			for k, x := range v.S {
				sum[k] += x
			}
		}
	}
	if n == 0 {
		t.Fatalf("no cache prog stats line in:\n%s", stderr)
	}
	return sum
}

// fleetProject writes a main package under root/proj calling
// example.com/<mod>.<fn>() and returns its directory.
func fleetProject(t *testing.T, root, mod, fn string) string {
	t.Helper()
	proj := filepath.Join(root, "proj")
	if err := os.MkdirAll(proj, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"go.mod":  "module example.com/proj\n\ngo 1.21\n\nrequire example.com/" + mod + " v1.0.0\n",
		"main.go": "package main\n\nimport \"example.com/" + mod + "\"\n\nfunc main() { println(" + mod + "." + fn + "()) }\n",
	} {
		if err := os.WriteFile(filepath.Join(proj, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return proj
}

func fleetModules() []testupstream.Module {
	return []testupstream.Module{
		{Path: "example.com/fleeta", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/fleeta\n\ngo 1.21\n\nrequire example.com/fleetb v1.0.0\n",
			"a.go":   "package fleeta\n\nimport \"example.com/fleetb\"\n\nfunc A() string { return \"a\" + fleetb.B() }\n"}},
		{Path: "example.com/fleetb", Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module example.com/fleetb\n\ngo 1.21\n",
			"b.go":   "package fleetb\n\nfunc B() string { return \"b\" }\n"}},
	}
}

// TestServeJoinBuildLeave is the classroom: `pitstop serve` in front of an
// upstream, a machine joins it, the real go command downloads a module
// graph through it and a second machine builds with build cache hits from
// it; with the server stopped the same build goes through the fallback
// (a second upstream playing the public proxy); leave puts the GOENV file
// back byte for byte.
func TestServeJoinBuildLeave(t *testing.T) {
	gocmd := goCmd(t)
	up := testupstream.NewForTest(t, fleetModules()...)
	fallback := testupstream.NewForTest(t, fleetModules()...)
	addr, stop := startMain(t, "serve", []string{"serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--no-announce"})
	server := "http://" + addr
	bin := pitstopBinary(t)
	e := newFleetEnv(t)

	// The user's go env before: a comment, their proxy, their GOSUMDB.
	before := "# my settings\nGOPROXY=" + fallback.URL + "\nGOSUMDB=" + up.GOSUMDB + "\n"
	goenvFile := e.vars["GOENV"]
	os.MkdirAll(filepath.Dir(goenvFile), 0o755)
	if err := os.WriteFile(goenvFile, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	readEnv := func() string { b, _ := os.ReadFile(goenvFile); return string(b) }

	// The identifying endpoint.
	resp, err := http.Get(server + "/.pitstop")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"api":"pitstop/v1"`) || !strings.Contains(string(body), `"cache"`) {
		t.Errorf("/.pitstop answered %s", body)
	}

	// /healthz and /metrics once for both: the proxy's, the cache's and
	// the listener's series in one exposition.
	for path, want := range map[string][]string{
		"/healthz": {"ok"},
		"/metrics": {"pitstop_serve_http_requests_total", "pitstop_cache_evictions_total", "pitstop_proxy_"},
	} {
		resp, err := http.Get(server + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if resp.StatusCode != 200 || !strings.Contains(string(b), w) {
				t.Errorf("%s: %s, lacks %q", path, resp.Status, w)
			}
		}
	}

	// --dry-run prints the plan (--json: as JSON) and changes nothing.
	out, _ := e.mustRun(e.root, bin, "join", server, "--go", gocmd, "--dry-run", "--json")
	if !strings.Contains(out, `"schema": "pitstop-plan/v1"`) || !strings.Contains(out, `"target": "GOCACHEPROG"`) || readEnv() != before {
		t.Errorf("join --dry-run --json: %s; GOENV now %q", out, readEnv())
	}
	out, _ = e.mustRun(e.root, bin, "join", server, "--go", gocmd, "--dry-run")
	if !strings.Contains(out, "GOPROXY") || !strings.Contains(out, "dry run") || readEnv() != before {
		t.Errorf("join --dry-run: %s; GOENV now %q", out, readEnv())
	}
	out, _ = e.mustRun(e.root, bin, "join", server, "--go", gocmd)
	wantProxy := "GOPROXY=" + server + "|" + fallback.URL
	wantProg := "GOCACHEPROG=" + bin + " cache prog --server " + server + "/cache"
	joined := readEnv()
	if !strings.Contains(joined, wantProxy+"\n") || !strings.Contains(joined, wantProg+"\n") {
		t.Fatalf("after join, GOENV is\n%s\nwant lines %q and %q (join said %s)", joined, wantProxy, wantProg, out)
	}
	// Idempotent: a second join changes nothing.
	out, _ = e.mustRun(e.root, bin, "join", server, "--go", gocmd)
	if !strings.Contains(out, "already joined") || readEnv() != joined {
		t.Errorf("second join: %q; GOENV changed: %v", out, readEnv() != joined)
	}

	// A project needing example.com/fleeta → fleetb.
	proj := fleetProject(t, e.root, "fleeta", "A")
	e.vars["PITSTOP_CACHE_STATS"] = "json"
	e.mustRun(proj, gocmd, "mod", "tidy")
	if up.Count(testupstream.ZipPath("example.com/fleetb", "v1.0.0")) != 1 || len(fallback.Requests()) != 0 {
		t.Errorf("the module graph should come through the server from the upstream: upstream %v, fallback %v", up.Requests(), fallback.Requests())
	}
	_, errOut := e.mustRun(proj, gocmd, "build", "-trimpath", "-o", os.DevNull, ".")
	if s := cacheStats(t, errOut); s["uploads"] == 0 {
		t.Errorf("first build uploaded nothing to the server: %v", s)
	}

	// Another machine (empty build cache, empty local tier, empty module
	// cache): modules from the server's store, compiled packages from its
	// cache.
	e.machine("b")
	_, errOut = e.mustRun(proj, gocmd, "build", "-trimpath", "-o", os.DevNull, ".")
	s := cacheStats(t, errOut)
	if s["remote_hits"]+s["prefetch_hits"] == 0 || s["remote_errors"] != 0 {
		t.Errorf("second machine: no hits from the server's cache: %v", s)
	}
	if n := up.Count(testupstream.ZipPath("example.com/fleetb", "v1.0.0")); n != 1 {
		t.Errorf("upstream zip fetches = %d, want 1 (the second machine's from the server's store)", n)
	}

	// The status page shows both parts: the cache with the objects the
	// first machine uploaded, the proxy with the modules both fetched.
	resp, err = http.Get(server + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st service.Status
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || len(st.Parts) != 2 || st.Parts[0].Name != "build cache" || st.Parts[1].Name != "proxy" {
		t.Fatalf("serve /api/status: %v, parts %+v; want the build cache and the proxy", err, st.Parts)
	}
	if c := st.Parts[0]; c.Store == nil || c.Store.Objects == 0 {
		t.Errorf("serve status: build cache store %+v; want the uploaded objects", c.Store)
	}
	fleetb := int64(0)
	for _, e := range st.Parts[1].TopRequests {
		if e.Key == "example.com/fleetb" {
			fleetb = e.Requests
		}
	}
	if fleetb < 2 {
		t.Errorf("serve status: proxy top %+v; want example.com/fleetb asked by both machines", st.Parts[1].TopRequests)
	}

	// The doctor sees the join: ok while the server answers, a stale join
	// (warning, exit 1) with its fix once it is stopped.
	out, _ = e.mustRun(e.root, bin, "doctor", "--only", "go.fleet", "--color", "never")
	if !strings.Contains(out, "joined to "+server+": it answers as pitstop") {
		t.Errorf("doctor with the server up:\n%s", out)
	}

	// The server stops: a third machine still builds, through the
	// fallback entry after "|".
	stop()
	out, _, code := e.run(e.root, bin, "doctor", "--only", "go.fleet", "--color", "never")
	if code != 1 || !strings.Contains(out, "stale join: "+server) || !strings.Contains(out, "pitstop leave") {
		t.Errorf("doctor with the server stopped: exit %d\n%s", code, out)
	}
	e.machine("c")
	_, errOut = e.mustRun(proj, gocmd, "build", "-trimpath", "-o", os.DevNull, ".")
	if fallback.Count(testupstream.ZipPath("example.com/fleeta", "v1.0.0")) != 1 {
		t.Errorf("with the server stopped the modules should come from the fallback: %v\n%s", fallback.Requests(), errOut)
	}

	// leave: the GOENV file byte for byte, the state gone; again: nothing to do.
	out, _ = e.mustRun(e.root, bin, "leave", "--go", gocmd)
	if got := readEnv(); got != before {
		t.Errorf("after leave GOENV is\n%q\nwant\n%q\n(leave said %s)", got, before, out)
	}
	if _, err := os.Stat(filepath.Join(e.vars["XDG_CONFIG_HOME"], "pitstop", "join.json")); !os.IsNotExist(err) {
		t.Errorf("join state still there after leave: %v", err)
	}
	out, _ = e.mustRun(e.root, bin, "leave", "--go", gocmd)
	if !strings.Contains(out, "not joined") || readEnv() != before {
		t.Errorf("second leave: %q", out)
	}
}

// TestJoinRefuses: a server that is not pitstop, a pitstop that wants a
// token, a go command older than go1.24: one line, exit 2, nothing written.
func TestJoinRefuses(t *testing.T) {
	gocmd := goCmd(t)
	bin := pitstopBinary(t)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>a router's page</html>"))
	}))
	defer fake.Close()
	up := testupstream.NewForTest(t, fleetModules()...)
	addr, _ := startMain(t, "serve", []string{"serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--no-announce", "--auth-token", "s3cret"})
	oldGo := filepath.Join(t.TempDir(), "go")
	testexe.WriteFile(oldGo, []byte("#!/bin/sh\necho '{\"GOVERSION\":\"go1.23.4\",\"GOENV\":\"'$GOENV'\",\"GOPROXY\":\"direct\",\"GOCACHEPROG\":\"\"}'\n"), 0o755)
	plain, stopPlain := startMain(t, "serve", []string{"serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--no-announce"})
	defer stopPlain()

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not pitstop", []string{"join", fake.URL, "--go", gocmd}, "not a pitstop server"},
		{"a module proxy is not pitstop", []string{"join", up.URL, "--go", gocmd}, "not a pitstop server"},
		{"token wanted", []string{"join", "http://" + addr, "--go", gocmd}, "wants a token"},
		{"nothing listening", []string{"join", "http://127.0.0.1:1", "--go", gocmd}, "unreachable"},
		{"bad URL", []string{"join", "ftp://x", "--go", gocmd}, "want http://HOST:PORT"},
		{"go too old", []string{"join", "http://" + plain, "--go", oldGo}, "older than go1.24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFleetEnv(t)
			out, errOut, code := e.run(e.root, bin, tc.args...)
			if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and one line saying %q (stdout %q)", code, errOut, tc.want, out)
			}
			if _, err := os.Stat(e.vars["GOENV"]); !os.IsNotExist(err) {
				t.Errorf("GOENV file written: %v", err)
			}
			if _, err := os.Stat(filepath.Join(e.vars["XDG_CONFIG_HOME"], "pitstop")); !os.IsNotExist(err) {
				t.Errorf("join state written: %v", err)
			}
		})
	}
}

// TestJoinWithToken: a server with --auth-token over TLS. A wrong token
// is refused (exit 2, nothing written); the right one, read from a file,
// is joined: GOPROXY carries it to the go command over https, cache prog
// reads it from a private copy (never on a command line), and the real go
// command downloads a module and builds with the shared cache.
func TestJoinWithToken(t *testing.T) {
	gocmd := goCmd(t)
	up := testupstream.NewForTest(t, fleetModules()...)
	cert, key := writeTestCert(t, t.TempDir())
	addr, _ := startMain(t, "serve", []string{"serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--no-announce", "--auth-token", "s3cret",
		"--tls-cert", cert, "--tls-key", key})
	server := "https://" + addr
	bin := pitstopBinary(t)
	e := newFleetEnv(t)
	e.vars["SSL_CERT_FILE"] = cert
	tokens := t.TempDir()
	os.WriteFile(tokens+"/wrong", []byte("nope\n"), 0o600)
	os.WriteFile(tokens+"/right", []byte("s3cret\n"), 0o600)

	fallback := testupstream.NewForTest(t, fleetModules()...)
	before := "GOPROXY=" + fallback.URL + "\nGOSUMDB=" + up.GOSUMDB + "\n"
	os.MkdirAll(filepath.Dir(e.vars["GOENV"]), 0o755)
	os.WriteFile(e.vars["GOENV"], []byte(before), 0o644)

	_, errOut, code := e.run(e.root, bin, "join", server, "--go", gocmd, "--token-file", tokens+"/wrong")
	if code != 2 || !strings.Contains(errOut, "refused the token") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("wrong token: exit %d, %q; want 2 and one line", code, errOut)
	}
	if b, _ := os.ReadFile(e.vars["GOENV"]); string(b) != before {
		t.Errorf("GOENV changed after a refused token: %q", b)
	}
	out, _ := e.mustRun(e.root, bin, "join", server, "--go", gocmd, "--token-file", tokens+"/right")
	if strings.Contains(out, "s3cret") {
		t.Errorf("join printed the token: %s", out)
	}
	env, _ := os.ReadFile(e.vars["GOENV"])
	tokCopy := filepath.Join(e.vars["XDG_CONFIG_HOME"], "pitstop", "join-token")
	if !strings.Contains(string(env), "GOPROXY=https://pitstop:s3cret@"+addr+"|") || !strings.Contains(string(env), "--token-file "+tokCopy) {
		t.Errorf("GOENV after join with a token:\n%s", env)
	}
	if fi, err := os.Stat(tokCopy); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token copy %s: %v %v, want mode 0600", tokCopy, fi, err)
	}
	proj := fleetProject(t, e.root, "fleetb", "B")
	e.vars["PITSTOP_CACHE_STATS"] = "json"
	e.mustRun(proj, gocmd, "mod", "tidy")
	_, errOut = e.mustRun(proj, gocmd, "build", "-trimpath", "-o", os.DevNull, ".")
	if s := cacheStats(t, errOut); s["uploads"] == 0 || s["upload_errors"] != 0 {
		t.Errorf("build with the token: %v; want uploads and no upload errors", s)
	}
	if n := up.Count(testupstream.ZipPath("example.com/fleetb", "v1.0.0")); n != 1 || len(fallback.Requests()) != 0 {
		t.Errorf("upstream zip fetches %d, want 1, and none from the fallback (%v): the token should let the go command through the server", n, fallback.Requests())
	}
	e.mustRun(e.root, bin, "leave", "--go", gocmd)
	if b, _ := os.ReadFile(e.vars["GOENV"]); string(b) != before {
		t.Errorf("GOENV after leave: %q, want %q", b, before)
	}
	if _, err := os.Stat(tokCopy); !os.IsNotExist(err) {
		t.Errorf("token copy left after leave: %v", err)
	}
}
