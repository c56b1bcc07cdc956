// Package atomicfile writes files so that a reader, or a crash, sees either
// the old content or the new, never a mix: a temp file in the same directory,
// fsync, rename, then fsync of the directory. SyncDir and SyncFS make other
// writes durable the same way.
//
// The operations whose order makes a write durable (fsync of a file, fsync
// of a directory, rename, syncfs) go through Ops, so that a test can record
// their order: killing a process keeps the page cache, so no crash test
// can see it.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Ops are the file operations whose order makes writes durable.
type Ops interface {
	// Fsync flushes f's content to stable storage.
	Fsync(f *os.File) error
	// SyncDir flushes dir's entries (renames, unlinks in it).
	SyncDir(dir string) error
	// Rename renames oldpath to newpath.
	Rename(oldpath, newpath string) error
	// SyncFS flushes the whole filesystem that holds path.
	SyncFS(path string) error
}

// OS is the real operating system's Ops.
type OS struct{}

// Fsync implements Ops.
func (OS) Fsync(f *os.File) error { return f.Sync() }

// SyncDir implements Ops.
func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Rename implements Ops.
func (OS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// SyncFS implements Ops.
func (OS) SyncFS(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", path, err)
	}
	return nil
}

// FS writes atomically through Ops; nil Ops means the real OS. The
// package's functions use the zero FS.
type FS struct {
	Ops Ops
}

func (fs FS) ops() Ops {
	if fs.Ops == nil {
		return OS{}
	}
	return fs.Ops
}

// WriteFile atomically replaces path with data, created with perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return FS{}.WriteFile(path, data, perm)
}

// Write atomically replaces path with what fill writes. If fill fails,
// path is left untouched and the temp file is removed.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	return FS{}.Write(path, perm, fill)
}

// SyncDir fsyncs a directory so that a rename or unlink inside it is durable.
func SyncDir(dir string) error { return OS{}.SyncDir(dir) }

// SyncFS flushes the whole filesystem that holds path (syncfs(2)): one call
// instead of an fsync per file when many files were just written there,
// such as an unpacked toolchain or a ramdisk's staged sync; far kinder to
// an SD card.
func SyncFS(path string) error { return OS{}.SyncFS(path) }

// WriteFile is the package's WriteFile through fs's Ops.
func (fs FS) WriteFile(path string, data []byte, perm os.FileMode) error {
	return fs.Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write is the package's Write through fs's Ops.
func (fs FS) Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	ops := fs.ops()
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = ops.Fsync(f); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = ops.Rename(tmp, path); err != nil {
		return err
	}
	return ops.SyncDir(dir)
}

// SyncDir is the package's SyncDir through fs's Ops.
func (fs FS) SyncDir(dir string) error { return fs.ops().SyncDir(dir) }

// SyncFS is the package's SyncFS through fs's Ops.
func (fs FS) SyncFS(path string) error { return fs.ops().SyncFS(path) }

// Fsync flushes f through fs's Ops.
func (fs FS) Fsync(f *os.File) error { return fs.ops().Fsync(f) }

// Rename renames through fs's Ops.
func (fs FS) Rename(oldpath, newpath string) error { return fs.ops().Rename(oldpath, newpath) }

// SameContent reports whether the files a and b hold the same bytes:
// sizes first, then a block at a time, never whole. An error opening b is
// returned as is (fs.ErrNotExist when there is no b).
func SameContent(a, b string) (bool, error) {
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	ia, err := fa.Stat()
	if err != nil {
		return false, err
	}
	ib, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if ia.Size() != ib.Size() {
		return false, nil
	}
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(fa, bufA)
		nb, errB := io.ReadFull(fb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}

// OpenFd opens p as a plain descriptor (close-on-exec, retried on EINTR),
// not an *os.File: a regular file gains nothing from the runtime's poller,
// whose registration costs two failing system calls per file, and ramdisk
// sync and toolchain unpacks open thousands. Errors are *fs.PathError.
func OpenFd(p string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC, perm)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
}
