package bench

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestIORefusesSmallFilesystem: a 2 MiB tmpfs is refused with a
// NoSpaceError naming the directory, and nothing is written to it.
func TestIORefusesSmallFilesystem(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (test.sh runs as root)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	_, err := RunIO(context.Background(), Config{Quick: true, Dirs: []string{dir}})
	var ns *NoSpaceError
	if !errors.As(err, &ns) || ns.Dir != dir || ns.Need != IONeed(true) || ns.Free > 2<<20 {
		t.Fatalf("RunIO on a 2 MiB tmpfs: %v (%+v)", err, ns)
	}
	t.Logf("%v", err)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("refused, yet wrote %v", ents)
	}
}

// TestIORemovesTempFilesOnInterrupt: the io benchmark running in a process
// of its own, interrupted with SIGINT (Ctrl-C) in the middle, removes its
// temporary tree before it exits.
func TestIORemovesTempFilesOnInterrupt(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "PITSTOP_BENCH_TEST_IO="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the run has written files into its temporary directory.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, ".pitstop-bench-*", "mod", "*", "*", "*")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the io run wrote nothing in 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the io process ended with %v; want TestMain's exit 3 after RunIO returned", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("after SIGINT, %s still holds %v", dir, ents)
	}
}

// TestIOCancelRemovesTempFiles: a cancelled context ends every phase of
// the run early, and the temporary tree goes with it.
func TestIOCancelRemovesTempFiles(t *testing.T) {
	for _, after := range []time.Duration{0, 30 * time.Millisecond, 300 * time.Millisecond} {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), after)
		_, err := RunIO(ctx, Config{Quick: true, Dirs: []string{dir}})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("cancelled after %v: %v", after, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("cancelled after %v: left %v", after, ents)
		}
	}
}
