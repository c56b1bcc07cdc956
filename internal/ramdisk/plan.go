package ramdisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/plan"
	"github.com/pitstop-go/pitstop/internal/units"
)

// SettingError is a value the machine refuses. Setting is the setting's
// name as the config file spells it ("size"); the message ends in advice
// that names it, which a CLI can give with its own name for the setting
// (a flag) through Named.
type SettingError struct {
	Setting string
	// Err says what is wrong; Advice is what to do, a phrase that the
	// setting's name completes ("pick a smaller").
	Err    error
	Advice string
}

func (e *SettingError) Error() string { return e.Named(e.Setting) }

// Named is the message with name in the setting's place.
func (e *SettingError) Named(name string) string {
	return fmt.Sprintf("%v; %s %s", e.Err, e.Advice, name)
}

func (e *SettingError) Unwrap() error { return e.Err }

// ErrCaptured is what applying a plan made for a captured machine
// returns: it can be printed, not carried out.
var ErrCaptured = errors.New("the plan was made for a captured machine, not this one: it can only be printed")

// Enable puts paths in RAM and records them in the config: it applies
// PlanEnable's plan, writing a line per step to Out.
func (m *Manager) Enable(ctx context.Context, paths []Path, highWater int) error {
	if err := m.needRoot("enable"); err != nil {
		return err
	}
	p, err := m.PlanEnable(ctx, paths, highWater)
	if err != nil {
		return err
	}
	return p.Apply(ctx, m.Out)
}

// PlanEnable checks paths and returns the plan that puts them in RAM and
// records them in the config, so that the boot unit mounts them again;
// highWater > 0 sets the config's high-water mark. Every path is checked
// before the plan is made, and nothing changes until it is applied; if a
// step fails, Apply unmounts what the plan had mounted. Making the plan
// only reads, so it needs no root; applying it does.
func (m *Manager) PlanEnable(ctx context.Context, paths []Path, highWater int) (*plan.Plan, error) {
	if !hasOverlay(m.root()) {
		return nil, errNoOverlay
	}
	if highWater != 0 && (highWater < 1 || highWater > 99) {
		return nil, fmt.Errorf("high-water %d%%: want 1 to 99", highWater)
	}
	cfg, raw, ms, err := m.snapshot()
	if err != nil {
		return nil, err
	}
	for i := range paths {
		d, err := cleanDir(paths[i].Dir)
		if err != nil {
			return nil, err
		}
		paths[i].Dir = d
	}
	var todo []Path
	var total uint64
	var notes, dirs []string
	for _, p := range paths {
		if p.Size == 0 {
			return nil, fmt.Errorf("%s: no size given", p.Dir)
		}
		if p.MaxSize != 0 && p.MaxSize < p.Size {
			return nil, fmt.Errorf("%s: max-size %s is smaller than size %s", p.Dir, units.FormatSize(int64(p.MaxSize)), units.FormatSize(int64(p.Size)))
		}
		ours, err := m.check(ms, p, paths)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, p.Dir)
		if ours {
			notes = append(notes, p.Dir+" is already in RAM (pitstop ramdisk status shows it)")
			continue
		}
		todo = append(todo, p)
		total += p.Size
	}
	spare, avail, err := m.spare()
	if err != nil {
		return nil, err
	}
	if total > spare {
		what := "a RAM disk of " + units.HumanSize(total)
		if len(todo) > 1 {
			what = fmt.Sprintf("%d RAM disks of %s in all", len(todo), units.HumanSize(total))
		}
		return nil, &SettingError{Setting: "size", Advice: "pick a smaller",
			Err: fmt.Errorf("%s is more than this machine can spare: %s of RAM is available and at most half of it (%s) may go to RAM disks", what, units.HumanSize(avail), units.HumanSize(spare))}
	}
	next := cfg.clone()
	for _, p := range todo {
		p.Create = false
		next.set(p)
	}
	if highWater != 0 {
		next.HighWater = highWater
	}
	pl := &plan.Plan{Title: "keep in RAM: " + strings.Join(dirs, ", "), Notes: notes}
	for _, p := range todo {
		l := newLayout(m.runDir(), p.Dir)
		if _, err := os.Stat(p.Dir); err != nil && p.Create {
			pl.Add(mkdirStep(p.Dir))
		}
		pl.Add(m.leftoverSteps(ms, l)...)
		pl.Add(m.mountSteps(l, p, next.highWater())...)
	}
	if s, ok := m.configStep(raw, next); ok {
		pl.Add(s)
	}
	m.onlyHere(pl)
	return pl, nil
}

// snapshot reads what a plan starts from: the config, its text (nil
// without a file) and the mounts.
func (m *Manager) snapshot() (*Config, []byte, []host.Mount, error) {
	cfg, raw, err := readConfig(m.configFile())
	if err != nil {
		return nil, nil, nil, err
	}
	ms, err := m.root().Mounts()
	return cfg, raw, ms, err
}

// mkdirStep creates dir like Go would (mkdirLikeParent); undo removes what
// it made.
func mkdirStep(dir string) plan.Step {
	var made []string
	return plan.Step{Action: "mkdir", Target: dir, Note: "owned like its parent, as Go would make it",
		Do: func(context.Context) (err error) {
			made, err = mkdirLikeParent(dir)
			return err
		},
		Undo: func(context.Context) error {
			for i := len(made) - 1; i >= 0; i-- {
				if err := os.Remove(made[i]); err != nil {
					return err
				}
			}
			return nil
		}}
}

// mountSteps are the three mounts of one ramdisk, each undone by
// unmounting it again.
func (m *Manager) mountSteps(l layout, p Path, highWater int) []plan.Step {
	return []plan.Step{
		{Action: "bind-mount", Target: l.DiskParent, To: filepath.Dir(l.Dir), Note: "private; the disk copy stays reachable there",
			Do:   m.withLock(l, func(context.Context) error { return bindDisk(l) }),
			Undo: func(context.Context) error { return unbindDisk(l, unix.MNT_DETACH) }},
		{Action: "mount", Target: l.RAM, To: "tmpfs of " + units.HumanSize(p.Size), Note: "exec allowed; holds the overlay's upper and work directories",
			Do:   m.withLock(l, func(context.Context) error { return mountTmpfs(l, p.Size) }),
			Undo: func(context.Context) error { return unmountTmpfs(l, unix.MNT_DETACH) }},
		{Action: "mount", Target: l.Dir, To: "overlay (lower " + l.Disk + ", upper " + l.Upper + ")",
			Note: fmt.Sprintf("changes go to a %s tmpfs, which grows up to %s at the %d%% high-water mark; `pitstop ramdisk sync` writes them back", units.HumanSize(p.Size), units.HumanSize(maxSize(p)), highWater),
			Do: m.withLock(l, func(context.Context) error {
				if err := mountOverlay(l); err != nil {
					return err
				}
				st := &liveState{Dir: p.Dir, BaseSize: p.Size, Size: p.Size, MaxSize: maxSize(p), SkipSync: p.SkipSync, MountedAt: time.Now().UTC()}
				if err := writeState(l, st); err != nil {
					unmountOverlay(l)
					return err
				}
				m.log().Info("ramdisk mounted", "dir", p.Dir, "size", p.Size, "ram", l.RAM)
				return nil
			}),
			Undo: func(context.Context) error { return unmountOverlay(l) }},
	}
}

// withLock makes a step's Do that runs fn holding the ramdisk's lock.
func (m *Manager) withLock(l layout, fn func(ctx context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		unlock, err := m.lock(ctx, l)
		if err != nil {
			return err
		}
		defer unlock()
		return fn(ctx)
	}
}

// leftoverSteps deal with what an interrupted run left of the ramdisk of
// an unmounted directory: a tmpfs still holding changes and a bind mount
// (salvage), or a sync cut short on disk (recover).
func (m *Manager) leftoverSteps(ms []host.Mount, l layout) []plan.Step {
	salvage := m.withLock(l, func(ctx context.Context) error { return m.salvage(ctx, l) })
	ram, bind := mountedAt(ms, l.RAM), mountedAt(ms, l.DiskParent)
	switch {
	case ram && bind:
		if st, _ := readState(l); st == nil || !st.SkipSync {
			return []plan.Step{{Action: "sync", Target: l.Dir, Note: "the changes an interrupted run left in RAM; then unmount its leftover tmpfs and bind mount", Do: salvage}}
		}
		return []plan.Step{{Action: "unmount", Target: l.RAM, From: "tmpfs", Note: "left by an interrupted run with its bind mount; skip-sync: its changes are not synced", Do: salvage}}
	case ram:
		return []plan.Step{{Action: "unmount", Target: l.RAM, From: "tmpfs", Note: "left by an interrupted run", Do: salvage}}
	case bind:
		return []plan.Step{{Action: "unmount", Target: l.DiskParent, From: "bind mount", Note: "left by an interrupted run", Do: salvage}}
	}
	s := m.syncerFor(l, false)
	if _, err := os.Lstat(s.syncDir()); err != nil {
		return nil
	}
	finish := m.withLock(l, func(context.Context) error { return s.recover() })
	if _, err := os.Lstat(s.journal()); err == nil {
		return []plan.Step{{Action: "sync", Target: l.Dir, Note: "finish the sync a crash interrupted after its commit, from its journal", Do: finish}}
	}
	return []plan.Step{{Action: "remove", Target: s.syncDir(), Note: "a sync a crash interrupted before its commit: the disk copy stays the previous sync", Do: finish}}
}

func mountedAt(ms []host.Mount, dir string) bool {
	for _, mt := range ms {
		if mt.MountPoint == dir {
			return true
		}
	}
	return false
}

// configStep writes c to the config file (or removes the file when c has
// no paths), when that changes it; undo puts the old text back.
func (m *Manager) configStep(old []byte, c *Config) (plan.Step, bool) {
	file := m.configFile()
	restore := func(context.Context) error {
		if old == nil {
			return os.Remove(file)
		}
		return atomicfile.WriteFile(file, old, 0o644)
	}
	save := func(context.Context) error { return saveConfig(file, c) }
	if len(c.Paths) == 0 {
		if old == nil {
			return plan.Step{}, false
		}
		return plan.Step{Action: "remove", Target: file, From: string(old), Note: "no directory left to keep in RAM", Do: save, Undo: restore}, true
	}
	data := c.Format()
	if old != nil && bytes.Equal(old, data) {
		return plan.Step{}, false
	}
	return plan.Step{Action: "write", Target: file, From: string(old), To: string(data), Do: save, Undo: restore}, true
}

// onlyHere makes a plan for a captured machine refuse to run.
func (m *Manager) onlyHere(p *plan.Plan) {
	if m.root().IsLive() {
		return
	}
	for i := range p.Steps {
		if p.Steps[i].Do != nil {
			p.Steps[i].Do = func(context.Context) error { return ErrCaptured }
		}
	}
}

// Disable syncs dirs (every active ramdisk when empty), unmounts them and
// removes them from the config: it applies PlanDisable's plan, writing a
// line per step to Out. keepConfig leaves the config alone and takes each
// ramdisk out of RAM on its own, going on past one that fails (the
// shutdown path: sync everything it can, mount again at boot).
func (m *Manager) Disable(ctx context.Context, dirs []string, keepConfig bool) error {
	what := "disable"
	if keepConfig {
		what = "stop"
	}
	if err := m.needRoot(what); err != nil {
		return err
	}
	if !keepConfig {
		p, err := m.PlanDisable(ctx, dirs)
		if err != nil {
			return err
		}
		return p.Apply(ctx, m.Out)
	}
	parts, _, err := m.disablePlans(ctx, dirs, true)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range parts {
		errs = append(errs, p.Apply(ctx, m.Out))
	}
	return errors.Join(errs...)
}

// PlanDisable returns the plan that syncs dirs (every active ramdisk when
// empty), unmounts them and removes them from the config, so that the
// directories on disk are complete again. A named directory that is
// configured but not mounted (after a failed start) is only dropped from
// the config; what an interrupted run left of it is synced and unmounted
// first.
func (m *Manager) PlanDisable(ctx context.Context, dirs []string) (*plan.Plan, error) {
	parts, names, err := m.disablePlans(ctx, dirs, false)
	if err != nil {
		return nil, err
	}
	p := &plan.Plan{Title: "take out of RAM: " + strings.Join(names, ", ")}
	if len(names) == 0 {
		p.Title = "take out of RAM: no RAM disk is mounted or configured"
	}
	for _, part := range parts {
		p.Add(part.Steps...)
	}
	return p, nil
}

// disablePlans returns a plan for each ramdisk to take out of RAM and,
// unless keepConfig, a last one that writes the config; and the
// directories they take out of RAM or of the config.
func (m *Manager) disablePlans(ctx context.Context, dirs []string, keepConfig bool) (parts []*plan.Plan, names []string, err error) {
	what := "disable"
	if keepConfig {
		what = "stop"
	}
	cfg, raw, ms, err := m.snapshot()
	if err != nil {
		return nil, nil, err
	}
	var named, mountedDirs []string
	for _, d := range dirs {
		cd, err := cleanDir(d)
		if err != nil {
			return nil, nil, err
		}
		named = append(named, cd)
		if _, ok := cfg.Find(cd); ok && !Active(m.root(), cd) {
			continue
		}
		mountedDirs = append(mountedDirs, cd)
	}
	var ls []layout
	if len(dirs) == 0 || len(mountedDirs) > 0 {
		if ls, err = m.active(mountedDirs); err != nil {
			return nil, nil, err
		}
	}
	name := func(dir string) {
		if !slices.Contains(names, dir) {
			names = append(names, dir)
		}
	}
	// Configured paths whose overlay is gone may still hold changes in a
	// leftover tmpfs: write them back and unmount the leftovers.
	for _, p := range cfg.Paths {
		if containsLayout(ls, p.Dir) || (len(dirs) > 0 && !slices.Contains(named, p.Dir)) {
			continue
		}
		if !keepConfig {
			name(p.Dir)
		}
		if steps := m.leftoverSteps(ms, newLayout(m.runDir(), p.Dir)); len(steps) > 0 {
			name(p.Dir)
			parts = append(parts, &plan.Plan{Steps: steps})
		}
	}
	for _, l := range ls {
		steps, err := m.unmountSteps(ctx, l, what)
		if err != nil {
			return nil, nil, err
		}
		name(l.Dir)
		parts = append(parts, &plan.Plan{Steps: steps})
	}
	if !keepConfig {
		next := cfg.clone()
		for _, l := range ls {
			next.remove(l.Dir)
		}
		for _, d := range named {
			next.remove(d)
		}
		if len(dirs) == 0 {
			next.Paths = nil
		}
		if s, ok := m.configStep(raw, next); ok {
			parts = append(parts, &plan.Plan{Steps: []plan.Step{s}})
		}
	}
	for _, p := range parts {
		m.onlyHere(p)
	}
	return parts, names, nil
}

func containsLayout(ls []layout, dir string) bool {
	for _, l := range ls {
		if l.Dir == dir {
			return true
		}
	}
	return false
}

// unmountSteps take one mounted ramdisk out of RAM: sync, unmount the
// overlay and sync what was written meanwhile, unmount the tmpfs and the
// bind mount. A skip-sync ramdisk's changes are dropped with its tmpfs.
// reason is recorded with the syncs.
func (m *Manager) unmountSteps(ctx context.Context, l layout, reason string) ([]plan.Step, error) {
	st, err := readState(l)
	if err != nil {
		return nil, err
	}
	var steps []plan.Step
	sync := func(ctx context.Context) error {
		_, err := m.syncOne(ctx, l, reason)
		return err
	}
	overlay := plan.Step{Action: "unmount", Target: l.Dir, From: "overlay", To: "the directory on disk"}
	tmpfs := plan.Step{Action: "unmount", Target: l.RAM, From: "tmpfs of " + units.HumanSize(st.Size)}
	if st.SkipSync {
		tmpfs.Note = "its changes are dropped, not synced: skip-sync"
		overlay.Do = m.withLock(l, func(context.Context) error { return m.unmountBusy(l, "") })
	} else {
		p, err := m.syncerFor(l, true).pending(ctx)
		if err != nil {
			return nil, err
		}
		steps = append(steps, plan.Step{Action: "sync", Target: l.Dir,
			Note: fmt.Sprintf("write the changes held in RAM back to disk: %d files (%s), %d deletions pending", p.Files, units.HumanSize(p.Bytes), p.Dels),
			Do:   m.withLock(l, func(ctx context.Context) error { return wrapf(sync(ctx), "%s: sync failed, left mounted", l.Dir) })})
		overlay.Note = "then sync what was written meanwhile; mounted again if that fails"
		overlay.Do = m.withLock(l, func(ctx context.Context) error {
			if err := m.unmountBusy(l, "synced, "); err != nil {
				return err
			}
			if err := sync(ctx); err != nil {
				mountOverlay(l) // nothing is lost: the upper directory is intact
				return fmt.Errorf("%s: final sync failed, mounted again: %w", l.Dir, err)
			}
			return nil
		})
	}
	tmpfs.Do = m.withLock(l, func(context.Context) error { return unmountTmpfs(l, 0) })
	bind := plan.Step{Action: "unmount", Target: l.DiskParent, From: "bind mount of " + filepath.Dir(l.Dir),
		Do: m.withLock(l, func(context.Context) error {
			if err := unbindDisk(l, 0); err != nil {
				return err
			}
			m.log().Info("ramdisk unmounted", "dir", l.Dir, "reason", reason)
			return nil
		})}
	return append(steps, overlay, tmpfs, bind), nil
}

// unmountBusy unmounts the overlay, saying what to do when it is busy
// (done says what happened before: "synced, ").
func (m *Manager) unmountBusy(l layout, done string) error {
	err := unmountOverlay(l)
	if errors.Is(err, errBusy) {
		return fmt.Errorf("%s is busy (a process has a file or its working directory there; `fuser -vm %s` names it): %sleft mounted; stop it and retry", l.Dir, l.Dir, done)
	}
	return err
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
