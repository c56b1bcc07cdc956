package doctor

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

// fakeHost is a capture built in a test: files under a temporary root,
// recorded probes, a go env and a process environment.
type fakeHost struct {
	files  map[string]string
	probes map[string]ProbeResult
	goenv  goenv.Env
	vars   map[string]string
}

func (te fakeHost) build(t *testing.T) *Env {
	t.Helper()
	dir := t.TempDir()
	for p, s := range te.files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := &Env{Root: host.At(dir), Go: te.goenv, Getenv: func(k string) string { return te.vars[k] }}
	if env.Go == nil {
		env.Go = goenv.Env{}
	}
	probes := te.probes
	if probes == nil {
		probes = map[string]ProbeResult{}
	}
	b, err := json.Marshal(probes)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.LoadProbes(b); err != nil {
		t.Fatal(err)
	}
	return env
}

// run finds the check id among checks and runs it with its timeout.
func runCk(t *testing.T, checks []Check, id string, env *Env) Result {
	t.Helper()
	for _, c := range checks {
		if c.ID == id {
			to := c.Timeout
			if to == 0 {
				to = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), to)
			defer cancel()
			r := c.Run(ctx, env)
			t.Logf("%s: %s: %s | fix: %s", id, r.Status, r.Finding, r.Fix)
			for _, d := range r.Details {
				t.Logf("    %s", d)
			}
			return r
		}
	}
	t.Fatalf("no check %s", id)
	return Result{}
}

func expectCk(t *testing.T, r Result, status Status, finding ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status %s, want %s (finding %q)", r.Status, status, r.Finding)
	}
	for _, f := range finding {
		if !strings.Contains(r.Finding+" | fix: "+r.Fix, f) {
			t.Errorf("finding %q (fix %q) lacks %q", r.Finding, r.Fix, f)
		}
	}
	if (status == Warn || status == Fail) && r.Fix == "" {
		t.Errorf("%s without a fix line", status)
	}
	if strings.Contains(r.Finding, "\n") || strings.Contains(r.Fix, "\n") {
		t.Errorf("finding or fix spans lines: %q / %q", r.Finding, r.Fix)
	}
}

// elfHeader builds the first 64 bytes of an ELF file.
func elfHeader(class byte, machine uint16, flags uint32) string {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, 1, 1
	binary.LittleEndian.PutUint16(b[16:], 2)
	binary.LittleEndian.PutUint16(b[18:], machine)
	if class == 1 {
		binary.LittleEndian.PutUint32(b[36:], flags)
	} else {
		binary.LittleEndian.PutUint32(b[48:], flags)
	}
	return string(b)
}

var (
	elfArmhf = elfHeader(1, 40, 0x05000400)
	elfArmel = elfHeader(1, 40, 0x05000200)
	elfArm64 = elfHeader(2, 183, 0)
	elfAmd64 = elfHeader(2, 62, 0)
)

// rec is a probe recorded with value v, as Probe records it.
func rec(v any) ProbeResult {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return ProbeResult{Value: b}
}

// recErr is a probe recorded with an error.
func recErr(e string) ProbeResult { return ProbeResult{Err: e} }

// goPath is a recorded go.path: each entry "path" or "path -> resolved".
func goPath(entries ...string) ProbeResult {
	out := []installedGo{}
	for _, e := range entries {
		p, r, _ := strings.Cut(e, " -> ")
		out = append(out, installedGo{Path: p, Resolved: r})
	}
	return rec(out)
}

// pi4Shadowed is a Pi 4 with a 64-bit kernel, 32-bit userland, distro Go
// 1.19 at /usr/bin/go first on PATH and Go 1.23 in /usr/local/go.
func pi4Shadowed() fakeHost {
	return fakeHost{
		files: map[string]string{
			"/bin/sh":                                elfArmhf,
			"/var/lib/dpkg/info/golang-go.list":      "/.\n/usr\n/usr/bin\n/usr/bin/go\n/usr/bin/gofmt\n",
			"/var/lib/dpkg/info/golang-1.19-go.list": "/.\n/usr/lib/go-1.19/bin/go\n",
			"/proc/cpuinfo":                          "processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nCPU architecture: 7\n",
			"/proc/self/mountinfo":                   "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw\n40 22 0:35 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw\n",
		},
		probes: map[string]ProbeResult{
			"go.path":                         goPath("/usr/bin/go -> /usr/lib/go-1.19/bin/go", "/bin/go -> /usr/lib/go-1.19/bin/go", "/usr/local/go/bin/go"),
			"go.version:/usr/bin/go":          rec("go version go1.19.8 linux/arm"),
			"go.version:/usr/local/go/bin/go": rec("go version go1.23.4 linux/arm"),
			"go.latest":                       rec([]string{"go1.25.4"}),
		},
		goenv: goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm", "GOARM": "6", "GOROOT": "/usr/lib/go-1.19",
			"GOPATH": "/home/pi/go", "GOPROXY": "https://proxy.example,direct", "GOSUMDB": "", "GOTOOLCHAIN": ""},
		vars: map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin", "HOME": "/home/pi"},
	}
}

func TestGoShadowedDistroGo(t *testing.T) {
	env := pi4Shadowed().build(t)
	checks := goChecks()
	r := runCk(t, checks, "go.shadow", env)
	expectCk(t, r, Fail, "distro-packaged /usr/bin/go go1.19.8 (golang-go)", "/usr/local/go/bin/go go1.23.4", "toolchain", "sudo apt remove golang-go")

	r = runCk(t, checks, "go.version", env)
	expectCk(t, r, Fail, "go1.19.8 is too old", "`toolchain` line", "3-part", "newest go1.25.4", "pitstop go install latest")

	r = runCk(t, checks, "go.path", env)
	expectCk(t, r, OK, "/usr/bin/go (-> /usr/lib/go-1.19/bin/go) wins", "2 go commands")
	if len(r.Details) != 2 || !strings.Contains(r.Details[0], "[wins]") || !strings.Contains(r.Details[1], "go1.23.4") {
		t.Errorf("details %q", r.Details)
	}

	r = runCk(t, checks, "go.arch", env)
	expectCk(t, r, OK, "GOARCH=arm GOARM=6", "32-bit armhf")

	r = runCk(t, checks, "go.toolchain", env)
	expectCk(t, r, Warn, "go1.19.8 ignores GOTOOLCHAIN")

	r = runCk(t, checks, "go.gobin", env)
	expectCk(t, r, Warn, "/home/pi/go/bin is not on PATH", "pitstop go shellenv --write")

	r = runCk(t, checks, "go.tmpdir", env)
	expectCk(t, r, OK, "/tmp")
}

func TestGoShadowNotDistro(t *testing.T) {
	te := pi4Shadowed()
	delete(te.files, "/var/lib/dpkg/info/golang-go.list")
	delete(te.files, "/var/lib/dpkg/info/golang-1.19-go.list")
	te.probes["go.path"] = goPath("/opt/go1.19/bin/go", "/usr/local/go/bin/go")
	te.probes["go.version:/opt/go1.19/bin/go"] = rec("go version go1.21.3 linux/arm")
	r := runCk(t, goChecks(), "go.shadow", te.build(t))
	expectCk(t, r, Fail, "/opt/go1.19/bin/go go1.21.3 shadows /usr/local/go/bin/go go1.23.4", `export PATH="/usr/local/go/bin:$PATH"`)
	if strings.Contains(r.Finding, "distro") {
		t.Errorf("not distro-packaged: %q", r.Finding)
	}
}

func TestGoShadowOlderLater(t *testing.T) {
	te := pi4Shadowed()
	te.probes["go.path"] = goPath("/usr/local/go/bin/go", "/usr/bin/go -> /usr/lib/go-1.19/bin/go")
	env := te.build(t)
	expectCk(t, runCk(t, goChecks(), "go.shadow", env), OK, "/usr/local/go/bin/go (go1.23.4) wins")
	expectCk(t, runCk(t, goChecks(), "go.version", env), Warn, "go1.23.4 is 2 releases behind go1.25.4")
}

func TestGoArchArm64ToolOn32BitUserland(t *testing.T) {
	te := pi4Shadowed()
	te.probes["go.path"] = goPath("/usr/local/go/bin/go")
	te.probes["go.version:/usr/local/go/bin/go"] = rec("go version go1.23.4 linux/arm64")
	te.goenv["GOARCH"], te.goenv["GOHOSTARCH"] = "arm64", "arm64"
	r := runCk(t, goChecks(), "go.arch", te.build(t))
	expectCk(t, r, Warn, "go command is arm64 but the userland is 32-bit armhf", "64-bit kernel", "pitstop go install latest")
}

func TestGoArchCases(t *testing.T) {
	for _, tt := range []struct {
		name     string
		sh       string
		cpuinfo  string
		goenv    goenv.Env
		status   Status
		contains string
	}{
		{"amd64", elfAmd64, "", goenv.Env{"GOARCH": "amd64", "GOHOSTARCH": "amd64"}, OK, "GOARCH=amd64 matches the 64-bit amd64 userland"},
		{"arm64", elfArm64, "", goenv.Env{"GOARCH": "arm64", "GOHOSTARCH": "arm64"}, OK, "GOARCH=arm64 matches"},
		{"cross set", elfArm64, "", goenv.Env{"GOARCH": "amd64", "GOHOSTARCH": "arm64"}, Warn, "GOARCH=amd64 is set"},
		{"softfloat", elfArmhf, "", goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm", "GOARM": "5"}, Warn, "GOARM=5"},
		{"armel softfloat", elfArmel, "", goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm", "GOARM": "5"}, OK, "32-bit armel"},
		{"armv6 cpu", elfArmhf, "model name\t: ARMv6-compatible processor rev 7 (v6l)\n", goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm", "GOARM": "7"}, Fail, "illegal instruction"},
		{"armv7 cpu", elfArmhf, "CPU architecture: 7\n", goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm", "GOARM": "7"}, OK, "GOARM=7"},
		{"no sh", "", "", goenv.Env{"GOARCH": "arm64"}, Skip, "userland architecture unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := fakeHost{files: map[string]string{}, goenv: tt.goenv,
				probes: map[string]ProbeResult{"go.path": goPath()}}
			if tt.sh != "" {
				te.files["/bin/sh"] = tt.sh
			}
			if tt.cpuinfo != "" {
				te.files["/proc/cpuinfo"] = tt.cpuinfo
			}
			expectCk(t, runCk(t, goChecks(), "go.arch", te.build(t)), tt.status, tt.contains)
		})
	}
}

func TestJudgeGoVersion(t *testing.T) {
	for _, tt := range []struct {
		out, latest string
		status      Status
		contains    string
	}{
		{"go version go1.25.4 linux/arm64", "go1.25.4", OK, "newest release"},
		{"go version go1.25.1 linux/arm64", "go1.25.4", Warn, "behind the go1.25 point release go1.25.4"},
		{"go version go1.24.9 linux/arm64", "go1.25.4", OK, "go1.24 is still supported"},
		{"go version go1.24.9 linux/arm64", "go1.25.4 go1.24.11 go1.23.12", Warn, "behind the go1.24 point release go1.24.11 (security fixes; newest go1.25.4)"},
		{"go version go1.24.11 linux/arm64", "go1.25.4 go1.24.11 go1.23.12", OK, "go1.24 is still supported"},
		{"go version go1.22.5 linux/arm64", "go1.25.4", Warn, "3 releases behind"},
		{"go version go1.20.14 linux/arm", "go1.25.4", Fail, "too old"},
		{"go version go1.22.5 linux/arm64", "", OK, "newest release unknown"},
		{"go version devel go1.26-abcdef Tue Jan 1 linux/amd64", "go1.25.4", OK, "development build"},
		{"go version go1.24.0 X:nocoverageredesign linux/amd64", "go1.25.0", OK, "go1.24.0"},
	} {
		gv, err := parseGoVersionOutput(tt.out)
		if err != nil {
			t.Fatalf("%q: %v", tt.out, err)
		}
		r := judgeGoVersion(gv, strings.Fields(tt.latest), nil)
		if r.Status != tt.status || !strings.Contains(r.Finding, tt.contains) {
			t.Errorf("%q vs %q: %s %q; want %s containing %q", tt.out, tt.latest, r.Status, r.Finding, tt.status, tt.contains)
		}
	}
	if _, err := parseGoVersionOutput("bash: go: command not found"); err == nil {
		t.Error("garbage accepted")
	}
}

func TestNewestFromToolchainList(t *testing.T) {
	list := "v0.0.1-go1.21.0.linux-arm64\nv0.0.1-go1.23.4.linux-armv6l\nv0.0.1-go1.24rc1.linux-arm64\nv0.0.1-go1.9.2.linux-amd64\n v0.0.1-go1.20.linux-amd64 \nv1.0.0\nv0.0.1-gox.linux-arm64\n"
	if got := strings.Join(newestFromToolchainList(list), " "); got != "go1.23.4 go1.21.0 go1.20" {
		t.Errorf("newest = %q, want go1.23.4 go1.21.0 go1.20 (rc excluded)", got)
	}
}

// toolchainProxy serves a golang.org/toolchain version list, or status.
func toolchainProxy(t *testing.T, status int, versions ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/golang.org/toolchain/@v/list" || status != http.StatusOK {
			code := status
			if code == http.StatusOK {
				code = http.StatusNotFound
			}
			http.Error(w, "no", code)
			return
		}
		for _, v := range versions {
			fmt.Fprintf(w, "v0.0.1-%s.linux-arm64\nv0.0.1-%s.linux-armv6l\n", v, v)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// closedURL is an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestLatestGoFallback(t *testing.T) {
	good := toolchainProxy(t, http.StatusOK, "go1.22.5", "go1.23.4", "go1.24rc2")
	missing := toolchainProxy(t, http.StatusNotFound)
	broken := toolchainProxy(t, http.StatusInternalServerError)
	dead := closedURL(t)
	for _, tt := range []struct {
		goproxy, want, errText string
	}{
		{good.URL, "go1.23.4 go1.22.5", ""},
		{missing.URL + "," + good.URL, "go1.23.4 go1.22.5", ""},
		{dead + "|" + good.URL, "go1.23.4 go1.22.5", ""},
		{broken.URL + "|" + good.URL, "go1.23.4 go1.22.5", ""},
		{broken.URL + "," + good.URL, "", "500"},
		{dead + "," + good.URL, "", "refused"},
		{missing.URL + ",direct", "", "reached direct"},
		{"off", "", "off"},
	} {
		env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": tt.goproxy}, Getenv: func(string) string { return "" }}
		latest, err := latestGo(context.Background(), env)
		got := strings.Join(latest, " ")
		if got != tt.want || (tt.errText == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errText)) {
			t.Errorf("GOPROXY=%s: %q, %v; want %q, error containing %q", tt.goproxy, got, err, tt.want, tt.errText)
		}
		p := env.Probes()["go.latest"]
		if want := rec(latest); err == nil && string(p.Value) != string(want.Value) || err != nil && p.Err != err.Error() {
			t.Errorf("probe not recorded: %s %q", p.Value, p.Err)
		}
	}
}

func TestGoTmpdirNoexec(t *testing.T) {
	te := pi4Shadowed()
	te.files["/proc/self/mountinfo"] = "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw\n40 22 0:35 / /tmp rw,nosuid,nodev,noexec shared:20 - tmpfs tmpfs rw\n"
	env := te.build(t)
	expectCk(t, runCk(t, goChecks(), "go.tmpdir", env), Fail, "/tmp", "noexec", "go env -w GOTMPDIR=")
	te.goenv["GOTMPDIR"] = "/home/pi/.cache/go-tmp"
	expectCk(t, runCk(t, goChecks(), "go.tmpdir", te.build(t)), OK, "GOTMPDIR /home/pi/.cache/go-tmp")
}

func TestGoEnvProblems(t *testing.T) {
	for _, tt := range []struct {
		name   string
		goenv  goenv.Env
		vars   map[string]string
		status Status
		want   string
	}{
		{"fine", goenv.Env{"GOROOT": "/usr/local/go", "GOPATH": "/home/pi/go"}, nil, OK, "GOROOT /usr/local/go, GOPATH /home/pi/go"},
		{"relative", goenv.Env{"GOROOT": "/usr/local/go", "GOPATH": "go"}, nil, Fail, "not an absolute path"},
		{"same", goenv.Env{"GOROOT": "/usr/local/go", "GOPATH": "/usr/local/go"}, nil, Fail, "same as GOROOT"},
		{"goflags", goenv.Env{"GOROOT": "/usr/local/go", "GOPATH": "/home/pi/go", "GOFLAGS": "-mod=mod trimpath"}, nil, Fail, `"trimpath"`},
		{"stale GOROOT", goenv.Env{"GOROOT": "/usr/lib/go-1.19", "GOPATH": "/home/pi/go"}, map[string]string{"GOROOT": "/usr/local/go"}, Warn, "GOROOT=/usr/local/go is set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			te := fakeHost{goenv: tt.goenv, vars: tt.vars,
				probes: map[string]ProbeResult{"go.path": goPath("/usr/bin/go -> /usr/lib/go-1.19/bin/go")}}
			expectCk(t, runCk(t, goChecks(), "go.env", te.build(t)), tt.status, tt.want)
		})
	}
}

func TestGoToolchainAndProxy(t *testing.T) {
	base := func(kv ...string) fakeHost {
		g := goenv.Env{"GOPROXY": "https://proxy.example,direct", "GOSUMDB": ""}
		for i := 0; i+1 < len(kv); i += 2 {
			g[kv[i]] = kv[i+1]
		}
		return fakeHost{goenv: g, probes: map[string]ProbeResult{
			"go.path": goPath("/usr/local/go/bin/go"), "go.version:/usr/local/go/bin/go": rec("go version go1.25.4 linux/arm64")}}
	}
	for _, tt := range []struct {
		id     string
		te     fakeHost
		status Status
		want   string
	}{
		{"go.toolchain", base("GOTOOLCHAIN", "auto"), OK, "GOTOOLCHAIN=auto"},
		{"go.toolchain", base("GOTOOLCHAIN", "local"), OK, "fail instead of downloading"},
		{"go.toolchain", base("GOTOOLCHAIN", "go1.25.4+auto"), OK, "go1.25.4+auto"},
		{"go.toolchain", base("GOTOOLCHAIN", "newest"), Fail, "not valid"},
		{"go.toolchain", base("GOTOOLCHAIN", "auto", "GOPROXY", "off"), Warn, "need a module proxy"},
		{"go.toolchain", base("GOTOOLCHAIN", "auto", "GOSUMDB", "off"), Warn, "refuses to download"},
		{"go.proxy", base(), OK, "GOPROXY https://proxy.example → direct; GOSUMDB " + defaultSumDBName},
		{"go.proxy", base("GOPROXY", "off"), Warn, "GOPROXY=off"},
		{"go.proxy", base("GOPROXY", "direct"), Warn, "from its VCS"},
		{"go.proxy", base("GOPROXY", "ftp://x"), Fail, "unsupported scheme"},
		{"go.proxy", base("GOSUMDB", "off"), Warn, "not verified"},
		{"go.proxy", base("GOSUMDB", "bad+key"), Fail, "GOSUMDB"},
		{"go.proxy", base("GOPRIVATE", "git.example.com/*"), OK, "GOPRIVATE git.example.com/*"},
	} {
		t.Run(tt.id, func(t *testing.T) {
			expectCk(t, runCk(t, goChecks(), tt.id, tt.te.build(t)), tt.status, tt.want)
		})
	}
}

func TestGoNoGoOnPath(t *testing.T) {
	te := fakeHost{probes: map[string]ProbeResult{"go.path": goPath()}, files: map[string]string{"/bin/sh": elfArm64}}
	env := te.build(t)
	expectCk(t, runCk(t, goChecks(), "go.path", env), Fail, "no go command on PATH", "pitstop go install latest")
	expectCk(t, runCk(t, goChecks(), "go.version", env), Fail, "no go command")
}

func TestGoReplayWithoutProbes(t *testing.T) {
	env := fakeHost{}.build(t)
	for _, id := range []string{"go.path", "go.version", "go.shadow"} {
		r := runCk(t, goChecks(), id, env)
		if r.Status != Skip || !strings.Contains(r.Finding, "live host") {
			t.Errorf("%s: %s %q; want skip naming the live host", id, r.Status, r.Finding)
		}
	}
}

func TestLookPathAll(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	testexe.WriteFile(filepath.Join(a, "go"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(b, "go"), []byte("not executable"), 0o644)
	testexe.WriteFile(filepath.Join(c, "go"), []byte("#!/bin/sh\n"), 0o755)
	got := lookPathAll("go", strings.Join([]string{a, b, a, c}, string(os.PathListSeparator)))
	want := []string{filepath.Join(a, "go"), filepath.Join(c, "go")}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// liveGoEnv is this machine, with GOPROXY pointed at a toolchain list served
// on 127.0.0.1 so nothing leaves the machine.
func liveGoEnv(t *testing.T) *Env {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs a go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ge, err := goenv.Read(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	up := toolchainProxy(t, http.StatusOK, "go1.22.5", strings.Fields(ge["GOVERSION"])[0])
	ge["GOPROXY"] = up.URL
	return &Env{Root: host.Live(), Go: ge, Getenv: os.Getenv}
}

func TestGoChecksLive(t *testing.T) {
	env := liveGoEnv(t)
	gos, _ := exec.LookPath("go")
	results := map[string]Result{}
	for _, c := range goChecks() {
		results[c.ID] = runCk(t, goChecks(), c.ID, env)
	}
	expectCk(t, results["go.path"], OK, "wins")
	if !strings.Contains(strings.Join(results["go.path"].Details, "\n"), gos) {
		t.Errorf("go.path details %q lack %s", results["go.path"].Details, gos)
	}
	// The newest release served is this go's own version.
	expectCk(t, results["go.version"], OK, "newest release")
	expectCk(t, results["go.arch"], OK, "matches")
	for id, r := range results {
		if r.Status == Fail {
			t.Errorf("%s fails on this machine: %s", id, r.Finding)
		}
	}
	p := env.Probes()
	var found []installedGo
	if err := json.Unmarshal(p["go.path"].Value, &found); err != nil || len(found) == 0 || len(p["go.version:"+found[0].Path].Value) == 0 {
		t.Errorf("probes not recorded: %v (%v)", p, err)
	}
}

func FuzzParseGoVersionOutput(f *testing.F) {
	for _, s := range []string{"go version go1.19.8 linux/arm64", "go version devel go1.26-abc Mon linux/amd64", "go version go1.24.0 X:foo linux/arm", "", "go version"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gv, err := parseGoVersionOutput(s)
		if err == nil && gv.Platform == "" {
			t.Errorf("%q: no platform", s)
		}
		newestFromToolchainList(s)
		judgeGoVersion(gv, []string{"go1.25.0"}, nil)
	})
}

// defaultSumDBName is the name in goenv.DefaultSumDBKey (an empty GOSUMDB).
var defaultSumDBName = strings.SplitN(goenv.DefaultSumDBKey, "+", 2)[0]
