package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// GetFile is Get for serving a file with sendfile: it opens the object
// with open(2) and os.NewFile instead of os.OpenFile, which on Linux also
// tries to register a regular file with the network poller (an epoll_ctl
// that fails, and four fcntl calls around it). The Object's Body is an
// *os.File in blocking mode, as net's sendfile wants it. Use it on hot
// read paths; it is otherwise the same as Get.
func (d *Disk) GetFile(ctx context.Context, key string) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	p, fd, err := d.openRaw(key)
	if err != nil {
		return Object{}, err
	}
	f := os.NewFile(uintptr(fd), p)
	return d.opened(key, p, f)
}

// openRaw checks key and opens its file with open(2), not following a
// symlink (the store never makes one, so one in an object's place is not
// an object). A missing file is forgotten and reported as fs.ErrNotExist.
func (d *Disk) openRaw(key string) (p string, fd int, err error) {
	p, err = d.path(key)
	if err != nil {
		return "", -1, err
	}
	for {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if isMiss(err) || errors.Is(err, syscall.ELOOP) {
			d.forget(key, p)
			return "", -1, notExist(key)
		}
		return "", -1, fmt.Errorf("store: open %s: %w", p, err)
	}
	return p, fd, nil
}

// ReadSmall reads the object named key into buf and records the use, as
// Get does, with four system calls (open, fstat, read, close) and no
// *os.File, whose set-up (poller registration, flags, cleanup) is most of
// the cost of reading a file of a few hundred bytes. It returns the bytes
// read and the object's Info; an object larger than buf is cut to
// len(buf), which the caller sees as Info.Size > len(data).
func (d *Disk) ReadSmall(ctx context.Context, key string, buf []byte) ([]byte, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	p, fd, err := d.openRaw(key)
	if err != nil {
		return nil, Info{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, Info{}, fmt.Errorf("store: %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, Info{}, notExist(key)
	}
	want := int(min(int64(len(buf)), st.Size))
	n := 0
	for n < want {
		m, err := unix.Read(fd, buf[n:want])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, Info{}, fmt.Errorf("store: reading %s: %w", p, err)
		}
		if m == 0 {
			break // cut short by another process since the fstat
		}
		n += m
	}
	fst := statOfUnix(&st)
	d.touch(key, p, fst)
	return buf[:n], Info{Key: key, Size: st.Size, ModTime: time.Unix(0, fst.mtime)}, nil
}

// Path returns the name of the file that holds (or would hold) the object
// named key, for a reader that needs a file name: the GOCACHEPROG protocol
// hands the go command paths. Reading the file that way is not a use.
func (d *Disk) Path(key string) (string, error) { return d.path(key) }

// Touch records a use of key, as a Get does, without opening it, and
// returns its Info; a missing key is forgotten and reported as
// fs.ErrNotExist. A server that answers a hot object from memory calls it
// now and then, so that the object stays recently used on disk (and is
// not evicted first) and so that it learns when another process (pitstop
// proxy gc) removed or replaced it.
func (d *Disk) Touch(ctx context.Context, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if isMiss(err) {
			d.forget(key, p)
			return Info{}, notExist(key)
		}
		return Info{}, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, notExist(key)
	}
	d.touch(key, p, statOf(fi))
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
