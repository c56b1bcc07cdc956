package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
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
	p, err := d.path(key)
	if err != nil {
		return Object{}, err
	}
	var fd int
	for {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		if isMiss(err) || errors.Is(err, syscall.ELOOP) {
			d.forget(key, p)
			return Object{}, notExist(key)
		}
		return Object{}, fmt.Errorf("store: open %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	return d.opened(key, p, f)
}

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
	d.touch(key, p, fi)
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
