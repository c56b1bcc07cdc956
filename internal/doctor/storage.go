package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// Probe names of the storage section: statfs:<path> and fsync:<path>
// record a StatFS and an FsyncLatency, cwd the working directory.
const (
	ProbeCwd    = "cwd"
	probeStatfs = "statfs:"
	probeFsync  = "fsync:"
)

// StatFS is the free space of the filesystem holding Dir (the nearest
// existing directory of the path asked about).
type StatFS struct {
	Dir   string `json:"dir"`
	Free  uint64 `json:"free"`  // bytes available to unprivileged users
	Total uint64 `json:"total"` // bytes
}

// FsyncLatency is the outcome of writing and fsyncing a 4 KiB temporary
// file a few times in Dir.
type FsyncLatency struct {
	Dir      string  `json:"dir"`
	N        int     `json:"n"`
	MedianMS float64 `json:"median_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// fsyncBudget bounds the fsync probe (it stops early when over budget).
const fsyncBudget = 300 * time.Millisecond

// SlowFsync is the median fsync latency above which a cache's storage is
// reported slow.
const SlowFsync = 100 * time.Millisecond

func storageChecks() []Check {
	return []Check{
		{ID: "storage.gomodcache", Section: "storage", Title: "Module cache (GOMODCACHE): device, free space, fsync", Run: storageCheck("GOMODCACHE")},
		{ID: "storage.gocache", Section: "storage", Title: "Build cache (GOCACHE): device, free space, fsync", Run: storageCheck("GOCACHE")},
		{ID: "storage.gotmpdir", Section: "storage", Title: "Build temporary directory (GOTMPDIR): device, free space, fsync", Run: storageCheck("GOTMPDIR")},
		{ID: "storage.cwd", Section: "storage", Title: "Current directory: device, free space, fsync", Run: storageCheck("cwd")},
	}
}

// existingDir returns p or its nearest existing ancestor directory.
func existingDir(p string) string {
	for {
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func probeStatFS(env *Env, p string) (StatFS, error) {
	return Probe(env, probeStatfs+p, func() (StatFS, error) {
		dir := existingDir(p)
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil {
			return StatFS{}, err
		}
		return StatFS{Dir: dir, Free: uint64(st.Bavail) * uint64(st.Bsize), Total: uint64(st.Blocks) * uint64(st.Bsize)}, nil
	})
}

func probeFsyncLatency(ctx context.Context, env *Env, p string) (FsyncLatency, error) {
	return Probe(env, probeFsync+p, func() (FsyncLatency, error) {
		return measureFsync(ctx, existingDir(p))
	})
}

// measureFsync writes and fsyncs a 4 KiB temporary file in dir up to 5
// times, stopping once fsyncBudget is spent or ctx is done, and removes it.
func measureFsync(ctx context.Context, dir string) (FsyncLatency, error) {
	f, err := os.CreateTemp(dir, ".pitstop-fsync-*")
	if err != nil {
		return FsyncLatency{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	start := time.Now()
	for i := 0; i < 5 && ctx.Err() == nil && (i == 0 || time.Since(start) < fsyncBudget); i++ {
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, 0); err != nil {
			return FsyncLatency{}, err
		}
		t := time.Now()
		if err := f.Sync(); err != nil {
			return FsyncLatency{}, err
		}
		lat = append(lat, time.Since(t))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return FsyncLatency{Dir: dir, N: len(lat), MedianMS: ms(lat[len(lat)/2]), MaxMS: ms(lat[len(lat)-1])}, nil
}

// storagePath returns the path a storage check is about.
func storagePath(env *Env, what string) (string, string, error) {
	switch what {
	case "cwd":
		p, err := Probe(env, ProbeCwd, os.Getwd)
		return p, "current directory", err
	case "GOTMPDIR":
		if p := env.Go.Get("GOTMPDIR"); p != "" {
			return p, "GOTMPDIR", nil
		}
		if p := env.Getenv("TMPDIR"); p != "" {
			return p, "GOTMPDIR (unset: $TMPDIR)", nil
		}
		return "/tmp", "GOTMPDIR (unset: /tmp)", nil
	}
	p := env.Go.Get(what)
	if p == "" {
		return "", what, fmt.Errorf("%s is not set (go env %s prints nothing)", what, what)
	}
	return p, what, nil
}

func storageCheck(what string) func(context.Context, *Env) Result {
	cache := what == "GOMODCACHE" || what == "GOCACHE"
	return func(ctx context.Context, env *Env) Result {
		p, label, err := storagePath(env, what)
		if err != nil {
			if errors.Is(err, ErrNoLiveHost) {
				return probeSkip(err)
			}
			return Result{Status: Skip, Finding: err.Error()}
		}
		if what == "GOCACHE" && p == "off" {
			return Result{Status: Skip, Finding: "GOCACHE=off: no build cache"}
		}
		if !filepath.IsAbs(p) {
			return Result{Status: Warn, Finding: fmt.Sprintf("%s %q is not an absolute path", label, p),
				Fix: fmt.Sprintf("go env -w %s=$HOME/...", what)}
		}
		s, err := env.Root.StorageOf(p)
		if err != nil {
			return Result{Status: Skip, Finding: fmt.Sprintf("%s %s: cannot tell the device: %s", label, p, env.errText(err))}
		}
		r := Result{Status: OK}
		inRAM := s.Class == host.Overlay && s.Overlay.UpperOnTmpfs()
		switch {
		case inRAM && env.RamdiskActive != nil && env.RamdiskActive(env.Root, p):
			r.Finding = fmt.Sprintf("%s %s is in RAM: pitstop ramdisk is active (upper layer %s on tmpfs)", label, p, s.Overlay.Upper)
		case inRAM:
			r.Finding = fmt.Sprintf("%s %s is in RAM: an overlay with its upper layer %s on tmpfs", label, p, s.Overlay.Upper)
		default:
			r.Finding = fmt.Sprintf("%s %s is on %s", label, p, describeStorage(s))
		}
		r.Details = append(r.Details, fmt.Sprintf("mount %s (%s, source %s, options %s)", s.Mount.MountPoint, s.Mount.FSType, s.Mount.Source, s.Mount.Options))
		if s.SysPath != "" {
			r.Details = append(r.Details, "device "+s.SysPath)
		}
		if inRAM && len(s.Overlay.Lower) > 0 {
			r.Details = append(r.Details, "on-disk layer "+s.Overlay.Lower[0])
		}
		if st, err := probeStatFS(env, p); err == nil {
			r.Finding += fmt.Sprintf(", %s free", units.HumanSize(st.Free))
			r.Details = append(r.Details, fmt.Sprintf("%s of %s free at %s", units.HumanSize(st.Free), units.HumanSize(st.Total), st.Dir))
			if st.Total > 0 && st.Free < min(1<<30, st.Total/10) {
				r.Status = Warn
				r.Finding += " (nearly full)"
				switch what {
				case "GOCACHE":
					r.Fix = "go clean -cache"
				case "GOMODCACHE":
					r.Fix = "go clean -modcache (modules are downloaded again when needed)"
				default:
					r.Fix = "free space on " + s.Mount.MountPoint
				}
			}
		} else if !unrecorded(err) {
			r.Details = append(r.Details, "free space unknown: "+err.Error())
		}
		if l, err := probeFsyncLatency(ctx, env, p); err == nil {
			r.Finding += fmt.Sprintf(", fsync %.1f ms", l.MedianMS)
			r.Details = append(r.Details, fmt.Sprintf("fsync of 4 KiB in %s: median %.1f ms, max %.1f ms over %d", l.Dir, l.MedianMS, l.MaxMS, l.N))
			if cache && time.Duration(l.MedianMS*float64(time.Millisecond)) > SlowFsync && r.Status == OK {
				r.Status = Warn
				r.Finding += " (slow)"
				r.Fix = ramdiskFix
			}
		} else if !unrecorded(err) {
			r.Details = append(r.Details, "fsync probe: "+err.Error())
		}
		switch {
		case s.Class == host.MicroSD && cache:
			r.Status = Warn
			r.Finding += "; the cache's many small writes wear the card out and are slow"
			r.Fix = ramdiskFix
		case s.Class == host.MicroSD && what == "GOTMPDIR":
			r.Status = Warn
			r.Finding += "; every build writes its temporary files to the card"
			if label == "GOTMPDIR" {
				r.Fix = "go env -u GOTMPDIR, and put /tmp on tmpfs: sudo cp /usr/share/systemd/tmp.mount /etc/systemd/system/ && sudo systemctl enable --now tmp.mount"
			} else {
				r.Fix = "put /tmp on tmpfs: sudo cp /usr/share/systemd/tmp.mount /etc/systemd/system/ && sudo systemctl enable --now tmp.mount"
			}
		}
		return r
	}
}

func describeStorage(s host.Storage) string {
	switch s.Class {
	case host.Tmpfs:
		return "tmpfs (RAM)"
	case host.Overlay:
		return "overlay"
	case host.Network:
		return fmt.Sprintf("a network filesystem (%s %s)", s.Mount.FSType, s.Mount.Source)
	}
	if s.Disk != "" {
		kind := string(s.Class)
		if s.Class == host.Other {
			kind = "disk"
		}
		return fmt.Sprintf("%s %s (%s)", kind, s.Disk, s.Mount.FSType)
	}
	return fmt.Sprintf("%s (%s)", s.Class, s.Mount.FSType)
}

// ramdiskFix puts the Go caches in RAM now and at every boot (enable
// alone lasts until the next reboot).
const ramdiskFix = "sudo pitstop ramdisk enable && sudo pitstop ramdisk install-service"
