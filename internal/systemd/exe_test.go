package systemd

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testexe"
)

func TestHiddenFrom(t *testing.T) {
	for path, want := range map[string]string{
		"/home/pi/go/bin/pitstop": "/home",
		"/root/go/bin/pitstop":    "/root",
		"/tmp/pitstop":            "/tmp",
		"/run/user/1000/pitstop":  "/run/user",
		"/usr/local/bin/pitstop":  "",
		"/homestead/pitstop":      "",
		"/opt/pitstop/pitstop":    "",
	} {
		if got := HiddenFrom(path); got != want {
			t.Errorf("HiddenFrom(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestExecutableCopies: a binary units cannot see is copied to the bin
// directory by the step (executable, same bytes), the step's undo removes
// the copy, and a copy already in place needs no step.
func TestExecutableCopies(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "pitstop-exe-") // hidden: PrivateTmp=yes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := filepath.Join(dir, "pitstop")
	if err := testexe.WriteFile(src, []byte("#!/bin/sh\necho new\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	exe, step, err := Executable(src, bin)
	if err != nil || step == nil {
		t.Fatalf("Executable: %q, %v, %v", exe, step, err)
	}
	if want := filepath.Join(bin, "pitstop"); exe != want || step.Target != want || step.Action != "copy" {
		t.Fatalf("units run %q, step %s; want the copy %s", exe, step, want)
	}
	if _, err := os.Stat(exe); err == nil {
		t.Fatal("planning copied the binary")
	}
	if err := step.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("copy: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(exe); string(b) != "#!/bin/sh\necho new\n" {
		t.Fatalf("copy holds %q", b)
	}
	if _, again, err := Executable(src, bin); err != nil || again != nil {
		t.Errorf("with the same copy in place: step %v, %v", again, err)
	}
	if err := step.Undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(exe); !os.IsNotExist(err) {
		t.Errorf("undo left the copy: %v", err)
	}

	// An older copy is replaced, and undo puts it back.
	os.MkdirAll(bin, 0o755)
	testexe.WriteFile(exe, []byte("old"), 0o755)
	_, step, err = Executable(src, bin)
	if err != nil || step == nil {
		t.Fatalf("over an old copy: %v, %v", step, err)
	}
	step.Do(context.Background())
	step.Undo(context.Background())
	if b, _ := os.ReadFile(exe); string(b) != "old" {
		t.Errorf("undo left %q, want the old copy", b)
	}
	// A copy of the same size is compared byte for byte.
	testexe.WriteFile(exe, []byte("#!/bin/sh\necho old\n"), 0o755)
	if _, step, err := Executable(src, bin); err != nil || step == nil {
		t.Errorf("over a copy of the same size with other bytes: step %v, %v; want a copy", step, err)
	}
}

func TestExecutableVisible(t *testing.T) {
	exe, step, err := Executable("/usr/local/bin/pitstop", "/nonexistent")
	if exe != "/usr/local/bin/pitstop" || step != nil || err != nil {
		t.Errorf("a visible binary: %q, %v, %v", exe, step, err)
	}
}

// TestExecutableComparesWithoutReadingWhole: planning for a hidden binary
// with a copy in place compares the two a block at a time. It used to read
// both whole, and the cache command's help text plans it on every start:
// a server run from /root/go/bin held the garbage of two copies of itself
// (24 MiB of RSS).
func TestExecutableComparesWithoutReadingWhole(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "pitstop-exe-") // hidden: PrivateTmp=yes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const size = 16 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7 / 13)
	}
	src := filepath.Join(dir, "pitstop")
	bin := filepath.Join(t.TempDir(), "bin")
	dst := filepath.Join(bin, "pitstop")
	os.MkdirAll(bin, 0o755)
	if err := testexe.WriteFile(src, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := testexe.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	data = nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	exe, step, err := Executable(src, bin)
	runtime.ReadMemStats(&after)
	if err != nil || step != nil || exe != dst {
		t.Fatalf("with the same copy in place: %q, step %v, %v", exe, step, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > size/8 {
		t.Errorf("comparing two %d MiB binaries allocated %d KiB", size>>20, got>>10)
	}
	if got := ExecutablePath(src, bin); got != dst {
		t.Errorf("ExecutablePath = %q, want %q", got, dst)
	}

	// Same size, one byte different at the end: a step that replaces it.
	f, _ := os.OpenFile(dst, os.O_WRONLY, 0)
	f.WriteAt([]byte{0xff}, size-1)
	f.Close()
	if _, step, err := Executable(src, bin); err != nil || step == nil {
		t.Fatalf("a copy differing in its last byte: step %v, %v", step, err)
	}
}
