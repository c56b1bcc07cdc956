package toolchain

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
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

func TestArchFromELF(t *testing.T) {
	for _, tc := range []struct {
		class, data byte
		machine     uint16
		want        string
	}{
		{2, 1, emAARCH64, "arm64"},
		{1, 1, emARM, "arm"},
		{2, 1, emX86_64, "amd64"},
		{1, 1, em386, "386"},
		{2, 1, emRISCV, "riscv64"},
		{2, 1, emPPC64, "ppc64le"},
		{2, 2, emPPC64, "ppc64"},
		{2, 2, emS390, "s390x"},
		{1, 2, emMIPS, "mips"},
		{2, 1, emLoongArch, "loong64"},
		{1, 1, emAARCH64, ""}, // 32-bit aarch64 is not a thing
		{2, 1, 9999, ""},
	} {
		got, err := ArchFromELF(elfHeader(tc.class, tc.data, tc.machine))
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("class %d data %d machine %d: %q, %v; want %q", tc.class, tc.data, tc.machine, got, err, tc.want)
		}
	}
	for _, bad := range [][]byte{nil, []byte("#!/bin/sh\n"), []byte("\x7fELF\x01")} {
		if _, err := ArchFromELF(bad); err == nil {
			t.Errorf("ArchFromELF(%q) accepted", bad)
		}
	}
}

// A 32-bit Raspberry Pi OS on a 64-bit kernel: uname says aarch64, but the
// userland is 32-bit ARM, and so must the toolchain be.
func TestDetectTargetUserlandNotKernel(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "proc", "sys", "kernel"), 0o755)
	os.WriteFile(filepath.Join(root, "proc", "sys", "kernel", "arch"), []byte("aarch64\n"), 0o644)
	os.WriteFile(filepath.Join(root, "bin", "dash"), elfHeader(1, 1, emARM), 0o755)
	os.Symlink("dash", filepath.Join(root, "bin", "sh"))
	tg, err := DetectTarget(host.At(root))
	if err != nil || tg != (Target{"linux", "arm"}) {
		t.Fatalf("DetectTarget = %v, %v; want linux-arm", tg, err)
	}
	os.WriteFile(filepath.Join(root, "bin", "dash"), elfHeader(2, 1, emAARCH64), 0o755)
	if tg, err := DetectTarget(host.At(root)); err != nil || tg.GOARCH != "arm64" {
		t.Fatalf("64-bit userland: %v, %v", tg, err)
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
	for in, want := range map[string]string{"armv6l": "arm", "aarch64": "arm64", "x86_64": "amd64", "arm64": "arm64", "ARMHF": "arm"} {
		if got := NormalizeArch(in); got != want {
			t.Errorf("NormalizeArch(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzArchFromELF(f *testing.F) {
	f.Add(elfHeader(2, 1, emAARCH64))
	f.Add(elfHeader(1, 1, emARM))
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		arch, err := ArchFromELF(b)
		if err == nil && arch == "" {
			t.Fatal("no arch and no error")
		}
	})
}
