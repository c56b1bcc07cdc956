package ramdisk

import (
	"path/filepath"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// Info is an active pitstop ramdisk as /proc/self/mountinfo shows it, so
// that it can be read from a capture as well as from the live machine.
type Info struct {
	// Dir is the directory kept in RAM (the overlay's mount point).
	Dir string `json:"dir"`
	// Upper is the overlay's upper directory (the changes held in RAM).
	Upper string `json:"upper"`
	// Lower is the overlay's lower directory (the on-disk copy).
	Lower string `json:"lower"`
	// RAM is the tmpfs's mount point.
	RAM string `json:"ram"`
	// Size is the tmpfs's size in bytes; 0 when mountinfo does not say.
	Size uint64 `json:"size"`
}

// Mounts lists the active pitstop ramdisks: overlays whose source is
// OverlaySource, with the size of the tmpfs that holds their upper
// directory.
func Mounts(r *host.Root) ([]Info, error) {
	ms, err := r.Mounts()
	if err != nil {
		return nil, err
	}
	return mountsIn(ms), nil
}

func mountsIn(ms []host.Mount) []Info {
	var out []Info
	for _, m := range ms {
		if m.FSType != "overlay" || m.Source != OverlaySource {
			continue
		}
		in := Info{Dir: m.MountPoint}
		for _, o := range strings.Split(m.SuperOptions, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "upperdir":
				in.Upper = v
			case "lowerdir":
				in.Lower = v
			}
		}
		if in.Upper != "" {
			in.RAM = filepath.Dir(in.Upper)
			for _, t := range ms {
				if t.MountPoint == in.RAM && t.FSType == "tmpfs" {
					in.Size = tmpfsSizeOption(t.SuperOptions)
				}
			}
		}
		// A later mount on the same point hides an earlier one.
		replaced := false
		for i := range out {
			if out[i].Dir == in.Dir {
				out[i], replaced = in, true
			}
		}
		if !replaced {
			out = append(out, in)
		}
	}
	return out
}

// tmpfsSizeOption reads "size=524288k" from tmpfs's superblock options.
func tmpfsSizeOption(opts string) uint64 {
	for _, o := range strings.Split(opts, ",") {
		if v, ok := strings.CutPrefix(o, "size="); ok {
			n, err := units.ParseSize(v)
			if err != nil {
				return 0
			}
			return uint64(n)
		}
	}
	return 0
}

// Lookup returns the active pitstop ramdisk that holds path (path itself
// or a directory below it), as the innermost mount of path shows it.
func Lookup(r *host.Root, path string) (Info, bool) {
	ms, err := r.Mounts()
	if err != nil {
		return Info{}, false
	}
	if r.IsLive() {
		if p, err := filepath.EvalSymlinks(path); err == nil {
			path = p
		}
	}
	m, err := host.MountFor(ms, path)
	if err != nil || m.FSType != "overlay" || m.Source != OverlaySource {
		return Info{}, false
	}
	for _, in := range mountsIn(ms) {
		if in.Dir == m.MountPoint {
			return in, true
		}
	}
	return Info{}, false
}

// Active reports whether path is kept in RAM by pitstop ramdisk.
func Active(r *host.Root, path string) bool {
	_, ok := Lookup(r, path)
	return ok
}
