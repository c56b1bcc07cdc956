package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/cross"
	"github.com/pitstop-go/pitstop/internal/host"
)

// crossModule copies cross's C/C++ test program into a module directory.
func crossModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "cross", "testdata", "libgcc"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "go.mod.txt"), filepath.Join(dir, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func pitstop(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func needArm64Cross(t *testing.T) {
	t.Helper()
	for _, c := range []string{"aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc", "qemu-arm-static"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed (test.sh installs it)", c)
		}
	}
}

// TestCrossBadInput: an unknown target, libc or glibc version and a
// missing toolchain are one line with the fix and exit 2; nothing is
// built.
func TestCrossBadInput(t *testing.T) {
	dir := crossModule(t)
	t.Chdir(dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cross", "build", "--target", "pi6"}, `unknown --target "pi6": use one of pi5, pi4, pi-32bit`},
		{[]string{"cross", "build", "--libc", "uclibc"}, `unknown --libc "uclibc"`},
		{[]string{"cross", "check", "--glibc", "bookworm", "x"}, `--glibc "bookworm" is no version`},
		{[]string{"cross", "check", "--for", "missing.tar.gz", "x"}, "--for missing.tar.gz"},
		{[]string{"cross", "build", "--target", "pi5", "--for", "x.tar.gz"}, "not both"},
		{[]string{"cross", "check"}, "check needs one binary"},
		{[]string{"cross", "build", "--dry-run"}, "go with --install"},
	} {
		code, _, stderr := pitstop(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", c.args, code, stderr, c.want)
		}
	}

	// No cross compiler on PATH: only the go command is there.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(gobin, filepath.Join(bin, "go")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	code, stdout, stderr := pitstop(t, "cross", "build", "--target", "linux/arm64", "--", "-o", "app", ".")
	want := "no C compiler for linux/arm64: install it with: sudo apt-get install -y gcc-aarch64-linux-gnu g++-aarch64-linux-gnu"
	if code != 2 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("missing toolchain: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
	if stdout != "" {
		t.Errorf("missing toolchain printed %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err == nil {
		t.Error("a build without a toolchain left app")
	}
}

// TestCrossBuildRunCheck: the command end to end from this machine:
// build for linux/arm/v7, check, run under qemu-user; a failed compile is
// exit 1 with nothing left; cross check refuses the native build against
// glibc 2.31 naming symbols.
func TestCrossBuildRunCheck(t *testing.T) {
	needArm64Cross(t)
	dir, captures := crossModule(t), testdataDir(t)
	t.Chdir(dir)
	code, stdout, stderr := pitstop(t, "cross", "build", "--target", "linux/arm/v7", "--run", "--run-args", "3 7 5", "--", "-o", "app", ".")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	ran := "-L /usr/arm-linux-gnueabihf app 3 7 5: exit 0"
	if a, _ := host.ArchFor("arm", 7); cross.RunSysroot(a) == "/" { // libc6:armhf installed
		ran = "qemu-arm-static app 3 7 5: exit 0"
	}
	for _, want := range []string{"built app", "ok   interpreter   /lib/ld-linux-armhf.so.3", "libgcc_s.so.1 from libgcc-s1", "divide 1 ok; C++ caught 4",
		"ran ", "qemu-arm", ran} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	// The board is a Raspberry Pi 5 (a capture): the armhf build is refused.
	code, stdout, _ = pitstop(t, "cross", "check", "--for", filepath.Join(captures, "pi5-sd.tar.gz"), "app")
	if code != 1 || !strings.Contains(stdout, "FAIL machine       32-bit armhf, the target runs 64-bit arm64") {
		t.Errorf("armhf app against a pi5 capture: exit %d\n%s", code, stdout)
	}

	code, _, _ = pitstop(t, "cross", "build", "--target", "linux/amd64", "--", "-o", "native", ".")
	if code != 0 {
		t.Fatalf("native build: exit %d", code)
	}
	code, stdout, stderr = pitstop(t, "cross", "check", "--target", "linux/amd64", "--glibc", "2.31", "native")
	if code != 1 || !strings.Contains(stdout, "FAIL glibc         needs glibc 2.34, the target has 2.31:") ||
		!strings.Contains(stdout, "pthread_create@GLIBC_2.34") || !strings.Contains(stderr, "does not fit") {
		t.Errorf("native against 2.31: exit %d\n%s\n%s", code, stdout, stderr)
	}

	if err := os.WriteFile("broken.c", []byte("int broken( {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = pitstop(t, "cross", "build", "--target", "linux/arm64", "--", "-o", "app64", ".")
	if code != 1 || !strings.Contains(stderr, "go build failed") || !strings.Contains(stderr, "broken.c") {
		t.Errorf("broken C: exit %d, stderr %q", code, stderr)
	}
	ents, _ := os.ReadDir(".")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "app64") || strings.Contains(e.Name(), ".pitstop-") {
			t.Errorf("a failed build left %s", e.Name())
		}
	}
}

// testdataDir is the doctor's captures of real boards.
func testdataDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "doctor", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}
