package ramdisk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// errBusy is returned when the overlay cannot be unmounted because a
// process has a file or its working directory there.
var errBusy = errors.New("busy")

// mountOne builds the three mounts of a ramdisk (Start; an enable plan
// has a step for each). On failure it undoes what it did, so nothing is
// left mounted.
func mountOne(l layout, size uint64) error {
	if err := bindDisk(l); err != nil {
		return err
	}
	if err := mountTmpfs(l, size); err != nil {
		unbindDisk(l, unix.MNT_DETACH)
		return err
	}
	if err := mountOverlay(l); err != nil {
		unmountTmpfs(l, unix.MNT_DETACH)
		unbindDisk(l, unix.MNT_DETACH)
		return err
	}
	return nil
}

// bindDisk makes the run directory and keeps the disk copy reachable
// through a private bind mount of Dir's parent (private, so the overlay
// mounted on Dir next does not propagate into it). On failure it undoes
// what it did.
func bindDisk(l layout) (err error) {
	if _, err := os.Stat(l.Dir); err != nil {
		return err
	}
	if err := privateRunDir(filepath.Dir(l.Run)); err != nil {
		return err
	}
	// The run directory is root's alone: its bind mount shows the whole
	// parent directory.
	if err := os.Mkdir(l.Run, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(l.Run)
		}
	}()
	if err := os.Mkdir(l.DiskParent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := unix.Mount(filepath.Dir(l.Dir), l.DiskParent, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s: %w", filepath.Dir(l.Dir), err)
	}
	if err := unix.Mount("", l.DiskParent, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(l.DiskParent, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w", l.DiskParent, err)
	}
	return nil
}

// mountTmpfs mounts the tmpfs for the upper and work directories, exec
// allowed (test binaries and GOTMPDIR may live there), and makes them. On
// failure it unmounts it again.
func mountTmpfs(l layout, size uint64) (err error) {
	fi, err := os.Stat(l.Dir)
	if err != nil {
		return err
	}
	if err := os.Mkdir(l.RAM, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := unix.Mount(TmpfsSource, l.RAM, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.FormatUint(size, 10)+",mode=0755"); err != nil {
		return fmt.Errorf("mounting a tmpfs of %s at %s: %w", units.HumanSize(size), l.RAM, err)
	}
	defer func() {
		if err != nil {
			unix.Unmount(l.RAM, unix.MNT_DETACH)
		}
	}()
	if err := unix.Mount("", l.RAM, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making %s private: %w", l.RAM, err)
	}
	return makeUpper(l, fi)
}

// makeUpper creates empty upper and work directories; the upper root
// carries Dir's owner and mode, which the overlay shows for Dir.
func makeUpper(l layout, fi fs.FileInfo) error {
	for _, d := range []string{l.Upper, l.Work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(l.Upper, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(l.Upper, fs.FileMode(st.Mode&0o777)|modeBits(st.Mode)); err != nil {
		return err
	}
	return setMtime(l.Upper, mtimeNs(fi))
}

// mountOverlay mounts the overlay without the features that would put
// data or renames outside the upper directory (metacopy, redirect_dir) or
// tie it to inode numbers (index), so that the upper directory alone says
// what changed. Older kernels that do not know an option get fewer.
func mountOverlay(l layout) error {
	base := "lowerdir=" + l.Disk + ",upperdir=" + l.Upper + ",workdir=" + l.Work
	var err error
	for _, extra := range []string{",redirect_dir=off,index=off,metacopy=off", ",redirect_dir=off,index=off", ",redirect_dir=off", ""} {
		err = unix.Mount(OverlaySource, l.Dir, "overlay", 0, base+extra)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			break
		}
	}
	return fmt.Errorf("mounting the overlay on %s: %w", l.Dir, err)
}

// unmountOverlay unmounts the overlay at Dir; errBusy when in use.
func unmountOverlay(l layout) error {
	err := unix.Unmount(l.Dir, 0)
	if errors.Is(err, unix.EBUSY) {
		return errBusy
	}
	if err != nil {
		return fmt.Errorf("unmounting %s: %w", l.Dir, err)
	}
	return nil
}

// unmountRest unmounts the tmpfs and the bind mount and removes the run
// directory; the overlay must be gone.
func unmountRest(l layout) error {
	if err := unmountTmpfs(l, 0); err != nil {
		return err
	}
	return unbindDisk(l, 0)
}

// unmountTmpfs unmounts the tmpfs (flags: 0 or unix.MNT_DETACH); what it
// held is gone.
func unmountTmpfs(l layout, flags int) error {
	if err := unix.Unmount(l.RAM, flags); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting %s: %w", l.RAM, err)
	}
	return nil
}

// unbindDisk unmounts the bind mount and removes the run directory; when
// it was the last ramdisk, the run directory's own private bind mount
// goes too.
func unbindDisk(l layout, flags int) error {
	if err := unix.Unmount(l.DiskParent, flags); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting %s: %w", l.DiskParent, err)
	}
	if err := os.RemoveAll(l.Run); err != nil {
		return err
	}
	runDir := filepath.Dir(l.Run)
	ents, err := os.ReadDir(runDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			return nil
		}
	}
	if isMountPoint(runDir) {
		unix.Unmount(runDir, unix.MNT_DETACH)
	}
	return nil
}

// resetUpper empties the upper and work directories of an unmounted
// overlay and gives the tmpfs size back.
func resetUpper(l layout, size uint64) error {
	fi, err := os.Stat(l.Disk)
	if err != nil {
		return err
	}
	for _, d := range []string{l.Upper, l.Work} {
		if err := removeAll(d); err != nil {
			return err
		}
	}
	if err := resizeTmpfs(l, size); err != nil {
		return err
	}
	return makeUpper(l, fi)
}

func resizeTmpfs(l layout, size uint64) error {
	if err := unix.Mount("", l.RAM, "", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, "size="+strconv.FormatUint(size, 10)); err != nil {
		return fmt.Errorf("resizing the tmpfs at %s to %s: %w", l.RAM, units.HumanSize(size), err)
	}
	return nil
}

// usage reads the tmpfs's size and use, in bytes and inodes.
type usage struct {
	Size, Used    uint64
	Inodes, IUsed uint64
	Percent       int // the larger of bytes and inodes used, in percent
}

func tmpfsUsage(dir string) (usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return usage{}, err
	}
	bs := uint64(st.Bsize)
	u := usage{Size: st.Blocks * bs, Used: (st.Blocks - st.Bfree) * bs, Inodes: st.Files, IUsed: st.Files - st.Ffree}
	if u.Size > 0 {
		u.Percent = int(u.Used * 100 / u.Size)
	}
	if u.Inodes > 0 {
		if p := int(u.IUsed * 100 / u.Inodes); p > u.Percent {
			u.Percent = p
		}
	}
	return u, nil
}

// hasOverlay reports whether the kernel offers overlayfs: listed in
// /proc/filesystems, or available as a module it will load on first use.
func hasOverlay(r *host.Root) bool {
	if b, err := r.ReadFile("/proc/filesystems"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
				return true
			}
		}
	}
	rel, err := r.ReadString("/proc/sys/kernel/osrelease")
	if err != nil {
		return false
	}
	m, _ := r.Glob("/lib/modules/" + rel + "/kernel/fs/overlayfs/overlay.ko*")
	return len(m) > 0
}

// privateRunDir makes dir a private mount point (a bind mount of itself),
// so that the mounts made in it do not propagate into other mount
// namespaces, as they would under a shared /run.
func privateRunDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if isMountPoint(dir) {
		return unix.Mount("", dir, "", unix.MS_PRIVATE, "")
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s on itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making %s private: %w", dir, err)
	}
	return nil
}

func isMountPoint(dir string) bool {
	ms, err := host.Live().Mounts()
	if err != nil {
		return false
	}
	for _, m := range ms {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}
