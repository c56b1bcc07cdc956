package ramdisk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/units"
)

// Check looks at every active ramdisk once and acts on those past the
// high-water mark (the watch calls it on every tick):
//
//  1. sync early, so nothing in RAM is unsynced;
//  2. reclaim: unmount the overlay (this fails at once, changing nothing,
//     while any process has a file or working directory there), sync what
//     arrived since, empty the upper directory and mount again — the files
//     are now read from disk and the RAM is free;
//  3. if busy, grow the tmpfs by half, within the path's max-size and
//     what RAM can spare;
//  4. if it cannot grow, log an error and record it for status: new
//     writes will fail with ENOSPC (an error the writer sees, never a
//     silent loss), and everything written so far is on disk.
//
// A sync does not free RAM (the upper directory cannot be emptied while
// mounted), which is why 2 and 3 exist. For a skip-sync path, reclaim
// drops the changes held in RAM (the path was declared disposable).
func (m *Manager) Check(ctx context.Context) error {
	cfg, err := LoadConfig(m.configFile())
	if err != nil {
		return err
	}
	ls, err := m.active(nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if err := m.checkOne(ctx, l, cfg.highWater()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.Dir, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) checkOne(ctx context.Context, l layout, hw int) error {
	u, err := tmpfsUsage(l.RAM)
	if err != nil {
		return err
	}
	if u.Percent < hw {
		return m.clearFull(l)
	}
	unlock, err := m.lock(ctx, l)
	if err != nil {
		return err
	}
	defer unlock()
	if !Active(m.root(), l.Dir) {
		return nil // disabled while we waited for the lock
	}
	st, err := readState(l)
	if err != nil {
		return err
	}
	log := m.log().With("dir", l.Dir, "used", u.Used, "size", u.Size, "used_percent", u.Percent, "high_water", hw)
	// Once full (busy at max-size, everything synced), sync again only
	// when another tenth has filled; still try to reclaim on every tick.
	wasFull := st.Full != ""
	if !wasFull || u.Percent >= st.SyncedAtPercent+10 || u.Percent >= 100 {
		log.Warn("ramdisk above its high-water mark: syncing early")
		if _, err := m.syncOne(ctx, l, "high-water"); err != nil {
			return err
		}
		if st, err = readState(l); err != nil { // syncOne recorded the attempt
			return err
		}
		st.SyncedAtPercent = u.Percent
	}
	switch err := unmountOverlay(l); {
	case err == nil:
		if !st.SkipSync {
			if _, err := m.syncOne(ctx, l, "reclaim"); err != nil {
				mountOverlay(l)
				return fmt.Errorf("sync before reclaiming failed (mounted again, nothing lost): %w", err)
			}
			st, _ = readState(l)
		}
		if err := resetUpper(l, st.BaseSize); err != nil {
			mountOverlay(l)
			return fmt.Errorf("reclaiming: %w (mounted again)", err)
		}
		if err := mountOverlay(l); err != nil {
			return fmt.Errorf("reclaimed RAM but could not mount again (%s now shows the disk copy, which is complete): %w", l.Dir, err)
		}
		st.Size, st.Full, st.SyncedAtPercent = st.BaseSize, "", 0
		st.Reclaims++
		log.Info("ramdisk reclaimed: RAM emptied, files are read from disk again", "new_size", st.Size)
		return writeState(l, st)
	case errors.Is(err, errBusy):
		if wasFull && st.Size >= st.MaxSize {
			return writeState(l, st) // still full: said so already
		}
	default:
		return err
	}
	spare, _, err := m.spare()
	if err != nil {
		return err
	}
	grown := st.Size + st.Size/2
	if grown > st.MaxSize {
		grown = st.MaxSize
	}
	if grown > st.Size+spare {
		grown = st.Size + spare
	}
	pageAlign := uint64(1 << 20)
	grown = grown / pageAlign * pageAlign
	if grown > st.Size {
		if err := resizeTmpfs(l, grown); err != nil {
			return err
		}
		log.Warn("ramdisk busy, so RAM cannot be reclaimed now: grew the tmpfs", "from", st.Size, "to", grown, "max", st.MaxSize)
		st.Size, st.Full = grown, ""
		st.Grows++
		return writeState(l, st)
	}
	st.Full = fmt.Sprintf("at %d%% of its maximum %s and busy since %s: new writes may fail with \"no space left on device\"; everything written so far is synced",
		u.Percent, units.HumanSize(st.Size), time.Now().UTC().Format(time.RFC3339))
	log.Error("ramdisk full: " + st.Full + "; raise max-size in " + m.configFile() + " or stop the processes using it so RAM can be reclaimed")
	return writeState(l, st)
}

// clearFull forgets a "full" condition once use is below the mark again.
func (m *Manager) clearFull(l layout) error {
	st, err := readState(l)
	if err != nil || st.Full == "" {
		return nil
	}
	st.Full, st.SyncedAtPercent = "", 0
	return writeState(l, st)
}

// Watch runs Check every interval until ctx is done (SIGTERM). Errors are
// logged and the watch goes on.
func (m *Manager) Watch(ctx context.Context, interval time.Duration) error {
	if err := m.needRoot("watch"); err != nil {
		return err
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	unlock, err := m.watchLock()
	if err != nil {
		return err
	}
	defer unlock()
	m.log().Info("ramdisk watch started", "interval", interval.String())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := m.Check(ctx); err != nil && ctx.Err() == nil {
			m.log().Error("ramdisk watch", "err", err)
		}
		select {
		case <-ctx.Done():
			m.log().Info("ramdisk watch stopped")
			return nil
		case <-t.C:
		}
	}
}

// watchLockFile is held by the running watch for its life: status tells
// by it whether anything syncs early at the high-water mark.
func (m *Manager) watchLockFile() string { return filepath.Join(m.runDir(), "watch.lock") }

// watchLock takes the watch's lock; a second watch is refused.
func (m *Manager) watchLock() (func(), error) {
	if err := os.MkdirAll(m.runDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(m.watchLockFile(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another ramdisk watch is running (it holds %s)", m.watchLockFile())
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// Watch states Status reports.
const (
	WatchRunning    = "running"
	WatchNotRunning = "not running"
)

// watchState says whether a watch holds its lock: WatchRunning,
// WatchNotRunning, or "" when this user cannot tell.
func (m *Manager) watchState() string {
	f, err := os.Open(m.watchLockFile())
	if errors.Is(err, fs.ErrNotExist) {
		return WatchNotRunning
	}
	if err != nil {
		return ""
	}
	defer f.Close()
	switch err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		return WatchNotRunning
	case errors.Is(err, unix.EWOULDBLOCK):
		return WatchRunning
	}
	return ""
}
