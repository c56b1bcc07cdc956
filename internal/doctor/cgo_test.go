package doctor

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

func TestCgoCCLive(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc on PATH (test.sh installs it)")
	}
	env := liveGoEnv(t)
	env.Go["CC"] = "gcc"
	r := runCk(t, cgoChecks(), "cgo.cc", env)
	expectCk(t, r, OK, "gcc compiles, links and runs C")
	if p := env.Probes()["cgo.run:gcc"]; p.Err != "" || len(p.Value) == 0 {
		t.Errorf("probe cgo.run:gcc = %+v", p)
	}
	if p := env.Probes()["lookpath:gcc"]; string(p.Value) != string(rec(gcc).Value) {
		t.Errorf("lookpath:gcc = %+v, want %s", p, gcc)
	}

	// A compiler that exists but cannot build: a script that fails.
	bad := filepath.Join(t.TempDir(), "badcc")
	testexe.WriteFile(bad, []byte("#!/bin/sh\necho 'fatal error: stdio.h: No such file or directory' >&2\nexit 1\n"), 0o755)
	env = liveGoEnv(t)
	env.Go["CC"] = bad
	expectCk(t, runCk(t, cgoChecks(), "cgo.cc", env), Fail, "cannot build a one-line C program", "stdio.h", "sudo apt install")

	// A compiler that is not there.
	env = liveGoEnv(t)
	env.Go["CC"], env.Go["CGO_ENABLED"] = "no-such-cc-pitstop", "1"
	expectCk(t, runCk(t, cgoChecks(), "cgo.cc", env), Warn, "no-such-cc-pitstop not found", "sudo apt install gcc")
	env.Go["CGO_ENABLED"] = "0"
	expectCk(t, runCk(t, cgoChecks(), "cgo.cc", env), OK, "CGO_ENABLED=0")
}

func TestCgoLibcLive(t *testing.T) {
	env := liveGoEnv(t)
	r := runCk(t, cgoChecks(), "cgo.libc", env)
	if r.Status == Fail {
		t.Errorf("cgo.libc fails here: %s", r.Finding)
	}
	if m, _ := filepath.Glob("/lib*/ld-linux*.so.*"); len(m) > 0 {
		expectCk(t, r, OK, "glibc 2.")
	}
}

func TestCgoLibcCaptured(t *testing.T) {
	for _, tt := range []struct {
		name   string
		files  map[string]string
		probes map[string]ProbeResult
		goenv  goenv.Env
		status Status
		want   string
	}{
		{"bookworm arm64", map[string]string{"/lib/ld-linux-aarch64.so.1": "", "/lib/aarch64-linux-gnu/libc.so.6": ""},
			map[string]ProbeResult{"cgo.libc:glibc": rec("ldd (Debian GLIBC 2.36-9+rpt2+deb12u4) 2.36")},
			goenv.Env{"GOARCH": "arm64", "GOHOSTARCH": "arm64"}, OK, "glibc 2.36 (ld-linux-aarch64.so.1)"},
		{"buster armhf", map[string]string{"/lib/ld-linux-armhf.so.3": "", "/lib/arm-linux-gnueabihf/libc-2.28.so": ""}, nil,
			goenv.Env{"GOARCH": "arm", "GOHOSTARCH": "arm"}, OK, "glibc 2.28"},
		{"armhf libc, arm64 go", map[string]string{"/lib/ld-linux-armhf.so.3": "", "/lib/arm-linux-gnueabihf/libc.so.6": ""},
			map[string]ProbeResult{"cgo.libc:glibc": rec("ld.so (Debian GLIBC 2.36-9+rpt2+deb12u4) stable release version 2.36.")},
			goenv.Env{"GOARCH": "arm64", "GOHOSTARCH": "arm64"}, Warn, "the C library is for arm but the go command builds arm64"},
		{"alpine", map[string]string{"/lib/ld-musl-aarch64.so.1": ""},
			map[string]ProbeResult{"cgo.libc:musl": rec("musl libc (aarch64)\nVersion 1.2.4_git20230717\nDynamic Program Loader")},
			goenv.Env{"GOARCH": "arm64", "GOHOSTARCH": "arm64"}, OK, "musl 1.2.4"},
		{"multiarch amd64 with arm64 libc", map[string]string{"/lib/ld-linux-aarch64.so.1": "", "/lib64/ld-linux-x86-64.so.2": "", "/lib/x86_64-linux-gnu/libc.so.6": ""},
			map[string]ProbeResult{"cgo.libc:glibc": rec("ldd (Debian GLIBC 2.36-9+deb12u13) 2.36")},
			goenv.Env{"GOARCH": "amd64", "GOHOSTARCH": "amd64"}, OK, "glibc 2.36 (ld-linux-x86-64.so.2)"},
		{"nothing", map[string]string{}, nil, goenv.Env{}, Warn, "no C library found"},
		{"no probe", map[string]string{"/lib64/ld-linux-x86-64.so.2": ""}, nil, goenv.Env{}, OK, "glibc (version unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := fakeHost{files: tt.files, probes: tt.probes, goenv: tt.goenv}.build(t)
			expectCk(t, runCk(t, cgoChecks(), "cgo.libc", env), tt.status, tt.want)
		})
	}
}

func TestCgoCross(t *testing.T) {
	notFound := recErr("not found")
	amd64Host := map[string]ProbeResult{
		"lookpath:gcc":                      rec("/usr/bin/gcc"),
		"lookpath:aarch64-linux-gnu-gcc":    rec("/usr/bin/aarch64-linux-gnu-gcc"),
		"lookpath:arm-linux-gnueabihf-gcc":  notFound,
		"lookpath:aarch64-linux-musl-gcc":   notFound,
		"lookpath:arm-linux-musleabihf-gcc": notFound,
		"lookpath:zig":                      notFound,
	}
	env := fakeHost{probes: amd64Host, goenv: goenv.Env{"GOHOSTARCH": "amd64", "GOARCH": "amd64", "CC": "gcc", "CGO_ENABLED": "1"}}.build(t)
	r := runCk(t, cgoChecks(), "cgo.cross", env)
	expectCk(t, r, OK, "found aarch64-linux-gnu-gcc", "missing arm-linux-gnueabihf-gcc (sudo apt install gcc-arm-linux-gnueabihf)")
	d := strings.Join(r.Details, "\n")
	for _, w := range []string{
		"CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build",
		"GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc",
		"-extldflags -static",
	} {
		if !strings.Contains(d, w) {
			t.Errorf("details lack %q:\n%s", w, d)
		}
	}
	if strings.Contains(d, "linux/amd64") {
		t.Errorf("the host's own target listed:\n%s", d)
	}

	// Cross-compiling with cgo and the host compiler fails.
	env = fakeHost{probes: amd64Host, goenv: goenv.Env{"GOHOSTARCH": "amd64", "GOARCH": "arm", "CC": "gcc", "CGO_ENABLED": "1"}}.build(t)
	expectCk(t, runCk(t, cgoChecks(), "cgo.cross", env), Fail, "CGO_ENABLED=1 GOARCH=arm with CC=gcc", "Assembler messages", "sudo apt install gcc-arm-linux-gnueabihf")
	// With the right CC it is fine.
	env = fakeHost{probes: amd64Host, goenv: goenv.Env{"GOHOSTARCH": "amd64", "GOARCH": "arm64", "CC": "aarch64-linux-gnu-gcc", "CGO_ENABLED": "1"}}.build(t)
	expectCk(t, runCk(t, cgoChecks(), "cgo.cross", env), OK, "found aarch64-linux-gnu-gcc")
	// A capture without these probes skips.
	env = fakeHost{goenv: goenv.Env{"GOHOSTARCH": "arm64", "GOARCH": "arm64"}}.build(t)
	expectCk(t, runCk(t, cgoChecks(), "cgo.cross", env), Skip, "live host")
}

func TestCgoCrossLive(t *testing.T) {
	env := liveGoEnv(t)
	r := runCk(t, cgoChecks(), "cgo.cross", env)
	if r.Status != OK && r.Status != Skip {
		t.Errorf("cgo.cross on this machine: %s %s", r.Status, r.Finding)
	}
	if r.Status == OK && !strings.Contains(r.Finding, "-gcc") {
		t.Errorf("finding names no compiler: %q", r.Finding)
	}
}

func TestParseGlibcVersion(t *testing.T) {
	for in, want := range map[string]string{
		"ldd (Debian GLIBC 2.36-9+deb12u4) 2.36\nCopyright":                 "2.36",
		"ld.so (Ubuntu GLIBC 2.39-0ubuntu8.4) stable release version 2.39.": "2.39",
		"ldd (GNU libc) 2.40": "2.40",
		"musl libc (x86_64)":  "",
		"":                    "",
	} {
		if got := parseGlibcVersion(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func FuzzParseGlibcVersion(f *testing.F) {
	f.Add("ldd (Debian GLIBC 2.36-9+deb12u4) 2.36")
	f.Add("ld.so (GNU libc) stable release version 2.31.")
	f.Fuzz(func(t *testing.T, s string) {
		v := parseGlibcVersion(s)
		if v != "" && strings.Count(v, ".") != 1 {
			t.Errorf("%q -> %q", s, v)
		}
		loaderArch(s)
	})
}
