package cross

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests cross-build real programs with cgo with Debian's cross
// compilers and run them under qemu-user; test.sh installs both. They run
// the same in test.sh's arm64 pass: the test binary is emulated, but the
// go command, the compilers and qemu it starts are the machine's own, and
// the build machine is what /bin/sh is built for.

// needCross skips when Debian's cross compilers for target are missing
// (as root, test.sh installs them, and then no skip happens).
func needCross(t *testing.T, tg Target) Toolchain {
	t.Helper()
	tc, err := (Finder{}).Find(tg)
	if err != nil {
		t.Skipf("%v (test.sh installs it)", err)
	}
	return tc
}

func mustTarget(t *testing.T, name string, libc Libc) Target {
	t.Helper()
	tg, err := ParseTarget(name, libc)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// copyModule copies testdata/name into a temporary module directory (its
// go.mod is go.mod.txt there, so that it is no module inside pitstop).
func copyModule(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "go.mod.txt"), filepath.Join(dir, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func build(t *testing.T, tg Target, tc Toolchain, dir string, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	b := &Build{Target: tg, Toolchain: tc, Dir: dir, Args: args, Stderr: &stderr}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := b.Run(ctx)
	if err != nil {
		t.Fatalf("build for %s: %v\n%s", tg, err, stderr.String())
	}
	return out
}

func run(t *testing.T, tg Target, tc Toolchain, prog string, args ...string) (string, RunResult) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := (Finder{}).Run(ctx, tg, tc, prog, args, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), res
}

func finding(r *Report, what string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.What == what {
			return f, true
		}
	}
	return Finding{}, false
}

// TestLibgccProgramBuildsAndRuns: a program whose C needs libgcc and
// whose C++ throws builds for linux/arm64 and linux/arm/v7 from this
// machine, checks against its target (machine, loader, libgcc_s and
// libstdc++ named with their packages) and runs under qemu-user with the
// target's sysroot, computing what Go computes.
func TestLibgccProgramBuildsAndRuns(t *testing.T) {
	for _, name := range []string{"linux/arm64", "linux/arm/v7"} {
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			tg := mustTarget(t, name, Glibc)
			tc := needCross(t, tg)
			if tc.CXX == "" {
				t.Fatalf("toolchain %+v has no C++ compiler", tc)
			}
			dir := copyModule(t, "libgcc")
			prog := build(t, tg, tc, dir, "-o", "prog", ".")
			if prog != filepath.Join(dir, "prog") {
				t.Errorf("output %s, want %s/prog", prog, dir)
			}
			r, err := Check(prog, tg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			r.Write(&buf)
			t.Logf("%s", buf.String())
			if !r.Fits() {
				t.Errorf("the check refuses a program built for its own target")
			}
			if f, ok := finding(r, "interpreter"); !ok || f.Level != OK || f.Text != tg.Arch.GlibcLoader {
				t.Errorf("interpreter finding %+v, want ok %s", f, tg.Arch.GlibcLoader)
			}
			if f, ok := finding(r, "libgcc_s.so.1"); !ok || !strings.Contains(f.Text, "libgcc-s1") {
				t.Errorf("libgcc_s.so.1 finding %+v, want it named with libgcc-s1", f)
			}
			if f, ok := finding(r, "libstdc++.so.6"); !ok || !strings.Contains(f.Text, "libstdc++6") {
				t.Errorf("libstdc++.so.6 finding %+v, want it named with libstdc++6", f)
			}
			// 2^64*3 + 7 over 5 and 7 over 5 (32-bit: the low word only).
			out, res := run(t, tg, tc, prog, "3", "7", "5")
			t.Logf("%s: %s", res.Command, out)
			if res.Err != nil {
				t.Fatalf("%s: %v: %s", res.Command, res.Err, out)
			}
			want := "divide 1 ok; C++ caught 4"
			if tg.Arch.ELF.Class == 64 {
				want = "divide 11068046444225730971 ok; C++ caught 4"
			}
			if strings.TrimSpace(out) != want {
				t.Errorf("output %q, want %q", out, want)
			}
			// -L names Debian's cross sysroot, unless the target's libc6 is
			// installed as a multiarch package (see RunSysroot).
			if tc.Sysroot != RunSysroot(tg.Arch) {
				t.Errorf("toolchain sysroot %s, want %s", tc.Sysroot, RunSysroot(tg.Arch))
			}
			wantL := " -L " + tc.Sysroot + " "
			if !strings.Contains(res.Command, "qemu-") || strings.Contains(res.Command, wantL) != (tc.Sysroot != "/") ||
				(tc.Sysroot == "/") == strings.Contains(res.Command, " -L ") {
				t.Errorf("ran as %q with sysroot %s", res.Command, tc.Sysroot)
			}
		})
	}
}

// TestStaticBuildRunsWithoutSysroot: with libc static the program has no
// interpreter and no NEEDED library, the check says so, and qemu-user runs
// it without -L.
func TestStaticBuildRunsWithoutSysroot(t *testing.T) {
	tg := mustTarget(t, "linux/arm64", Static)
	tc := needCross(t, tg)
	dir := copyModule(t, "libgcc")
	prog := build(t, tg, tc, dir, "-o", "prog-static")
	r, err := Check(prog, tg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Deps.Interp != "" || len(r.Deps.Needed) != 0 || !r.Fits() {
		t.Fatalf("static build: interpreter %q, needed %v, fits %v", r.Deps.Interp, r.Deps.Needed, r.Fits())
	}
	if f, _ := finding(r, "interpreter"); !strings.HasPrefix(f.Text, "none") {
		t.Errorf("interpreter finding %+v, want none", f)
	}
	out, res := run(t, tg, tc, prog, "0", "10", "3")
	if res.Err != nil || strings.TrimSpace(out) != "divide 3 ok; C++ caught 4" {
		t.Fatalf("%s: %v: %q", res.Command, res.Err, out)
	}
	if strings.Contains(res.Command, " -L ") {
		t.Errorf("a static program ran with a sysroot: %s", res.Command)
	}
	// The same program checked as a dynamic glibc one fits too (a static
	// program runs anywhere), and the dynamic one is refused as static.
	dyn := build(t, mustTarget(t, "linux/arm64", Glibc), tc, dir, "-o", "prog-dyn")
	r, err = Check(dyn, tg)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := finding(r, "interpreter"); r.Fits() || f.Level != Fail {
		t.Errorf("a dynamic program passes a static target's check: %+v", r.Findings)
	}
}

// TestSQLiteBuildsAndRuns: github.com/mattn/go-sqlite3, from the module
// proxy into a module of the test's own, builds for arm64 and a program
// using it creates a database, writes and reads it back under qemu-user.
func TestSQLiteBuildsAndRuns(t *testing.T) {
	tg := mustTarget(t, "linux/arm64", Glibc)
	tc := needCross(t, tg)
	dir := copyModule(t, "sqlite")
	get := exec.Command("go", "mod", "tidy")
	get.Dir = dir
	if out, err := get.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy (github.com/mattn/go-sqlite3 from the module proxy): %v\n%s", err, out)
	}
	prog := build(t, tg, tc, dir, "-o", "sq")
	r, err := Check(prog, tg)
	if err != nil || !r.Fits() {
		t.Fatalf("check: %v %+v", err, r)
	}
	db := filepath.Join(t.TempDir(), "test.db")
	out, res := run(t, tg, tc, prog, db)
	if res.Err != nil {
		t.Fatalf("%s: %v: %s", res.Command, res.Err, out)
	}
	if strings.TrimSpace(out) != "read back: pi5=arm64 pi-32bit=arm" {
		t.Errorf("output %q", out)
	}
	b, err := os.ReadFile(db)
	if err != nil || !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) {
		t.Errorf("%s is no SQLite database (%v)", db, err)
	}
}

// TestARMv6RunCatchesARMv7Code: a pi-32bit build runs on an emulated
// ARM1176 (Pi 1, Zero); Debian's armhf C runtime is ARMv7 code, so the
// program dies with an illegal instruction there, as it would on the
// board, and the toolchain's note says so before the build.
func TestARMv6RunCatchesARMv7Code(t *testing.T) {
	tg := mustTarget(t, "pi-32bit", Glibc)
	tc := needCross(t, tg)
	if tc.Kind != "gcc" {
		t.Skipf("toolchain %s: this is about Debian's armhf gcc", tc.Kind)
	}
	if !strings.Contains(tc.Note, "ARMv7") {
		t.Errorf("no ARMv7 note: %+v", tc)
	}
	prog := build(t, tg, tc, copyModule(t, "libgcc"), "-o", "prog")
	out, res := run(t, tg, tc, prog, "3", "7", "5")
	if !strings.Contains(res.Command, "-cpu arm1176") {
		t.Errorf("ran as %s, want -cpu arm1176", res.Command)
	}
	if res.Err == nil || !strings.Contains(res.Err.Error(), "illegal instruction") {
		t.Errorf("ARMv7 C runtime on an ARMv6 CPU: %v, output %q", res.Err, out)
	}
}
