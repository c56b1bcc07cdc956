package service

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pagesProbe is initialised data: it lives in a private, writable mapping
// of the test binary, which releaseStartupPages must leave alone (dropping
// it would bring back the file's bytes in place of what was written).
var pagesProbe = [3 * 4096]byte{1, 2, 3}

func rssFileKB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseStartupPages(t *testing.T) {
	for i := range pagesProbe {
		pagesProbe[i] = byte(i*7 + 5)
	}
	want := bytes.Clone(pagesProbe[:])
	before := rssFileKB(t)
	n, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("released %d bytes of mappings; RssFile %d kB -> %d kB", n, before, after)
	if !bytes.Equal(pagesProbe[:], want) {
		t.Fatal("initialised data written before the call changed: a writable mapping was dropped")
	}
	if os.Getenv("PITSTOP_EMULATED") == "1" {
		// qemu-user: /proc/self/status is the emulator's, and qemu
		// passes madvise through only where it can; what holds here is
		// that the call fails nothing and loses no data (above).
		return
	}
	if n <= 0 {
		t.Fatalf("released %d bytes: found no read-only mapping of the executable", n)
	}
	// The test binary's code and read-only data are several MiB, most of
	// them mapped after start; what the few calls between the two reads
	// fault back in is far less than 1 MiB.
	if before-after < 1024 {
		t.Errorf("RssFile %d kB before, %d kB after: want at least 1 MiB less", before, after)
	}
}

func TestExeReadOnlyMapping(t *testing.T) {
	dev := unix.Mkdev(0xfe, 0x01)
	for _, c := range []struct {
		line   string
		ok     bool
		lo, hi uintptr
	}{
		{"00400000-00c2e000 r-xp 00000000 fe:01 4242 /usr/bin/pitstop", true, 0x400000, 0xc2e000},
		{"00c2e000-014b2000 r--p 0082e000 fe:01 4242 /usr/bin/pitstop (deleted)", true, 0xc2e000, 0x14b2000},
		{"014b2000-01527000 rw-p 010b2000 fe:01 4242 /usr/bin/pitstop", false, 0, 0}, // data
		{"014b2000-01527000 r--s 010b2000 fe:01 4242 /usr/bin/pitstop", false, 0, 0}, // shared
		{"7f0000000000-7f0000001000 r-xp 00000000 fe:01 99 /usr/lib/libc.so.6", false, 0, 0},
		{"7f0000000000-7f0000001000 r-xp 00000000 fe:02 4242 /other/fs/file", false, 0, 0},
		{"7f0000000000-7f0000001000 r--p 00000000 00:00 0", false, 0, 0},
		{"garbage", false, 0, 0},
	} {
		lo, hi, ok := exeReadOnlyMapping(c.line, dev, 4242)
		if ok != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("%q: got %#x-%#x %v, want %#x-%#x %v", c.line, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}
