package buildcache

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memFile returns an anonymous file in memory (memfd_create).
func memFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("pitstop-cache-object", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	return os.NewFile(uintptr(fd), "memfd:pitstop-cache-object"), nil
}

// memPath is a path other processes of the same user can open to read f
// while this process keeps it open.
func memPath(f *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
}
