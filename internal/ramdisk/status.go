package ramdisk

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Status is one ramdisk's state, for `pitstop ramdisk status`.
type Status struct {
	Dir        string `json:"dir"`
	Configured bool   `json:"configured"` // in the config file (the boot unit mounts it)
	Active     bool   `json:"active"`     // mounted now
	SkipSync   bool   `json:"skip_sync,omitempty"`
	// Size and Used are the tmpfs's, in bytes; UsedPercent is the larger
	// of the bytes and inodes used.
	Size        uint64 `json:"size"`
	MaxSize     uint64 `json:"max_size"`
	Used        uint64 `json:"used"`
	UsedPercent int    `json:"used_percent"`
	HighWater   int    `json:"high_water"`
	// Unsynced is what a sync would write now.
	Unsynced *Pending `json:"unsynced,omitempty"`
	// LastSync is the last attempt (also a failed one) since mounting;
	// LastComplete the last complete sync, read from the disk.
	LastSync     *SyncRecord `json:"last_sync,omitempty"`
	LastComplete *SyncRecord `json:"last_complete,omitempty"`
	// Interrupted is true when a sync was cut short (a crash): the next
	// start or sync finishes it (journal committed) or drops it.
	Interrupted bool       `json:"interrupted,omitempty"`
	MountedAt   *time.Time `json:"mounted_at,omitempty"`
	Reclaims    int        `json:"reclaims,omitempty"`
	Grows       int        `json:"grows,omitempty"`
	Full        string     `json:"full,omitempty"`
	// Partial is true when use and unsynced figures could not be read
	// (not root: the run directory is root's alone).
	Partial bool   `json:"partial,omitempty"`
	Error   string `json:"error,omitempty"`
	// Watch is WatchRunning when a watch (which syncs early at the
	// high-water mark, reclaims and grows) runs, WatchNotRunning when
	// none does, "" when this user cannot tell.
	Watch string `json:"watch,omitempty"`
	// Boot says whether it is mounted at boot: "yes", or "no" and why.
	// Status leaves it empty; the caller that knows the service manager's
	// units fills it in.
	Boot string `json:"boot,omitempty"`
}

// Status reports every configured or mounted ramdisk. It works without
// root, less precisely (the overlay's opaque markers are root-only).
func (m *Manager) Status(ctx context.Context) ([]Status, error) {
	cfg, err := LoadConfig(m.configFile())
	if err != nil {
		return nil, err
	}
	infos, err := Mounts(m.root())
	if err != nil {
		return nil, err
	}
	var out []Status
	seen := map[string]int{}
	add := func(dir string) *Status {
		if i, ok := seen[dir]; ok {
			return &out[i]
		}
		seen[dir] = len(out)
		out = append(out, Status{Dir: dir, HighWater: cfg.highWater()})
		return &out[len(out)-1]
	}
	for _, p := range cfg.Paths {
		s := add(p.Dir)
		s.Configured, s.Size, s.MaxSize, s.SkipSync = true, p.Size, maxSize(p), p.SkipSync
	}
	for _, in := range infos {
		s := add(in.Dir)
		s.Active = true
		l := newLayout(m.runDir(), in.Dir)
		if in.Size != 0 {
			s.Size = in.Size
		}
		if u, err := tmpfsUsage(l.RAM); err == nil {
			s.Size, s.Used, s.UsedPercent = u.Size, u.Used, u.Percent
		} else if errors.Is(err, fs.ErrPermission) {
			s.Partial = true
			continue
		} else {
			s.Error = err.Error()
		}
		if st, err := readState(l); err == nil {
			s.MaxSize, s.SkipSync, s.LastSync = st.MaxSize, st.SkipSync, st.LastAttempt
			t := st.MountedAt
			s.MountedAt = &t
			s.Reclaims, s.Grows, s.Full = st.Reclaims, st.Grows, st.Full
		}
		if p, err := m.syncerFor(l, true).pending(ctx); err == nil {
			s.Unsynced = &p
		} else if s.Error == "" {
			s.Error = err.Error()
		}
	}
	watch := m.watchState()
	for i := range out {
		s := &out[i]
		s.Watch = watch
		l := newLayout(m.runDir(), s.Dir)
		// Beside the directory, not under the overlay: the same
		// directory as l.Meta, and readable without root.
		meta := l.MetaDirect
		if r, err := readSyncRecord(filepath.Join(meta, "last-sync.json")); err == nil {
			s.LastComplete = &r
		}
		if _, err := os.Lstat(filepath.Join(meta, "sync")); err == nil {
			s.Interrupted = !m.locked(l)
		} else if !errors.Is(err, fs.ErrNotExist) && s.Error == "" {
			s.Error = err.Error()
		}
	}
	return out, nil
}

// locked reports whether another process holds l's lock (a sync runs).
func (m *Manager) locked(l layout) bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unlock, err := m.lock(ctx, l)
	if err != nil {
		return true
	}
	unlock()
	return false
}
