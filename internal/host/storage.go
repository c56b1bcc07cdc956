package host

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// DeviceClass is the kind of storage behind a path.
type DeviceClass string

// The device classes. Other covers disks that are none of the named kinds
// (SATA, virtio, loop, zram, ...); the Storage's Disk says which.
const (
	MicroSD DeviceClass = "microSD"
	EMMC    DeviceClass = "eMMC"
	USB     DeviceClass = "USB"
	NVMe    DeviceClass = "NVMe"
	Tmpfs   DeviceClass = "tmpfs"
	Overlay DeviceClass = "overlay"
	Network DeviceClass = "network"
	Other   DeviceClass = "other"
)

// Storage describes what holds a path.
type Storage struct {
	Path  string
	Mount Mount
	Class DeviceClass
	// Disk is the whole disk's kernel name (mmcblk0 for mmcblk0p2), "" for
	// filesystems without a block device.
	Disk string
	// SysPath is the disk's resolved sysfs path (/sys/devices/.../block/mmcblk0).
	SysPath string
	// Overlay is set when Class is Overlay.
	Overlay *OverlayInfo
}

// OverlayInfo describes an overlay mount: its layers and where the upper
// (writable) layer lives. An overlay whose upper dir is on tmpfs keeps
// writes in RAM (pitstop ramdisk).
type OverlayInfo struct {
	Lower      []string
	Upper      string
	Work       string
	UpperClass DeviceClass // "" when the upper dir's mount is unknown
}

// UpperOnTmpfs reports whether the overlay's writes go to RAM.
func (o *OverlayInfo) UpperOnTmpfs() bool { return o != nil && o.UpperClass == Tmpfs }

// MountOptions parses a comma-separated option string into key=value pairs
// (flags map to "").
func MountOptions(opts string) map[string]string {
	out := map[string]string{}
	for _, o := range strings.Split(opts, ",") {
		if o == "" {
			continue
		}
		k, v, _ := strings.Cut(o, "=")
		out[k] = v
	}
	return out
}

// FSClass classifies a filesystem type that has no block device of its
// own; ok is false for block-backed types.
func FSClass(fstype string) (DeviceClass, bool) {
	switch {
	case fstype == "tmpfs" || fstype == "ramfs":
		return Tmpfs, true
	case fstype == "overlay" || fstype == "overlayfs" || fstype == "fuse.fuse-overlayfs":
		return Overlay, true
	case strings.HasPrefix(fstype, "nfs"), fstype == "cifs", strings.HasPrefix(fstype, "smb"),
		fstype == "ceph", fstype == "afs", fstype == "9p", fstype == "virtiofs",
		fstype == "fuse.sshfs", fstype == "fuse.glusterfs", fstype == "glusterfs", fstype == "fuse.rclone":
		return Network, true
	}
	return "", false
}

// ClassifyDisk names the kind of a whole disk from its kernel name, its
// resolved sysfs path and, for MMC devices, device/type ("SD" or "MMC").
func ClassifyDisk(disk, sysPath, mmcType string) DeviceClass {
	switch {
	case strings.HasPrefix(disk, "mmcblk") || strings.Contains(sysPath, "/mmc_host/"):
		if strings.TrimSpace(mmcType) == "MMC" {
			return EMMC
		}
		return MicroSD
	case strings.HasPrefix(disk, "nvme") || strings.Contains(sysPath, "/nvme/"):
		return NVMe
	case strings.Contains(sysPath, "/usb"):
		return USB
	}
	return Other
}

// DiskFromSysPath returns the whole disk's name and sysfs directory from a
// resolved block device path: /sys/devices/.../block/mmcblk0/mmcblk0p2 gives
// mmcblk0 and /sys/devices/.../block/mmcblk0. A partition sits in its
// disk's directory and its name extends the disk's (NVMe devices have no
// "block" directory: .../nvme/nvme0/nvme0n1/nvme0n1p2).
func DiskFromSysPath(p string) (disk, dir string, ok bool) {
	p = path.Clean("/" + p)
	if !strings.HasPrefix(p, "/sys/") {
		return "", "", false
	}
	last, parent := path.Base(p), path.Base(path.Dir(p))
	if parent != last && parent != "block" && strings.HasPrefix(last, parent) {
		return parent, path.Dir(p), true
	}
	if parent == "block" || strings.Contains(p, "/block/") || strings.Contains(p, "/nvme/") {
		return last, p, true
	}
	return "", "", false
}

// resolveLink resolves the symbolic link at p (one level) to an absolute,
// clean path.
func (r *Root) resolveLink(p string) (string, error) {
	t, err := r.Readlink(p)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(t) {
		t = path.Join(path.Dir(p), t)
	}
	return path.Clean(t), nil
}

// BlockSysPath finds the sysfs path of the block device behind mount m:
// /sys/dev/block/MAJ:MIN first (it names partitions too, and works for
// /dev/root), then /sys/class/block/<source name>.
func (r *Root) BlockSysPath(m Mount) (string, error) {
	var firstErr error
	if m.Major != 0 {
		p, err := r.resolveLink("/sys/dev/block/" + strconv.Itoa(m.Major) + ":" + strconv.Itoa(m.Minor))
		if err == nil {
			return p, nil
		}
		firstErr = err
	}
	if strings.HasPrefix(m.Source, "/dev/") {
		name := path.Base(m.Source)
		p, err := r.resolveLink("/sys/class/block/" + name)
		if err == nil {
			return p, nil
		}
		if p, err = r.resolveLink("/sys/block/" + name); err == nil {
			return p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s (%s) has no block device", m.MountPoint, m.Source)
	}
	return "", firstErr
}

// StorageOf tells what kind of device holds the absolute path p, from
// mountinfo and /sys/block. A path that does not exist yet is judged by the
// mount that would hold it.
func (r *Root) StorageOf(p string) (Storage, error) {
	ms, err := r.Mounts()
	if err != nil {
		return Storage{}, err
	}
	m, err := r.MountOf(p)
	if err != nil {
		return Storage{}, err
	}
	return r.classify(ms, p, m, 0)
}

func (r *Root) classify(ms []Mount, p string, m Mount, depth int) (Storage, error) {
	s := Storage{Path: p, Mount: m, Class: Other}
	if c, ok := FSClass(m.FSType); ok {
		s.Class = c
		if c == Overlay {
			opts := MountOptions(m.SuperOptions)
			o := &OverlayInfo{Upper: opts["upperdir"], Work: opts["workdir"]}
			if l := opts["lowerdir"]; l != "" {
				o.Lower = strings.Split(l, ":")
			}
			if o.Upper != "" && depth < 4 {
				if um, err := MountFor(ms, o.Upper); err == nil {
					if us, err := r.classify(ms, o.Upper, um, depth+1); err == nil {
						o.UpperClass = us.Class
					}
				}
			}
			s.Overlay = o
		}
		return s, nil
	}
	sys, err := r.BlockSysPath(m)
	if err != nil {
		// A block filesystem whose device sysfs does not show (a
		// container, a capture without /sys): other, not an error.
		return s, nil
	}
	disk, dir, ok := DiskFromSysPath(sys)
	if !ok {
		return s, nil
	}
	s.Disk, s.SysPath = disk, dir
	var mmcType string
	if strings.HasPrefix(disk, "mmcblk") {
		mmcType, _ = r.ReadString("/sys/block/" + disk + "/device/type")
	}
	s.Class = ClassifyDisk(disk, dir, mmcType)
	return s, nil
}
