package doctor

// The go section: which go commands are on PATH and which one wins, how far
// behind the newest release it is, distro-packaged Go shadowing a newer one,
// GOARCH/GOARM against the userland, and the go command's environment.
//
// Facts that are not files go through Probe, so a capture records them
// and a replay answers them. The probe names and value types used by the
// go, network and cgo sections (a capture must carry these), with their
// JSON:
//
//	go.path                   every executable "go" on PATH, in PATH order
//	                          ([]installedGo): [{"path": "/usr/bin/go",
//	                          "resolved": "/usr/lib/go-1.19/bin/go"}]
//	                          ("resolved" only when it is a symlink)
//	go.version:<path>         output of `<path> version` (a string),
//	                          e.g. "go version go1.19.8 linux/arm64"
//	go.latest                 newest stable Go releases in GOPROXY's
//	                          golang.org/toolchain version list: the newest
//	                          first, then the newest point release of each
//	                          older minor, e.g. ["go1.23.4", "go1.22.10"]
//	lookpath:<name>           absolute path of the first executable <name> on
//	                          PATH (a string; err "not found" when absent)
//	cgo.run:<CC>              "CC --version" first line after compiling,
//	                          linking and running a one-line C program with CC
//	cgo.libc:glibc            first line of `ldd --version`
//	cgo.libc:musl             output of running /lib/ld-musl-<arch>.so.1
//	network.proxy:<url>       GET <url>/golang.org/toolchain/@v/list
//	                          (proxyAnswer): {"status": 200, "ms": 35}
//	network.sumdb             the checksum database's /latest (sumdbAnswer):
//	                          {"base": URL, "via": "<proxy URL>|gosumdb|direct",
//	                          "status": 200, "ms": 40, "tree": 123, "verified": true}
//	network.dns:<ns>:edns     a DNS query with EDNS0 (dnsResult): {"q": NAME,
//	                          "type": "A", "rcode": "NOERROR", "tc": false,
//	                          "an": 2, "udp": 1232, "ms": 12}
//	network.dns:<ns>:noedns   same, for the query without an OPT record (udp 0)
//
// Files are read through Env.Root: /bin/sh (ELF header: the userland),
// /proc/cpuinfo, /proc/self/mountinfo, /var/lib/dpkg/info/golang-go*.list
// and golang-1.*-go*.list,
// /etc/resolv.conf, /etc/nsswitch.conf, /run/systemd/resolve/resolv.conf,
// /lib*/ld-*.so* (names only, by glob).

import (
	"context"
	"errors"
	"fmt"
	"go/version"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/goversion"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/modfetch"
)

// goChecks returns the go section's checks.
func goChecks() []Check {
	return []Check{
		{ID: "go.path", Section: "go", Title: "go on PATH", Run: runGoPath},
		{ID: "go.version", Section: "go", Title: "Go version", Timeout: netCheckTimeout, Run: runGoVersion},
		{ID: "go.shadow", Section: "go", Title: "shadowed go commands", Run: runGoShadow},
		{ID: "go.arch", Section: "go", GoEnv: true, Title: "GOARCH/GOARM against the userland", Run: runGoArch},
		{ID: "go.env", Section: "go", GoEnv: true, Title: "GOROOT, GOPATH, GOFLAGS", Run: runGoEnv},
		{ID: "go.gobin", Section: "go", GoEnv: true, Title: "GOBIN on PATH", Run: runGoBin},
		{ID: "go.toolchain", Section: "go", GoEnv: true, Title: "GOTOOLCHAIN", Run: runGoToolchain},
		{ID: "go.proxy", Section: "go", GoEnv: true, Title: "GOPROXY, GOSUMDB, GOPRIVATE", Run: runGoProxy},
		{ID: "go.tmpdir", Section: "go", GoEnv: true, Title: "GOTMPDIR mount", Run: runGoTmpdir},
		// Starting the helper is a program start before any network: a
		// slow board (or qemu on a loaded machine: 1.8 s ran out in the
		// emulated test pass) gets 5 s, as the DNS check does.
		{ID: "go.cacheprog", Section: "go", GoEnv: true, Title: "GOCACHEPROG helper and its server", Timeout: 5 * time.Second, Run: runGoCacheProg},
		{ID: "go.fleet", Section: "go", GoEnv: true, Title: "pitstop join: server, GOPROXY order, GOCACHEPROG", Timeout: netCheckTimeout, Run: runFleet},
	}
}

// installedGo is one executable named go on PATH.
type installedGo struct {
	Path     string `json:"path"`               // as found on PATH
	Resolved string `json:"resolved,omitempty"` // after symlinks; == Path when not a link
}

// probeGoPath returns every go on PATH in PATH order (the first one wins).
func probeGoPath(env *Env) ([]installedGo, error) {
	found, err := Probe(env, "go.path", func() ([]installedGo, error) {
		var out []installedGo
		for _, p := range lookPathAll("go", env.getenv("PATH")) {
			g := installedGo{Path: p}
			if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
				g.Resolved = r
			}
			out = append(out, g)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	// The same binary reached twice (merged /usr: /bin/go and /usr/bin/go)
	// is one go command.
	var out []installedGo
	seen := map[string]bool{}
	for _, g := range found {
		if g.Resolved == "" {
			g.Resolved = g.Path
		}
		if !seen[g.Resolved] {
			seen[g.Resolved] = true
			out = append(out, g)
		}
	}
	return out, nil
}

// lookPathAll returns every executable regular file called name in the
// directories of pathList, in order, without duplicates.
func lookPathAll(name, pathList string) []string {
	var out []string
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
		}
		if seen[p] {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// lookPath finds the first executable name on PATH, through a probe.
func lookPath(env *Env, name string) (string, error) {
	if strings.Contains(name, "/") {
		return Probe(env, "lookpath:"+name, func() (string, error) {
			fi, err := os.Stat(name)
			if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				return "", errors.New("not found")
			}
			return name, nil
		})
	}
	return Probe(env, "lookpath:"+name, func() (string, error) {
		if all := lookPathAll(name, env.getenv("PATH")); len(all) > 0 {
			return all[0], nil
		}
		return "", errors.New("not found")
	})
}

// getenv is Env.Getenv, or os.Getenv when unset.
func (e *Env) getenv(k string) string {
	if e.Getenv != nil {
		return e.Getenv(k)
	}
	return os.Getenv(k)
}

// fetcher returns the Env's modfetch.Fetcher: GOPROXY and GOSUMDB from
// e.Go, e.HTTP's client, every request bounded by netRequestTimeout, and
// never direct (the doctor asks proxies only).
func (e *Env) fetcher() *modfetch.Fetcher {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fetch == nil {
		g := e.Go
		if g == nil {
			g = goenv.Env{}
		}
		e.fetch = &modfetch.Fetcher{Env: g, Client: e.HTTP, RequestTimeout: netRequestTimeout, NoDirect: true}
	}
	return e.fetch
}

// goVersionOf runs `<path> version` through a probe and parses it.
func goVersionOf(ctx context.Context, env *Env, p string) (goVersion, error) {
	out, err := Probe(env, "go.version:"+p, func() (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, p, "version")
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=")
		b, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) && len(ee.Stderr) > 0 {
				return "", fmt.Errorf("%s version: %s", p, firstLine(string(ee.Stderr)))
			}
			return "", fmt.Errorf("%s version: %v", p, err)
		}
		return strings.TrimSpace(string(b)), nil
	})
	if err != nil {
		return goVersion{}, err
	}
	return parseGoVersionOutput(out)
}

// goVersion is a parsed `go version` line.
type goVersion struct {
	Version  string // "go1.19.8" (go/version form; "" for devel builds)
	Raw      string // as printed, e.g. "devel go1.24-abcdef"
	Platform string // "linux/arm64"
}

var goVersionRE = regexp.MustCompile(`^go version (\S+(?: \S+)*?) (\w+)/(\w+)$`)

// parseGoVersionOutput parses "go version go1.19.8 linux/arm64".
func parseGoVersionOutput(s string) (goVersion, error) {
	s = strings.TrimSpace(firstLine(s))
	m := goVersionRE.FindStringSubmatch(s)
	if m == nil {
		return goVersion{}, fmt.Errorf("unexpected `go version` output %q", s)
	}
	gv := goVersion{Raw: m[1], Platform: m[2] + "/" + m[3]}
	f := strings.Fields(m[1])
	v := f[0]
	if v == "devel" && len(f) > 1 {
		v = f[1]
	}
	// go1.21.0-20230101 style suffixes (X: experiments, dev builds).
	if i := strings.IndexAny(v, " -"); i > 0 && f[0] != "devel" {
		v = v[:i]
	}
	if version.IsValid(v) && f[0] != "devel" {
		gv.Version = v
	}
	return gv, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// goMinor returns 19 for "go1.19.8", -1 when v is not a go1.N version.
func goMinor(v string) int {
	lang := version.Lang(v)
	n, err := strconv.Atoi(strings.TrimPrefix(lang, "go1."))
	if err != nil || !strings.HasPrefix(lang, "go1.") {
		return -1
	}
	return n
}

// oldGoProblems names what a Go older than 1.21 cannot do, "" otherwise.
func oldGoProblems(v string) string {
	if v == "" || version.Compare(v, "go1.21") >= 0 {
		return ""
	}
	return "rejects go.mod files with a `toolchain` line or a 3-part `go 1.22.0` version, and cannot switch toolchains"
}

// newestFromToolchainList returns the newest stable Go versions in a
// golang.org/toolchain @v/list body: the newest point release of each of
// the three newest minors, newest first.
func newestFromToolchainList(body string) []string {
	best := map[string]string{} // go1.N -> newest go1.N.x
	for _, line := range strings.Split(body, "\n") {
		tc, ok := goversion.ParseToolchain(strings.TrimSpace(line))
		if !ok || !goversion.IsRelease(tc.Go) {
			continue
		}
		lang := version.Lang(tc.Go)
		if cur, ok := best[lang]; !ok || version.Compare(tc.Go, cur) > 0 {
			best[lang] = tc.Go
		}
	}
	var vs []string
	for _, v := range best {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return version.Compare(vs[i], vs[j]) > 0 })
	if len(vs) > 3 {
		vs = vs[:3]
	}
	return vs
}

// latestGo asks the user's GOPROXY list for golang.org/toolchain/@v/list
// (modfetch's walk: its ',' and '|' rules; never direct) and returns the
// newest stable releases, newest first.
func latestGo(ctx context.Context, env *Env) ([]string, error) {
	return Probe(env, "go.latest", func() ([]string, error) {
		list, err := env.fetcher().ListRaw(ctx, "golang.org/toolchain")
		if errors.Is(err, modfetch.ErrDirect) {
			return nil, errors.New("GOPROXY reached direct (a proxy is needed to list toolchains)")
		}
		if err != nil {
			return nil, errors.New("toolchain list unavailable: " + upstreamErr(err))
		}
		if v := newestFromToolchainList(string(list)); len(v) > 0 {
			return v, nil
		}
		return nil, errors.New("no stable Go release in the golang.org/toolchain list")
	})
}

// winner returns the go on PATH that runs, or a result to report.
func winner(env *Env) ([]installedGo, *Result) {
	gos, err := probeGoPath(env)
	if err != nil {
		r := skipResult(err)
		return nil, &r
	}
	if len(gos) == 0 {
		return nil, &Result{Status: Fail, Finding: "no go command on PATH",
			Fix: "pitstop go install latest"}
	}
	return gos, nil
}

// skipResult reports a fact that could not be had (a capture without the
// probe, usually).
func skipResult(err error) Result {
	return Result{Status: Skip, Finding: err.Error()}
}

func runGoPath(ctx context.Context, env *Env) Result {
	gos, r := winner(env)
	if r != nil {
		return *r
	}
	var details []string
	for i, g := range gos {
		d := g.Path
		if g.Resolved != g.Path {
			d += " -> " + g.Resolved
		}
		if gv, err := goVersionOf(ctx, env, g.Path); err == nil {
			d += " (" + gv.Raw + " " + gv.Platform + ")"
		}
		if i == 0 {
			d += "  [wins]"
		}
		details = append(details, d)
	}
	f := fmt.Sprintf("%s wins", describeGo(gos[0]))
	if len(gos) > 1 {
		f += fmt.Sprintf(" (%d go commands on PATH)", len(gos))
	}
	return Result{Status: OK, Finding: f, Details: details}
}

func describeGo(g installedGo) string {
	if g.Resolved != g.Path {
		return g.Path + " (-> " + g.Resolved + ")"
	}
	return g.Path
}

func runGoVersion(ctx context.Context, env *Env) Result {
	gos, r := winner(env)
	if r != nil {
		return *r
	}
	gv, err := goVersionOf(ctx, env, gos[0].Path)
	if err != nil {
		if errors.Is(err, ErrNoLiveHost) {
			return skipResult(err)
		}
		return Result{Status: Fail, Finding: gos[0].Path + " does not run: " + err.Error(),
			Fix: "pitstop go install latest"}
	}
	latest, lerr := latestGo(ctx, env)
	return judgeGoVersion(gv, latest, lerr)
}

// judgeGoVersion compares the winning go's version with the newest
// releases (a go.latest probe value: newest first, then the newest point
// release of older minors).
func judgeGoVersion(gv goVersion, rel []string, lerr error) Result {
	if gv.Version == "" {
		return Result{Status: OK, Finding: "development build " + gv.Raw + " " + gv.Platform}
	}
	latest, sameMinor := "", ""
	if len(rel) > 0 {
		latest = rel[0]
	}
	for _, r := range rel {
		if version.Lang(r) == version.Lang(gv.Version) {
			sameMinor = r
		}
	}
	var details []string
	if lerr != nil {
		details = append(details, "newest release unknown: "+lerr.Error())
	}
	if p := oldGoProblems(gv.Version); p != "" {
		f := fmt.Sprintf("%s is too old: it %s", gv.Version, p)
		if latest != "" {
			f += fmt.Sprintf(" (newest %s)", latest)
		}
		return Result{Status: Fail, Finding: f, Fix: "pitstop go install latest", Details: details}
	}
	if latest == "" {
		return Result{Status: OK, Finding: gv.Version + " " + gv.Platform + " (newest release unknown)", Details: details}
	}
	if version.Compare(gv.Version, latest) >= 0 {
		return Result{Status: OK, Finding: gv.Version + " " + gv.Platform + " is the newest release", Details: details}
	}
	if sameMinor != "" && version.Compare(gv.Version, sameMinor) < 0 {
		return Result{Status: Warn,
			Finding: fmt.Sprintf("%s is behind the %s point release %s (security fixes; newest %s)", gv.Version, version.Lang(gv.Version), sameMinor, latest),
			Fix:     "pitstop go install " + sameMinor, Details: details}
	}
	behind := goMinor(latest) - goMinor(gv.Version)
	if behind >= 2 {
		return Result{Status: Warn,
			Finding: fmt.Sprintf("%s is %d releases behind %s and no longer gets security fixes", gv.Version, behind, latest),
			Fix:     "pitstop go install latest", Details: details}
	}
	return Result{Status: OK,
		Finding: fmt.Sprintf("%s (newest %s; %s is still supported)", gv.Version, latest, version.Lang(gv.Version)),
		Details: details}
}

// distroPackage reports the Debian package that ships the go at g, ""
// when it is not a distribution's Go or no package is known
// (host.Root.DistroGoAt: dpkg's file lists, Debian's paths).
func distroPackage(env *Env, g installedGo) string {
	if d := env.Root.DistroGoAt(g.Path, g.Resolved); d != nil {
		return d.Package
	}
	return ""
}

func runGoShadow(ctx context.Context, env *Env) Result {
	gos, r := winner(env)
	if r != nil {
		return *r
	}
	if len(gos) == 1 {
		return Result{Status: OK, Finding: "only one go on PATH: " + gos[0].Path}
	}
	win, err := goVersionOf(ctx, env, gos[0].Path)
	if err != nil {
		return skipResult(err)
	}
	var newer []string
	var newest installedGo
	newestV := ""
	var details []string
	for _, g := range gos[1:] {
		if g.Resolved == gos[0].Resolved {
			continue
		}
		gv, err := goVersionOf(ctx, env, g.Path)
		if err != nil {
			details = append(details, g.Path+": "+err.Error())
			continue
		}
		details = append(details, fmt.Sprintf("%s: %s %s", g.Path, gv.Raw, gv.Platform))
		if gv.Version != "" && win.Version != "" && version.Compare(gv.Version, win.Version) > 0 {
			newer = append(newer, g.Path+" "+gv.Version)
			if newestV == "" || version.Compare(gv.Version, newestV) > 0 {
				newest, newestV = g, gv.Version
			}
		}
	}
	if len(newer) == 0 {
		return Result{Status: OK, Finding: fmt.Sprintf("%s (%s) wins; the others on PATH are not newer", gos[0].Path, win.Raw), Details: details}
	}
	pkg := distroPackage(env, gos[0])
	f := fmt.Sprintf("%s %s shadows %s", gos[0].Path, win.Version, strings.Join(newer, ", "))
	if pkg != "" {
		f = fmt.Sprintf("distro-packaged %s %s (%s) shadows %s", gos[0].Path, win.Version, pkg, strings.Join(newer, ", "))
	}
	if p := oldGoProblems(win.Version); p != "" {
		f += "; " + win.Version + " " + p
	}
	fix := fmt.Sprintf(`export PATH="%s:$PATH" (and put that line in ~/.profile)`, filepath.Dir(newest.Path))
	if pkg != "" {
		fix = "sudo apt remove " + pkg
	}
	return Result{Status: Fail, Finding: f, Fix: fix, Details: details}
}

func runGoArch(ctx context.Context, env *Env) Result {
	u, exe, err := env.Root.Userland()
	if err != nil {
		return Result{Status: Skip, Finding: "userland architecture unknown: " + err.Error()}
	}
	uarch, hardFP := u.GOARCH(), u.Float() == host.FloatHard
	goarch, hostarch := env.Go.Get("GOARCH"), env.Go.Get("GOHOSTARCH")
	toolPlatform := ""
	if gos, r := winner(env); r == nil {
		if gv, err := goVersionOf(ctx, env, gos[0].Path); err == nil {
			toolPlatform = gv.Platform
			if hostarch == "" {
				_, hostarch, _ = strings.Cut(gv.Platform, "/")
			}
		}
	}
	if goarch == "" {
		goarch = hostarch
	}
	if goarch == "" {
		return Result{Status: Skip, Finding: "no go command to ask for GOARCH; userland is " + u.String()}
	}
	details := []string{"userland (" + exe + "): " + u.String(), "GOARCH=" + goarch + " GOHOSTARCH=" + hostarch}
	if toolPlatform != "" {
		details = append(details, "go command: "+toolPlatform)
	}
	if hostarch != "" && hostarch != uarch {
		f := fmt.Sprintf("the go command is %s but the userland is %s", hostarch, u.String())
		if u.Class == 32 && hostarch == "arm64" {
			f += " (64-bit kernel): builds target arm64 and cgo cannot link against the 32-bit C library"
		}
		return Result{Status: Warn, Finding: f, Fix: "pitstop go install latest", Details: details}
	}
	if goarch != uarch {
		return Result{Status: Warn,
			Finding: fmt.Sprintf("GOARCH=%s is set, but this machine's userland is %s: every build targets %s", goarch, u.String(), goarch),
			Fix:     "go env -u GOARCH (and unset GOARCH in the environment)", Details: details}
	}
	if goarch == "arm" {
		goarm := env.Go.Get("GOARM")
		n, _ := strconv.Atoi(strings.SplitN(goarm, ",", 2)[0])
		details = append(details, "GOARM="+goarm)
		cpu := env.Root.ARMVersion()
		switch {
		case goarm != "" && n == 5 && hardFP:
			return Result{Status: Warn,
				Finding: "GOARM=5 (software floating point) on a hard-float armhf userland: floating point is many times slower",
				Fix:     "go env -w GOARM=6", Details: details}
		case cpu == 6 && n >= 7:
			return Result{Status: Fail,
				Finding: fmt.Sprintf("GOARM=%s but the CPU is ARMv6 (Pi 1/Zero): binaries die with illegal instruction", goarm),
				Fix:     "go env -w GOARM=6", Details: details}
		}
		return Result{Status: OK, Finding: fmt.Sprintf("GOARCH=arm GOARM=%s matches the %s userland", goarm, u.String()), Details: details}
	}
	return Result{Status: OK, Finding: fmt.Sprintf("GOARCH=%s matches the %s userland", goarch, u.String()), Details: details}
}

func runGoEnv(ctx context.Context, env *Env) Result {
	goroot, gopath, goflags := env.Go.Get("GOROOT"), env.Go.Get("GOPATH"), env.Go.Get("GOFLAGS")
	details := []string{"GOROOT=" + goroot, "GOPATH=" + gopath, "GOFLAGS=" + goflags}
	var problems []string
	fix := ""
	var status = OK
	add := func(s Status, p, f string) {
		problems = append(problems, p)
		if worse(s, status) {
			status = s
		}
		if fix == "" {
			fix = f
		}
	}
	if set := env.getenv("GOROOT"); set != "" {
		if gos, r := winner(env); r == nil {
			dir := filepath.Dir(filepath.Dir(gos[0].Resolved))
			if filepath.Clean(set) != dir && filepath.Clean(set) != filepath.Dir(filepath.Dir(gos[0].Path)) {
				add(Warn, fmt.Sprintf("GOROOT=%s is set in the environment but the go on PATH is %s", set, describeGo(gos[0])),
					"unset GOROOT (and remove it from ~/.profile and ~/.bashrc): the go command finds its own root")
			}
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		switch {
		case p == "":
		case !filepath.IsAbs(p):
			add(Fail, fmt.Sprintf("GOPATH entry %q is not an absolute path (the go command refuses it)", p), "go env -w GOPATH=$HOME/go")
		case goroot != "" && filepath.Clean(p) == filepath.Clean(goroot):
			add(Fail, "GOPATH is the same as GOROOT", "go env -w GOPATH=$HOME/go")
		}
	}
	if gopath == "" && env.Go.Get("GOMODCACHE") == "" {
		add(Warn, "GOPATH is empty and the go command found no home directory to default it to", "go env -w GOPATH=$HOME/go")
	}
	for _, f := range strings.Fields(goflags) {
		if !strings.HasPrefix(f, "-") {
			add(Fail, fmt.Sprintf("GOFLAGS contains %q, which is not a flag: every go command fails", f), "go env -u GOFLAGS (or fix the GOFLAGS variable)")
		}
	}
	if len(problems) == 0 {
		f := fmt.Sprintf("GOROOT %s, GOPATH %s", goroot, gopath)
		if goflags != "" {
			f += ", GOFLAGS " + goflags
		}
		return Result{Status: OK, Finding: f, Details: details}
	}
	return Result{Status: status, Finding: strings.Join(problems, "; "), Fix: fix, Details: details}
}

// worse reports whether a is a worse status than b.
func worse(a, b Status) bool {
	rank := map[Status]int{Skip: 0, OK: 1, Warn: 2, Fail: 3}
	return rank[a] > rank[b]
}

func runGoBin(ctx context.Context, env *Env) Result {
	dir := env.Go.Get("GOBIN")
	src := "GOBIN"
	if dir == "" {
		gp := filepath.SplitList(env.Go.Get("GOPATH"))
		if len(gp) == 0 || gp[0] == "" {
			return Result{Status: Skip, Finding: "neither GOBIN nor GOPATH is set"}
		}
		dir, src = filepath.Join(gp[0], "bin"), "GOPATH/bin"
	}
	for _, p := range filepath.SplitList(env.getenv("PATH")) {
		if p != "" && filepath.Clean(p) == filepath.Clean(dir) {
			return Result{Status: OK, Finding: fmt.Sprintf("%s %s is on PATH: `go install`ed commands run by name", src, dir)}
		}
	}
	return Result{Status: Warn,
		Finding: fmt.Sprintf("%s %s is not on PATH: commands from `go install` don't run by name", src, dir),
		Fix:     fmt.Sprintf(`pitstop go shellenv --write (then open a new shell; or add export PATH="$PATH:%s" to ~/.profile)`, dir)}
}

var goToolchainRE = regexp.MustCompile(`^(auto|local|path|go1(\.[0-9]+){0,2}((rc|beta)[0-9]+)?(\+(auto|path))?|local\+(auto|path))$`)

func runGoToolchain(ctx context.Context, env *Env) Result {
	tc := env.Go.Get("GOTOOLCHAIN")
	if gos, r := winner(env); r == nil {
		if gv, err := goVersionOf(ctx, env, gos[0].Path); err == nil && oldGoProblems(gv.Version) != "" {
			return Result{Status: Warn,
				Finding: gv.Version + " ignores GOTOOLCHAIN (toolchain switching came in Go 1.21): a go.mod that needs a newer Go fails",
				Fix:     "pitstop go install latest"}
		}
	}
	switch {
	case tc == "":
		return Result{Status: OK, Finding: "GOTOOLCHAIN unset (auto: switches to the toolchain a go.mod asks for)"}
	case !goToolchainRE.MatchString(tc):
		return Result{Status: Fail, Finding: fmt.Sprintf("GOTOOLCHAIN=%q is not valid: every go command fails", tc),
			Fix: "go env -w GOTOOLCHAIN=auto"}
	case strings.HasPrefix(tc, "local") && !strings.Contains(tc, "+"), tc == "path":
		return Result{Status: OK, Finding: "GOTOOLCHAIN=" + tc + ": modules that need a newer Go fail instead of downloading it (pitstop go install VERSION adds one)"}
	}
	if proxies, err := goenv.ParseProxyList(env.Go.Get("GOPROXY")); err == nil && (proxies[0].Off() || proxies[0].Direct()) {
		return Result{Status: Warn,
			Finding: fmt.Sprintf("GOTOOLCHAIN=%s but GOPROXY starts with %s: automatic toolchain downloads need a module proxy", tc, proxies[0].URL),
			Fix:     "go env -w GOPROXY=<your proxy>,direct (a pitstop proxy on the LAN works)"}
	}
	if env.Go.Get("GOSUMDB") == "off" {
		return Result{Status: Warn,
			Finding: "GOTOOLCHAIN=" + tc + " with GOSUMDB=off: the go command refuses to download toolchains it cannot verify",
			Fix:     "go env -u GOSUMDB"}
	}
	return Result{Status: OK, Finding: "GOTOOLCHAIN=" + tc}
}

func runGoProxy(ctx context.Context, env *Env) Result {
	g := env.Go
	details := []string{}
	for _, k := range []string{"GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE"} {
		details = append(details, k+"="+modfetch.Redact(g.Get(k)))
	}
	proxies, err := g.Proxies()
	if err != nil {
		return Result{Status: Fail, Finding: "GOPROXY: " + err.Error(), Fix: "go env -u GOPROXY (or set a valid list)", Details: details}
	}
	var status = OK
	var notes []string
	fix := ""
	var urls []string
	for _, p := range proxies {
		urls = append(urls, modfetch.Redact(p.URL))
	}
	switch {
	case proxies[0].Off():
		status, fix = Warn, "go env -u GOPROXY (or go env -w GOPROXY=<your proxy>,direct)"
		notes = append(notes, "GOPROXY=off: no module can be downloaded")
	case proxies[0].Direct():
		status, fix = Warn, "go env -w GOPROXY=<your proxy>,direct (or run `pitstop proxy`)"
		notes = append(notes, "GOPROXY=direct: every module is fetched from its VCS (slow, needs git)")
	default:
		notes = append(notes, "GOPROXY "+strings.Join(urls, " → "))
	}
	db, err := g.SumDB()
	switch {
	case errors.Is(err, goenv.ErrSumDBOff):
		if status == OK {
			status, fix = Warn, "go env -u GOSUMDB"
		}
		notes = append(notes, "GOSUMDB=off: downloads are not verified")
	case err != nil:
		return Result{Status: Fail, Finding: "GOSUMDB: " + err.Error(), Fix: "go env -u GOSUMDB", Details: details}
	default:
		s := "GOSUMDB " + db.Name
		if db.URL != "" {
			s += " at " + db.URL
		}
		notes = append(notes, s)
	}
	if p := g.Get("GOPRIVATE"); p != "" {
		notes = append(notes, "GOPRIVATE "+p)
	}
	if p := g.Get("GOINSECURE"); p != "" {
		notes = append(notes, "GOINSECURE "+p)
	}
	return Result{Status: status, Finding: strings.Join(notes, "; "), Fix: fix, Details: details}
}

func runGoTmpdir(ctx context.Context, env *Env) Result {
	dir := env.Go.Get("GOTMPDIR")
	label := "GOTMPDIR " + dir
	if dir == "" {
		dir = env.getenv("TMPDIR")
		label = "TMPDIR " + dir + " (GOTMPDIR unset)"
		if dir == "" {
			dir, label = "/tmp", "/tmp (GOTMPDIR and TMPDIR unset)"
		}
	}
	m, err := env.Root.MountOf(dir)
	if err != nil {
		return Result{Status: Skip, Finding: "mount of " + dir + " unknown: " + err.Error()}
	}
	details := []string{fmt.Sprintf("%s is on %s (%s, %s)", dir, m.MountPoint, m.FSType, m.Options)}
	if m.HasOption("noexec") {
		return Result{Status: Fail,
			Finding: fmt.Sprintf("%s is on a noexec mount (%s): go test and go run fail with permission denied", label, m.MountPoint),
			Fix:     "mkdir -p $HOME/.cache/go-tmp && go env -w GOTMPDIR=$HOME/.cache/go-tmp", Details: details}
	}
	return Result{Status: OK, Finding: fmt.Sprintf("%s allows executing test binaries (%s)", label, m.FSType), Details: details}
}

// goBefore reports whether Go version a is older than b.
func goBefore(a, b string) bool { return version.Compare(a, b) < 0 }
