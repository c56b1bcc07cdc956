package toolchain

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncTree flushes the filesystem holding dir: every file just unpacked
// there reaches the disk before the tree is renamed into place. One syncfs
// instead of an fsync per file (a toolchain holds thousands), kinder to an
// SD card. Without it, a power cut soon after an install (a Pi unplugged)
// could leave a toolchain whose files are empty but whose name and
// `current` link survived.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}
