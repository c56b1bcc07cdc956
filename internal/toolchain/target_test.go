package toolchain

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

// elfHeader makes the first 20 bytes of an ELF executable.
func elfHeader(class, data byte, machine uint16) []byte {
	h := make([]byte, 64)
	copy(h, "\x7fELF")
	h[4], h[5], h[6] = class, data, 1
	if data == 2 {
		binary.BigEndian.PutUint16(h[18:], machine)
	} else {
		binary.LittleEndian.PutUint16(h[18:], machine)
	}
	return h
}

// elfOf makes the ELF header of an executable for GOARCH goarch, from the
// architecture table's row.
func elfOf(t *testing.T, goarch string) []byte {
	t.Helper()
	a, ok := host.ArchFor(goarch, 0)
	if !ok {
		t.Fatalf("no row for %s", goarch)
	}
	class, data := byte(1), byte(1)
	if a.ELF.Class == 64 {
		class = 2
	}
	if a.ELF.BigEndian {
		data = 2
	}
	return elfHeader(class, data, a.ELF.Machine)
}

// A 32-bit Raspberry Pi OS on a 64-bit kernel: uname says aarch64, but the
// userland is 32-bit ARM, and so must the toolchain be.
func TestDetectTargetUserlandNotKernel(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "proc", "sys", "kernel"), 0o755)
	os.WriteFile(filepath.Join(root, "proc", "sys", "kernel", "arch"), []byte("aarch64\n"), 0o644)
	testexe.WriteFile(filepath.Join(root, "bin", "dash"), elfOf(t, "arm"), 0o755)
	os.Symlink("dash", filepath.Join(root, "bin", "sh"))
	tg, err := DetectTarget(host.At(root))
	if err != nil || tg != (Target{"linux", "arm"}) {
		t.Fatalf("DetectTarget = %v, %v; want linux-arm", tg, err)
	}
	testexe.WriteFile(filepath.Join(root, "bin", "dash"), elfOf(t, "arm64"), 0o755)
	if tg, err := DetectTarget(host.At(root)); err != nil || tg.GOARCH != "arm64" {
		t.Fatalf("64-bit userland: %v, %v", tg, err)
	}
	for goarch, want := range map[string]string{"amd64": "linux-amd64", "riscv64": "linux-riscv64", "s390x": "linux-s390x", "mips": "linux-mips"} {
		testexe.WriteFile(filepath.Join(root, "bin", "dash"), elfOf(t, goarch), 0o755)
		if tg, err := DetectTarget(host.At(root)); err != nil || tg.String() != want {
			t.Errorf("%s userland: %v, %v", goarch, tg, err)
		}
	}
	// ILP32 aarch64 (a 32-bit ELF for EM_AARCH64) has no Go toolchain.
	testexe.WriteFile(filepath.Join(root, "bin", "dash"), elfHeader(1, 1, 183), 0o755)
	if tg, err := DetectTarget(host.At(root)); err == nil || !strings.Contains(err.Error(), "/bin/sh: 32-bit ELF machine 183 has no Go toolchain") {
		t.Errorf("ILP32 aarch64 userland: %v, %v", tg, err)
	}
	if _, err := DetectTarget(host.At(t.TempDir())); err == nil {
		t.Fatal("empty root: no error")
	}
}

func TestDetectTargetLive(t *testing.T) {
	tg, err := DetectTarget(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Under qemu-aarch64 the test binary is arm64 but the userland (and so
	// the toolchain to install) is the host's: only check it is sane.
	if tg.GOOS != runtime.GOOS || tg.GOARCH == "" {
		t.Fatalf("DetectTarget = %v", tg)
	}
	t.Logf("this userland: %v (test binary %s/%s)", tg, runtime.GOOS, runtime.GOARCH)
}

func TestNormalizeArch(t *testing.T) {
	for in, want := range map[string]string{"armv6l": "arm", "aarch64": "arm64", "x86_64": "amd64", "arm64": "arm64", "ARMHF": "arm",
		"armel": "arm", "x86-64": "amd64", "i686": "386", "i386": "386", "ppc64el": "ppc64le", " Bogus ": "bogus"} {
		if got := NormalizeArch(in); got != want {
			t.Errorf("NormalizeArch(%q) = %q, want %q", in, got, want)
		}
	}
}
