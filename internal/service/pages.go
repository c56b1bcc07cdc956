package service

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages unmaps this process's read-only, private mappings of
// its own executable file (code, read-only data and the function table),
// once a server has started, and returns how many bytes of mappings it
// released.
//
// Starting the binary runs the initialisers of every package in it and
// builds the whole command tree, and the kernel maps file pages around
// each fault 64 KiB at a time, so at start most of the binary is mapped
// (about 13 MiB of a 17 MiB pitstop), though a server runs a small part
// of it again. madvise(MADV_DONTNEED) drops those page-table entries; the
// pages stay in the page cache, clean, and the ones the server still runs
// are mapped again by their next fault. Unmapped pages are cheaper for the
// kernel to reclaim when a small board is short of memory (it protects
// mapped executable pages), and the process's RSS counts what it uses.
// Nothing is lost: these mappings are never written, so a fault reads the
// same bytes back from the file. Writable mappings (data, heap) are never
// touched.
func releaseStartupPages() (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var released int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := exeReadOnlyMapping(sc.Text(), uint64(st.Dev), st.Ino)
		if !ok {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_DONTNEED); e != 0 {
			return released, fmt.Errorf("madvise %#x-%#x: %w", lo, hi, e)
		}
		released += int64(hi - lo)
	}
	return released, sc.Err()
}

// exeReadOnlyMapping parses one line of /proc/self/maps ("start-end perms
// offset major:minor inode path") and reports the range of a mapping of
// the file dev/ino that is private and neither writable nor shared.
func exeReadOnlyMapping(line string, dev, ino uint64) (lo, hi uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || (f[1] != "r-xp" && f[1] != "r--p") {
		return 0, 0, false
	}
	if n, err := strconv.ParseUint(f[4], 10, 64); err != nil || n != ino {
		return 0, 0, false
	}
	ma, mi, ok := hexPair(f[3], ":")
	if !ok || ma > 1<<32-1 || mi > 1<<32-1 || unix.Mkdev(uint32(ma), uint32(mi)) != dev {
		return 0, 0, false
	}
	start, end, ok := hexPair(f[0], "-")
	if !ok || end <= start {
		return 0, 0, false
	}
	return uintptr(start), uintptr(end), true
}

// hexPair parses two hexadecimal numbers separated by sep.
func hexPair(s, sep string) (a, b uint64, ok bool) {
	x, y, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(x, 16, 64)
	b, err2 := strconv.ParseUint(y, 16, 64)
	return a, b, err1 == nil && err2 == nil
}
