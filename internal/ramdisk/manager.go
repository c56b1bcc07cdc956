// Package ramdisk keeps directories (Go's module and build caches) in RAM
// to spare an SD card: a tmpfs holds the upper and work directories of an
// overlay whose lower layer is the directory on disk, mounted over the
// directory itself. Nothing is copied at start; reads of old files come
// from disk, all writes go to RAM. Sync writes the changes back with
// atomic renames behind a journal, so that after a power cut the disk copy
// is the last complete sync, never a mix. A watch syncs early at a
// high-water mark and then reclaims RAM (when nothing has files open) or
// grows the tmpfs within a limit.
//
// Manager's zero value works on the live machine with the default paths.
package ramdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// Manager enables, syncs, watches and disables ramdisks.
type Manager struct {
	// Root is the machine (mountinfo, meminfo, /proc/filesystems); nil
	// means host.Live(). Mounting needs the live machine.
	Root *host.Root
	// RunDir holds the live mounts' private parts; "" means DefaultRunDir.
	RunDir string
	// ConfigFile is the persistent config; "" means DefaultConfigFile.
	ConfigFile string
	// Log receives what happens (syncs, high-water actions); nil discards.
	Log *slog.Logger
	// Out receives one human-readable line per change (Enable, Disable
	// and Start); nil discards.
	Out io.Writer
	// Euid returns the effective user ID; nil means os.Geteuid.
	Euid func() int

	// hook is passed to syncers (tests).
	hook func(phase string, n int)
}

func (m *Manager) root() *host.Root {
	if m.Root == nil {
		m.Root = host.Live()
	}
	return m.Root
}

func (m *Manager) runDir() string {
	if m.RunDir == "" {
		return DefaultRunDir
	}
	return m.RunDir
}

func (m *Manager) configFile() string {
	if m.ConfigFile == "" {
		return DefaultConfigFile
	}
	return m.ConfigFile
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return m.Log
}

func (m *Manager) printf(format string, args ...any) {
	if m.Out != nil {
		fmt.Fprintf(m.Out, format, args...)
	}
}

func (m *Manager) needRoot(what string) error {
	euid := os.Geteuid
	if m.Euid != nil {
		euid = m.Euid
	}
	if euid() != 0 {
		return fmt.Errorf("pitstop ramdisk %s must run as root (it mounts filesystems and writes under /etc and /run): try sudo", what)
	}
	return nil
}

var errNoOverlay = errors.New("this kernel has no overlay filesystem (not in /proc/filesystems, no overlay module): pitstop ramdisk needs CONFIG_OVERLAY_FS")

// liveState is <run>/<id>/state.json.
type liveState struct {
	Dir         string      `json:"dir"`
	BaseSize    uint64      `json:"base_size"`
	Size        uint64      `json:"size"`
	MaxSize     uint64      `json:"max_size"`
	SkipSync    bool        `json:"skip_sync,omitempty"`
	MountedAt   time.Time   `json:"mounted_at"`
	LastAttempt *SyncRecord `json:"last_attempt,omitempty"`
	Reclaims    int         `json:"reclaims,omitempty"`
	Grows       int         `json:"grows,omitempty"`
	// Full is set when the tmpfs is above the high-water mark, busy and
	// at its maximum size: writes may fail with ENOSPC.
	Full string `json:"full,omitempty"`
	// SyncedAtPercent is the fill level at the last high-water sync.
	SyncedAtPercent int `json:"synced_at_percent,omitempty"`
}

func readState(l layout) (*liveState, error) {
	b, err := os.ReadFile(l.State)
	if err != nil {
		return nil, err
	}
	st := &liveState{}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %v", l.State, err)
	}
	return st, nil
}

func writeState(l layout, st *liveState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return atomicfile.WriteFile(l.State, append(b, '\n'), 0o644)
}

// lock takes the ramdisk's lock, waiting until ctx is done.
func (m *Manager) lock(ctx context.Context, l layout) (func(), error) {
	if err := os.MkdirAll(m.runDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.Lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another pitstop ramdisk command on %s: %w", l.Dir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *Manager) syncerFor(l layout, mounted bool) *syncer {
	s := &syncer{upper: l.Upper, disk: l.Disk, meta: l.Meta, log: m.log(), hook: m.hook}
	if !mounted {
		s.disk, s.meta = l.Dir, l.MetaDirect
	}
	return s
}

// cleanDir makes dir absolute, clean and free of symbolic links.
func cleanDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return filepath.Clean(abs), nil
}

// spare is how much RAM ramdisks may take: half of MemAvailable.
func (m *Manager) spare() (uint64, uint64, error) {
	mi, err := m.root().MemInfo()
	if err != nil {
		return 0, 0, fmt.Errorf("reading /proc/meminfo: %v", err)
	}
	avail, ok := mi["MemAvailable"]
	if !ok {
		return 0, 0, errors.New("/proc/meminfo has no MemAvailable")
	}
	return avail / 2, avail, nil
}

// check refuses, with one line, a path that cannot become a ramdisk.
// It returns alreadyOurs=true when dir is already a pitstop ramdisk.
func (m *Manager) check(ms []host.Mount, p Path, others []Path) (alreadyOurs bool, err error) {
	dir := p.Dir
	if dir == "/" || !filepath.IsAbs(dir) {
		return false, fmt.Errorf("%s: need an absolute directory other than /", dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && p.Create:
	case errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("%s does not exist: create it (mkdir -p %s) or leave it out", dir, dir)
	case err != nil:
		return false, err
	case !fi.IsDir():
		return false, fmt.Errorf("%s is not a directory", dir)
	}
	if strings.ContainsAny(filepath.Base(dir), ",:\\\n") {
		return false, fmt.Errorf("%s: a directory whose name has ',', ':' or '\\' cannot be an overlay layer; pick another", dir)
	}
	for _, mt := range ms {
		if mt.MountPoint == dir {
			if mt.FSType == "overlay" && mt.Source == OverlaySource {
				return true, nil
			}
			return false, fmt.Errorf("%s is already a mount point (%s from %s): pitstop ramdisk needs a plain directory; unmount it first or pick another", dir, mt.FSType, mt.Source)
		}
	}
	under, err := host.MountFor(ms, dir)
	if err == nil {
		switch under.FSType {
		case "tmpfs", "ramfs":
			return false, fmt.Errorf("%s is already in RAM (on %s mounted at %s): nothing to gain", dir, under.FSType, under.MountPoint)
		}
		if under.FSType == "overlay" && under.Source == OverlaySource {
			return false, fmt.Errorf("%s is inside the pitstop ramdisk %s already", dir, under.MountPoint)
		}
	}
	for _, in := range mountsIn(ms) {
		if strings.HasPrefix(in.Dir, dir+"/") {
			return false, fmt.Errorf("%s contains the pitstop ramdisk %s: disable that one first", dir, in.Dir)
		}
	}
	for _, o := range others {
		if o.Dir != dir && (strings.HasPrefix(o.Dir, dir+"/") || strings.HasPrefix(dir, o.Dir+"/")) {
			return false, fmt.Errorf("%s and %s are nested: keep only one of them in RAM", dir, o.Dir)
		}
	}
	return false, nil
}

func maxSize(p Path) uint64 {
	if p.MaxSize == 0 {
		return p.Size
	}
	return p.MaxSize
}

// mountPath recovers an interrupted sync on disk and mounts.
func (m *Manager) mountPath(ctx context.Context, l layout, p Path) error {
	unlock, err := m.lock(ctx, l)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.salvage(ctx, l); err != nil {
		return err
	}
	if err := m.syncerFor(l, false).recover(); err != nil {
		return err
	}
	if err := mountOne(l, p.Size); err != nil {
		return err
	}
	st := &liveState{Dir: p.Dir, BaseSize: p.Size, Size: p.Size, MaxSize: maxSize(p), SkipSync: p.SkipSync, MountedAt: time.Now().UTC()}
	if err := writeState(l, st); err != nil {
		if uerr := unmountOverlay(l); uerr == nil {
			unmountRest(l)
		}
		return err
	}
	m.log().Info("ramdisk mounted", "dir", p.Dir, "size", p.Size, "ram", l.RAM)
	return nil
}

// Start mounts every configured path that is not mounted yet (the boot
// unit runs it). Each path is tried; the errors are joined.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.needRoot("start"); err != nil {
		return err
	}
	cfg, err := LoadConfig(m.configFile())
	if err != nil {
		return err
	}
	if len(cfg.Paths) == 0 {
		m.printf("nothing configured in %s (pitstop ramdisk enable adds paths)\n", m.configFile())
		return nil
	}
	if !hasOverlay(m.root()) {
		return errNoOverlay
	}
	var errs []error
	for _, p := range cfg.Paths {
		ms, err := m.root().Mounts()
		if err != nil {
			return err
		}
		ours, err := m.check(ms, p, cfg.Paths)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ours {
			continue
		}
		l := newLayout(m.runDir(), p.Dir)
		if err := m.mountPath(ctx, l, p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Dir, err))
			continue
		}
		m.printf("mounted %s in RAM (%s)\n", p.Dir, units.HumanSize(p.Size))
	}
	return errors.Join(errs...)
}

// active returns the mounted ramdisks among dirs (all when dirs is
// empty); a named dir that is not one is an error.
func (m *Manager) active(dirs []string) ([]layout, error) {
	infos, err := Mounts(m.root())
	if err != nil {
		return nil, err
	}
	byDir := map[string]bool{}
	for _, in := range infos {
		byDir[in.Dir] = true
	}
	var out []layout
	if len(dirs) == 0 {
		for _, in := range infos {
			out = append(out, newLayout(m.runDir(), in.Dir))
		}
		return out, nil
	}
	for _, d := range dirs {
		cd, err := cleanDir(d)
		if err != nil {
			return nil, err
		}
		if !byDir[cd] {
			return nil, fmt.Errorf("%s is not a pitstop ramdisk (pitstop ramdisk status lists them)", d)
		}
		out = append(out, newLayout(m.runDir(), cd))
	}
	return out, nil
}

// Sync writes the changes of dirs (every active ramdisk when empty) back
// to disk. reason is recorded ("manual", "timer", ...).
func (m *Manager) Sync(ctx context.Context, dirs []string, reason string) ([]SyncRecord, error) {
	if err := m.needRoot("sync"); err != nil {
		return nil, err
	}
	ls, err := m.active(dirs)
	if err != nil {
		return nil, err
	}
	var recs []SyncRecord
	var errs []error
	for _, l := range ls {
		rec, err := m.syncLocked(ctx, l, reason)
		recs = append(recs, rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("syncing %s: %w", l.Dir, err))
		}
	}
	return recs, errors.Join(errs...)
}

func (m *Manager) syncLocked(ctx context.Context, l layout, reason string) (SyncRecord, error) {
	unlock, err := m.lock(ctx, l)
	if err != nil {
		return SyncRecord{}, err
	}
	defer unlock()
	return m.syncOne(ctx, l, reason)
}

// syncOne syncs one ramdisk; the caller holds its lock.
func (m *Manager) syncOne(ctx context.Context, l layout, reason string) (SyncRecord, error) {
	st, err := readState(l)
	if err != nil {
		return SyncRecord{}, err
	}
	if st.SkipSync {
		rec := SyncRecord{Dir: l.Dir, Start: time.Now().UTC(), Reason: reason, Result: "skipped (skip-sync)"}
		st.LastAttempt = &rec
		writeState(l, st)
		return rec, nil
	}
	rec, err := m.syncerFor(l, true).run(ctx, reason)
	rec.Dir = l.Dir
	if err != nil {
		rec.Result = err.Error()
		m.log().Error("ramdisk sync failed", "dir", l.Dir, "reason", reason, "err", err)
	} else {
		m.log().Info("ramdisk synced", "dir", l.Dir, "reason", reason, "gen", rec.Gen, "files", rec.Files, "bytes", rec.Bytes, "deletions", rec.Dels, "duration", rec.Duration.Round(time.Millisecond).String())
	}
	st.LastAttempt = &rec
	if werr := writeState(l, st); werr != nil && err == nil {
		err = werr
	}
	return rec, err
}

// mkdirLikeParent creates dir and its missing parents (mode 0755), owned
// by the owner of the nearest existing parent: under sudo, the cache
// directories Go would have made belong to the user, not to root. It
// returns the directories it made, outermost first.
func mkdirLikeParent(dir string) (made []string, err error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, nil
	}
	var missing []string
	p := dir
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	uid, gid := owner(fi)
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return made, err
		}
		made = append(made, missing[i])
		if err := os.Lchown(missing[i], uid, gid); err != nil {
			return made, err
		}
	}
	return made, nil
}

// salvage handles a ramdisk whose overlay is gone but whose tmpfs and bind
// mount are still there (a watch or disable killed half-way): the changes
// still in the tmpfs are synced to disk first, then the leftovers are
// unmounted, so that mounting again loses nothing.
func (m *Manager) salvage(ctx context.Context, l layout) error {
	if !isMountPoint(l.RAM) {
		if isMountPoint(l.DiskParent) {
			unix.Unmount(l.DiskParent, unix.MNT_DETACH)
		}
		return nil
	}
	if isMountPoint(l.DiskParent) {
		st, _ := readState(l)
		if st == nil || !st.SkipSync {
			s := m.syncerFor(l, true)
			if _, err := s.run(ctx, "salvage"); err != nil {
				return fmt.Errorf("%s: syncing the changes left in RAM by an interrupted run: %w", l.Dir, err)
			}
			m.log().Warn("ramdisk: synced changes left in RAM by an interrupted run", "dir", l.Dir)
		}
	}
	if err := unix.Unmount(l.RAM, 0); err != nil {
		return fmt.Errorf("unmounting the leftover %s: %w", l.RAM, err)
	}
	if isMountPoint(l.DiskParent) {
		if err := unix.Unmount(l.DiskParent, 0); err != nil {
			return fmt.Errorf("unmounting the leftover %s: %w", l.DiskParent, err)
		}
	}
	return os.RemoveAll(l.Run)
}
