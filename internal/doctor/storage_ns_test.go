package doctor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

// TestStorageRealMounts mounts a real tmpfs and an overlay whose upper
// layer is on that tmpfs (as pitstop ramdisk does) in a private mount
// namespace, and runs the live storage checks on them.
func TestStorageRealMounts(t *testing.T) {
	if os.Getenv("PITSTOP_DOCTOR_IN_NS") == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root: mounts tmpfs and overlay in a private mount namespace")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("needs unshare(1) from util-linux")
		}
		canReexec(t)
		cmd := exec.Command(unshare, "-m", "--propagation", "private", os.Args[0], "-test.run=^TestStorageRealMounts$", "-test.v")
		cmd.Env = append(os.Environ(), "PITSTOP_DOCTOR_IN_NS=1", "PITSTOP_DOCTOR_NS_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		t.Logf("in the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("namespace run: %v", err)
		}
		if strings.Contains(string(out), "--- SKIP: TestStorageRealMounts") {
			t.Skip("the namespace run skipped: see its output above")
		}
		if !strings.Contains(string(out), "--- PASS: TestStorageRealMounts") {
			t.Fatal("the namespace run did not pass")
		}
		return
	}
	dir := os.Getenv("PITSTOP_DOCTOR_NS_DIR")
	ram, cache := filepath.Join(dir, "ram"), filepath.Join(dir, "go-build")
	for _, d := range []string{ram, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", ram, "tmpfs", 0, "size=16m"); err != nil {
		t.Skipf("cannot mount tmpfs here: %v", err)
	}
	defer unix.Unmount(ram, unix.MNT_DETACH)
	for _, d := range []string{"upper", "work"} {
		os.Mkdir(filepath.Join(ram, d), 0o755)
	}
	opts := "lowerdir=" + cache + ",upperdir=" + filepath.Join(ram, "upper") + ",workdir=" + filepath.Join(ram, "work")
	if err := unix.Mount("pitstop-ramdisk", cache, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount overlay here: %v", err)
	}
	defer unix.Unmount(cache, unix.MNT_DETACH)

	s, err := host.Live().StorageOf(filepath.Join(ram, "x"))
	if err != nil || s.Class != host.Tmpfs {
		t.Errorf("tmpfs: %+v, %v", s, err)
	}
	s, err = host.Live().StorageOf(cache)
	if err != nil || s.Class != host.Overlay || !s.Overlay.UpperOnTmpfs() {
		t.Fatalf("overlay: %+v, %v", s, err)
	}

	env := handIn(&Env{Root: host.Live(), Go: goenv.Env{"GOCACHE": cache, "GOMODCACHE": filepath.Join(ram, "mod")}, Getenv: os.Getenv})
	checks, _ := Select(All(), []string{"storage.gocache", "storage.gomodcache"})
	rep := Run(context.Background(), env, checks)
	gc, _ := rep.Find("storage.gocache")
	if gc.Status != OK || !strings.Contains(gc.Finding, "in RAM: pitstop ramdisk is active") || !strings.Contains(gc.Finding, "fsync") {
		t.Errorf("storage.gocache = %s %q", gc.Status, gc.Finding)
	}
	mc, _ := rep.Find("storage.gomodcache")
	if mc.Status != OK || !strings.Contains(mc.Finding, "tmpfs (RAM)") || !strings.Contains(mc.Finding, "16 MiB free") {
		t.Errorf("storage.gomodcache = %s %q", mc.Status, mc.Finding)
	}
	// The fsync probe left nothing behind.
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("fsync probe left %v in %s", ents, cache)
	}
}

// canReexec skips the test when the test binary cannot be started again as
// a program (an emulated architecture without binfmt_misc).
func canReexec(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(os.Args[0], "-test.run=^$").CombinedOutput(); err != nil {
		t.Skipf("cannot re-execute the test binary (an emulator without binfmt_misc?): %v: %.200s", err, out)
	}
}
