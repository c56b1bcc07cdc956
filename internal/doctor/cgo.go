package doctor

// The cgo section: a C compiler that compiles, links and runs a one-line
// program; the C library (glibc or musl) and its version; cross compilers
// for the other Pi targets. Probe names are listed in gotool.go.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/host"
)

// cgoChecks returns the cgo section's checks.
func cgoChecks() []Check {
	return []Check{
		{ID: "cgo.cc", Section: "cgo", Title: "C compiler", Timeout: 10 * time.Second, Run: runCgoCC},
		{ID: "cgo.libc", Section: "cgo", Title: "C library", Timeout: 10 * time.Second, Run: runCgoLibc},
		{ID: "cgo.cross", Section: "cgo", Title: "cross C compilers", Run: runCgoCross},
	}
}

// ccCommand returns the C compiler command the go command uses: go env CC,
// else gcc, else cc (as cmd/go's default), split into words.
func ccCommand(env *Env) []string {
	if f := strings.Fields(env.Go.Get("CC")); len(f) > 0 {
		return f
	}
	if _, err := lookPath(env, "gcc"); err == nil {
		return []string{"gcc"}
	}
	return []string{"cc"}
}

const cgoTestProgram = "#include <stdio.h>\nint main(void) { puts(\"pitstop-cgo-ok\"); return 0; }\n"

// compileAndRun builds cgoTestProgram with cc in a temporary directory
// (under GOTMPDIR when set), runs it, and returns `cc --version`'s first line.
func compileAndRun(ctx context.Context, env *Env, cc []string, ccPath string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp(env.Go.Get("GOTMPDIR"), "pitstop-cgo-")
	if err != nil {
		// A missing GOTMPDIR is go.tmpdir's business: build in the
		// system temp dir instead of blaming the compiler.
		if dir, err = os.MkdirTemp("", "pitstop-cgo-"); err != nil {
			return "", err
		}
	}
	defer os.RemoveAll(dir)
	src, bin := filepath.Join(dir, "main.c"), filepath.Join(dir, "main")
	if err := os.WriteFile(src, []byte(cgoTestProgram), 0o644); err != nil {
		return "", err
	}
	args := append(append([]string{}, cc[1:]...), "-o", bin, src)
	out, err := exec.CommandContext(ctx, ccPath, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile and link: %v: %s", err, firstLine(lastLines(string(out))))
	}
	run := exec.CommandContext(ctx, bin)
	out, err = run.Output()
	if err != nil {
		return "", fmt.Errorf("run the compiled program: %v", err)
	}
	if strings.TrimSpace(string(out)) != "pitstop-cgo-ok" {
		return "", fmt.Errorf("the compiled program printed %q", firstLine(string(out)))
	}
	ver, err := exec.CommandContext(ctx, ccPath, append(append([]string{}, cc[1:]...), "--version")...).Output()
	if err != nil {
		return "compiles, links and runs", nil
	}
	return firstLine(string(ver)), nil
}

// lastLines keeps the most telling part of compiler output: the first line
// that says "error", else the first line.
func lastLines(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "error") || strings.Contains(l, "Error") || strings.Contains(l, "not found") {
			return strings.TrimSpace(l)
		}
	}
	return s
}

func runCgoCC(ctx context.Context, env *Env) Result {
	cc := ccCommand(env)
	ccName := strings.Join(cc, " ")
	cgoOff := env.Go.Get("CGO_ENABLED") == "0"
	ccPath, err := lookPath(env, cc[0])
	if errors.Is(err, ErrNoLiveHost) {
		return skipResult(err)
	}
	if err != nil {
		if cgoOff {
			return Result{Status: OK, Finding: fmt.Sprintf("no C compiler (%s) and CGO_ENABLED=0: cgo is off, pure-Go builds are unaffected", ccName),
				Details: []string{"packages that need cgo (mattn/go-sqlite3, periph.io host drivers via C) need: sudo apt install gcc"}}
		}
		return Result{Status: Warn,
			Finding: fmt.Sprintf("C compiler %s not found: cgo is off, packages that need it (e.g. go-sqlite3) fail to build", cc[0]),
			Fix:     "sudo apt install gcc"}
	}
	v, err := Probe(env, "cgo.run:"+ccName, func() (string, error) { return compileAndRun(ctx, env, cc, ccPath) })
	if errors.Is(err, ErrNoLiveHost) {
		return skipResult(err)
	}
	details := []string{"CC=" + ccName + " (" + ccPath + ")"}
	if err != nil {
		fix := "sudo apt install --reinstall gcc libc6-dev"
		if strings.Contains(err.Error(), "run the compiled program") {
			fix = "mkdir -p $HOME/.cache/go-tmp && go env -w GOTMPDIR=$HOME/.cache/go-tmp (the temp dir may be noexec)"
		}
		return Result{Status: Fail, Finding: fmt.Sprintf("%s cannot build a one-line C program: %v", ccName, err), Fix: fix, Details: details}
	}
	f := fmt.Sprintf("%s compiles, links and runs C (%s)", ccName, v)
	if cgoOff {
		f += "; CGO_ENABLED=0 is set, so the go command does not use it"
	}
	return Result{Status: OK, Finding: f, Details: details}
}

// libcInfo is the C library found under the root.
type libcInfo = host.Libc

// loaderArch is the GOARCH of a dynamic loader's file name
// (ld-linux-armhf.so.3), "" when the architecture table has no such loader.
func loaderArch(name string) string {
	a, _ := host.ArchByLoader(name)
	return a.GOARCH
}

// parseGlibcVersion reads "ldd (Debian GLIBC 2.36-9+deb12u4) 2.36" or
// "ld.so (Debian GLIBC 2.36-9) stable release version 2.36.".
func parseGlibcVersion(s string) string { return host.ParseGlibcVersion(s) }

// findLibc looks for musl's and glibc's dynamic loaders by name
// (host.Root.LibcFiles), then asks for the version (old glibc names it in
// libc-2.NN.so; otherwise through the cgo.libc:* probes).
func findLibc(ctx context.Context, env *Env) (libcInfo, error) {
	// A multiarch system (an amd64 machine with libc6:arm64 installed for
	// cross builds) has several loaders: the userland's own (the ELF of
	// /bin/sh) is the one cgo links against, else the go command's.
	var prefer []string
	if u, _, err := env.Root.Userland(); err == nil {
		prefer = append(prefer, u.GOARCH()) // the userland's own, first
	}
	li := env.Root.LibcFiles(append(prefer, env.Go.Get("GOHOSTARCH"), env.Go.Get("GOARCH"))...)
	switch {
	case li.Kind == "musl":
		out, err := Probe(env, host.ProbeMuslVersion, func() (string, error) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			// The loader prints its usage and version to stderr and exits 1.
			b, _ := exec.CommandContext(ctx, li.Loader).CombinedOutput()
			if len(b) == 0 {
				return "", errors.New("no output from " + li.Loader)
			}
			return strings.TrimSpace(string(b)), nil
		})
		if err == nil {
			li.Version = host.ParseMuslVersion(out)
		}
		return li, nil
	case li.Kind == "" || li.Version != "":
		return li, nil
	}
	out, err := Probe(env, host.ProbeGlibcVersion, func() (string, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if ldd, err := lookPath(env, "ldd"); err == nil {
			if b, err := exec.CommandContext(ctx, ldd, "--version").Output(); err == nil {
				return firstLine(string(b)), nil
			}
		}
		if li.Loader != "" {
			b, err := exec.CommandContext(ctx, li.Loader, "--version").Output()
			if err == nil {
				return firstLine(string(b)), nil
			}
			return "", fmt.Errorf("%s --version: %v", li.Loader, err)
		}
		return "", errors.New("neither ldd nor a dynamic loader to ask")
	})
	if err != nil {
		return li, err
	}
	li.Version = parseGlibcVersion(out)
	return li, nil
}

func runCgoLibc(ctx context.Context, env *Env) Result {
	li, err := findLibc(ctx, env)
	if li.Kind == "" {
		return Result{Status: Warn, Finding: "no C library found (no glibc or musl dynamic loader): cgo binaries cannot run here",
			Fix: "build with CGO_ENABLED=0, or sudo apt install libc6"}
	}
	details := []string{"loader " + li.Loader}
	ver := li.Version
	if ver == "" {
		ver = "(version unknown"
		if err != nil {
			ver += ": " + err.Error()
		}
		ver += ")"
	}
	f := li.Kind + " " + ver
	if li.Loader != "" {
		f += " (" + path.Base(li.Loader) + ")"
	}
	goarch := env.Go.Get("GOARCH")
	if li.Arch != "" && goarch != "" && li.Arch != goarch && env.Go.Get("GOHOSTARCH") == goarch {
		return Result{Status: Warn,
			Finding: f + fmt.Sprintf(": the C library is for %s but the go command builds %s, so cgo builds cannot link", li.Arch, goarch),
			Fix:     "pitstop go install latest (a toolchain for this userland)", Details: details}
	}
	if li.Kind == "musl" {
		f += ": cgo binaries built here link against musl and don't run on glibc systems"
	}
	return Result{Status: OK, Finding: f, Details: details}
}

// crossTarget is one of pitstop's targets with its cross compilers.
type crossTarget struct {
	GOARCH, Extra string // Extra: GOARM=7
	GNU, GNUPkg   string // Debian's glibc cross compiler and package
	Musl          string // musl cross compiler (not packaged by Debian)
	ZigTarget     string
}

// newCrossTarget names the cross compilers of an architecture-table row:
// Debian's (host.Arch.CrossTool) and musl's (musl-cross-make, zig), by
// musl's own triplet.
func newCrossTarget(goarch string, goarm int) crossTarget {
	a, ok := host.ArchFor(goarch, goarm)
	if !ok {
		panic("doctor: no architecture " + goarch)
	}
	gnu, pkg := a.CrossTool("gcc")
	t := crossTarget{GOARCH: a.GOARCH, GNU: gnu, GNUPkg: pkg, Musl: a.MuslTriplet + "-gcc", ZigTarget: a.MuslTriplet}
	if a.GOARM != 0 {
		t.Extra = "GOARM=" + strconv.Itoa(a.GOARM)
	}
	return t
}

var crossTargets = []crossTarget{
	newCrossTarget("arm64", 0),
	newCrossTarget("arm", 7),
	newCrossTarget("amd64", 0),
}

func (t crossTarget) env(cc string) string {
	s := "CGO_ENABLED=1 GOOS=linux GOARCH=" + t.GOARCH
	if t.Extra != "" {
		s += " " + t.Extra
	}
	return s + " CC=" + cc
}

// nativeCC reports whether cc names a compiler for the build machine (no
// target triple): gcc, cc, clang, gcc-12.
func nativeCC(cc string) bool {
	b := path.Base(cc)
	return b == "gcc" || b == "cc" || b == "clang" || strings.HasPrefix(b, "gcc-") || strings.HasPrefix(b, "clang-")
}

func runCgoCross(ctx context.Context, env *Env) Result {
	native := env.Go.Get("GOHOSTARCH")
	if native == "" {
		if u, _, err := env.Root.Userland(); err == nil {
			native = u.GOARCH()
		}
	}
	goarch := env.Go.Get("GOARCH")
	cc := ccCommand(env)
	var found, missing, details []string
	var fail *Result
	for _, t := range crossTargets {
		if t.GOARCH == native {
			continue
		}
		gp, err := lookPath(env, t.GNU)
		if errors.Is(err, ErrNoLiveHost) {
			return skipResult(err)
		}
		if err == nil {
			found = append(found, t.GNU)
			details = append(details, fmt.Sprintf("linux/%s glibc: %s go build (%s)", t.GOARCH, t.env(t.GNU), gp))
		} else {
			missing = append(missing, fmt.Sprintf("%s (sudo apt install %s)", t.GNU, t.GNUPkg))
			details = append(details, fmt.Sprintf("linux/%s glibc: sudo apt install %s, then %s go build", t.GOARCH, t.GNUPkg, t.env(t.GNU)))
		}
		musl := t.Musl
		if mp, err := lookPath(env, t.Musl); err == nil {
			details = append(details, fmt.Sprintf("linux/%s musl, static: %s go build -ldflags '-linkmode external -extldflags -static' (%s)", t.GOARCH, t.env(musl), mp))
		} else if zp, err := lookPath(env, "zig"); err == nil {
			details = append(details, fmt.Sprintf("linux/%s musl, static: %s go build -ldflags '-linkmode external -extldflags -static' (%s)", t.GOARCH, t.env(`"zig cc -target `+t.ZigTarget+`"`), zp))
		} else {
			details = append(details, fmt.Sprintf("linux/%s musl, static: %s go build -ldflags '-linkmode external -extldflags -static', once a musl cross toolchain (%s; Debian packages none) or zig (CC=\"zig cc -target %s\") is installed", t.GOARCH, t.env(musl), t.Musl, t.ZigTarget))
		}
		if goarch == t.GOARCH && goarch != native && env.Go.Get("CGO_ENABLED") == "1" && nativeCC(cc[0]) && fail == nil {
			fix := "sudo apt install " + t.GNUPkg + " && go env -w CC=" + t.GNU
			if err == nil {
				fix = "go env -w CC=" + t.GNU
			}
			fail = &Result{Status: Fail,
				Finding: fmt.Sprintf("CGO_ENABLED=1 GOARCH=%s with CC=%s (a compiler for %s): builds fail with 'gcc_%s.S: Assembler messages'", goarch, strings.Join(cc, " "), native, goarch),
				Fix:     fix}
		}
	}
	if fail != nil {
		fail.Details = details
		return *fail
	}
	if len(found) == 0 && len(missing) == 0 {
		return Result{Status: Skip, Finding: "host architecture " + native + " has no pitstop cross targets"}
	}
	var parts []string
	if len(found) > 0 {
		parts = append(parts, "found "+strings.Join(found, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "missing "+strings.Join(missing, ", "))
	}
	return Result{Status: OK, Finding: "cross C compilers (only for cgo cross builds): " + strings.Join(parts, "; "), Details: details}
}
