package tune

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/plan"
	"github.com/pitstop-go/pitstop/internal/systemd"
)

// PlanApply validates the named profile against the live values and returns
// the plan that applies it: the state-file record of the previous values
// first, then each sysctl from its current value to the profile's, and with
// persist the files in SysctlDir and LimitsDir and the systemd drop-ins.
// Restart advice comes as the plan's notes. It changes nothing, and needs
// no root.
func (t *Tuner) PlanApply(name string, persist bool) (*plan.Plan, error) {
	p, unlock, err := t.planApply(name, persist, false)
	if err != nil {
		return nil, err
	}
	unlock()
	return p, nil
}

// Apply plans the named profile as PlanApply does, as root and holding the
// lock, and runs that plan, writing a line to Out per step done: it sets all
// or, when a step fails, puts back all (the error says what, if anything,
// could not be put back). It refuses while another profile is applied. It
// returns the plan it ran.
func (t *Tuner) Apply(ctx context.Context, name string, persist bool) (*plan.Plan, error) {
	p, unlock, err := t.planApply(name, persist, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := p.Apply(ctx, t.out()); err != nil {
		var pe *plan.Error
		if !errors.As(err, &pe) {
			return p, err
		}
		if len(pe.NotUndone) > 0 {
			return p, fmt.Errorf("%w; rolling back failed too: %s (state kept in %s: retry `pitstop tune revert`)", pe.Err, strings.Join(pe.NotUndone, "; "), t.statePath())
		}
		return p, fmt.Errorf("%w; rolled back: nothing changed", pe.Err)
	}
	t.printf("applied %s; previous values recorded in %s; undo with: pitstop tune revert\n", name, t.statePath())
	t.printNotes(p)
	return p, nil
}

// planApply does every check and builds the apply plan; with live it also
// requires the right to change the machine and takes the lock, which the
// returned func releases (a no-op otherwise).
func (t *Tuner) planApply(name string, persist, live bool) (_ *plan.Plan, unlock func(), err error) {
	cat, err := t.Catalog()
	if err != nil {
		return nil, nil, err
	}
	ss, err := cat.Resolve(name)
	if err != nil {
		return nil, nil, err
	}
	check := t.checkWritableProcSys
	if live {
		check = t.canChange
	}
	if err := check(); err != nil {
		return nil, nil, err
	}
	if err := t.checkNotApplied(); err != nil {
		return nil, nil, err
	}
	sysctls, limits, err := t.plan(name, ss)
	if err != nil {
		return nil, nil, err
	}
	release := func() {}
	if live {
		r, lerr := t.lock()
		if lerr != nil {
			return nil, nil, lerr
		}
		release = r
		defer func() {
			if err != nil {
				release()
			}
		}()
		if err := t.checkNotApplied(); err != nil { // another apply may have won
			return nil, nil, err
		}
	}
	files, dropIns := t.persistTargets(name, persist, sysctls, limits)
	for _, f := range append(append([]string{}, files...), t.dropInPaths(dropIns)...) {
		if _, err := os.Stat(f); err == nil {
			return nil, nil, fmt.Errorf("%s exists already and pitstop has no record of writing it: remove it, or run `pitstop tune revert` if an earlier apply was interrupted", f)
		}
	}

	st := &State{Version: stateVersion, Profile: name,
		Files: files, SystemdDir: orDefault(t.SystemdDir, DefaultSystemdDir), SystemdDropIns: dropIns}
	if len(dropIns) == 0 {
		st.SystemdDir = ""
	}
	for _, s := range sysctls {
		r := Recorded{Key: s.Key, Previous: s.Previous, Applied: s.Target}
		if s.Linked {
			r.Applied = ""
		}
		st.Settings = append(st.Settings, r)
	}
	if persist {
		for _, l := range limits {
			st.Limits = append(st.Limits, Recorded{Key: l.Key, Previous: l.Previous, Applied: l.Target})
		}
	}

	title := "apply " + name
	if persist {
		title += ", persisted for the next boot"
	}
	p := &plan.Plan{Title: title}
	// The record comes first: a crash half-way leaves a state that revert
	// undoes. Putting it back removes it only once everything else is back.
	p.Add(plan.Step{Action: "write", Target: t.statePath(),
		To:   fmt.Sprintf("%s, with the previous values of %d sysctl(s)", name, len(st.Settings)),
		Note: "first, so that revert can undo an interrupted apply",
		Do: func(context.Context) error {
			rec := *st
			rec.AppliedAt = time.Now().UTC()
			if err := t.saveState(&rec); err != nil {
				return fmt.Errorf("recording previous values in %s: %w", t.statePath(), err)
			}
			return nil
		},
		Undo: func(context.Context) error {
			if err := t.checkRestored(st); err != nil {
				return fmt.Errorf("kept, because %w", err)
			}
			return t.removeState()
		}})
	previous := map[string]string{}
	for _, s := range sysctls {
		previous[s.Key] = s.Previous
	}
	changed := map[string]bool{}
	for _, s := range sysctls {
		switch {
		case s.Linked:
		case s.Target == s.Previous:
			p.Add(plan.Step{Action: "keep", Target: s.Key, To: s.Target})
		default:
			changed[s.Key] = true
			p.Add(t.setStep(s.Key, s.Previous, s.Target, previous))
			p.Add(kernelStep(s.Key, s.Target, previous)...)
		}
	}
	for _, l := range limits {
		if !persist {
			p.Note("skipped limit %s = %s: limits are written only when persisting (systemd and PAM read them when a service or session starts)", l.Key, l.Target)
		}
	}
	for _, f := range files {
		p.Add(t.writeStep(f, t.renderFile(name, f, sysctls, limits)))
	}
	for _, u := range t.dropInUnits(name, dropIns, limits) {
		p.Add(t.installStep(st.SystemdDir, u))
	}
	p.Notes = append(p.Notes, t.restartAdvice(changed, persist && len(limits) > 0)...)
	return p, release, nil
}

// setStep writes key from its current value to value; its undo writes the
// value back, through the key's pair when the kernel links them (before
// holds the values to go back to).
func (t *Tuner) setStep(key, from, to string, before map[string]string) plan.Step {
	back := []Recorded{{Key: key, Previous: from}}
	if p, ok := linked[key]; ok {
		if v, ok := before[p]; ok {
			back = append(back, Recorded{Key: p, Previous: v})
		}
	}
	return plan.Step{Action: "set", Target: key, From: from, To: to,
		Do:   func(context.Context) error { return t.set(key, to) },
		Undo: func(context.Context) error { return t.restore(back) }}
}

// kernelStep is the record of the change the kernel makes to key's pair when
// key is written (values holds the pair's value before), or nothing.
func kernelStep(key, to string, values map[string]string) []plan.Step {
	p, ok := linked[key]
	if !ok {
		return nil
	}
	v, ok := values[p]
	if !ok || strings.TrimSpace(to) == "0" || strings.TrimSpace(v) == "0" {
		return nil
	}
	return []plan.Step{{Action: "set", Target: p, From: v, To: "0", Note: "the kernel zeroes it when " + key + " is written"}}
}

// restore writes back the Previous value of each of rs that differs from
// the current one, for a linked pair only the one that was not zero.
func (t *Tuner) restore(rs []Recorded) error {
	var errs []error
	for _, r := range orderForRestore(rs) {
		if cur, err := t.Get(r.Key); err == nil && cur == r.Previous {
			continue
		}
		errs = append(errs, t.set(r.Key, r.Previous))
	}
	return errors.Join(errs...)
}

// checkRestored says which of st's settings do not read their previous
// value and which of its files remain; nil when everything is as before.
func (t *Tuner) checkRestored(st *State) error {
	var bad []string
	for _, r := range st.Settings {
		cur, err := t.Get(r.Key)
		if err != nil {
			bad = append(bad, err.Error())
		} else if cur != r.Previous {
			bad = append(bad, fmt.Sprintf("%s is %s, want %s", r.Key, cur, r.Previous))
		}
	}
	for _, f := range append(append([]string{}, st.Files...), joinAll(st.SystemdDir, st.SystemdDropIns)...) {
		if _, err := os.Lstat(f); !errors.Is(err, fs.ErrNotExist) {
			bad = append(bad, f+" remains")
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, ", "))
	}
	return nil
}

// writeStep writes a new file; its undo removes it.
func (t *Tuner) writeStep(f, content string) plan.Step {
	return plan.Step{Action: "write", Target: f, To: content,
		Do:   func(context.Context) error { return t.writeFile(f, content) },
		Undo: func(context.Context) error { return removeFile(f) }}
}

// removeStep removes a file that holds content; its undo writes it back.
func (t *Tuner) removeStep(f, content string) plan.Step {
	return plan.Step{Action: "remove", Target: f, From: content,
		Do:   func(context.Context) error { return removeFile(f) },
		Undo: func(context.Context) error { return t.writeFile(f, content) }}
}

// installStep writes a systemd drop-in in dir and reloads systemd; its
// undo removes it.
func (t *Tuner) installStep(dir string, u systemd.Unit) plan.Step {
	return plan.Step{Action: "write", Target: filepath.Join(dir, u.Name), To: u.Content, Note: "then systemctl daemon-reload",
		Do:   func(ctx context.Context) error { return t.installer(dir).Install(ctx, []systemd.Unit{u}) },
		Undo: func(ctx context.Context) error { return t.installer(dir).Remove(ctx, u.Name) }}
}

// uninstallStep removes a systemd drop-in in dir that holds content and
// reloads systemd; its undo writes it back.
func (t *Tuner) uninstallStep(dir, name, content string) plan.Step {
	s := t.installStep(dir, systemd.Unit{Name: name, Content: content})
	return plan.Step{Action: "remove", Target: s.Target, From: content, Note: s.Note, Do: s.Undo, Undo: s.Do}
}

func removeFile(f string) error {
	if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func joinAll(dir string, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, filepath.Join(dir, n))
	}
	return out
}

// PlanRevert returns the plan that restores exactly the values recorded by
// apply and removes the files it wrote: each sysctl from its current value
// back to the recorded one, each file removed, and last the state file,
// once every recorded value reads back. A sysctl changed since apply is
// restored too, with a note. With nothing applied the plan is empty. It
// changes nothing, and needs no root.
func (t *Tuner) PlanRevert() (*plan.Plan, error) {
	p, _, unlock, err := t.planRevert(false)
	if err != nil {
		return nil, err
	}
	unlock()
	return p, nil
}

// Revert plans as PlanRevert does, as root and holding the lock, and runs
// that plan, writing a line to Out per step done; when a step fails it puts
// back what it restored and keeps the state. With nothing applied it says
// so and succeeds. It returns the plan it ran.
func (t *Tuner) Revert(ctx context.Context) (*plan.Plan, error) {
	p, st, unlock, err := t.planRevert(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if st == nil {
		t.printf("%s\n", p.Title)
		return p, nil
	}
	if err := p.Apply(ctx, t.out()); err != nil {
		var pe *plan.Error
		if !errors.As(err, &pe) {
			return p, err
		}
		msg := "put back what it restored"
		if len(pe.NotUndone) > 0 {
			msg = "not put back: " + strings.Join(pe.NotUndone, "; ")
		}
		return p, fmt.Errorf("revert of %s failed: %w; %s (state kept in %s: fix and run it again)", st.Profile, pe.Err, msg, t.statePath())
	}
	t.printf("reverted %s\n", st.Profile)
	t.printNotes(p)
	return p, nil
}

// planRevert does every check and builds the revert plan for the state it
// returns (nil, with an empty plan, when nothing is applied); with live it
// also requires the right to change the machine and takes the lock, which
// the returned func releases (a no-op otherwise).
func (t *Tuner) planRevert(live bool) (_ *plan.Plan, _ *State, unlock func(), err error) {
	release := func() {}
	nothing := &plan.Plan{Title: fmt.Sprintf("nothing to revert: no profile is applied (no %s)", t.statePath())}
	st, err := t.LoadState()
	if errors.Is(err, fs.ErrNotExist) {
		return nothing, nil, release, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if live {
		if err := t.canChange(); err != nil {
			return nil, nil, nil, err
		}
		r, lerr := t.lock()
		if lerr != nil {
			return nil, nil, nil, lerr
		}
		release = r
		defer func() {
			if err != nil {
				release()
			}
		}()
		// Another revert may have finished while we waited.
		st, err = t.LoadState()
		if errors.Is(err, fs.ErrNotExist) {
			return nothing, nil, release, nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
	}
	p := &plan.Plan{Title: "revert " + st.Profile}
	cur := map[string]string{}
	for _, r := range st.Settings {
		v, err := t.Get(r.Key)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cannot revert %s: %w (state kept in %s)", st.Profile, err, t.statePath())
		}
		cur[r.Key] = v
		if r.Applied != "" && v != r.Applied {
			p.Note("%s was changed since apply (now %s, pitstop set %s)", r.Key, v, r.Applied)
		}
	}
	for _, r := range orderForRestore(st.Settings) {
		if cur[r.Key] == r.Previous {
			p.Add(plan.Step{Action: "keep", Target: r.Key, To: r.Previous})
			continue
		}
		p.Add(t.setStep(r.Key, cur[r.Key], r.Previous, cur))
		// orderForRestore writes one of a pair: the kernel zeroes the other.
		p.Add(kernelStep(r.Key, r.Previous, cur)...)
	}
	for _, f := range st.Files {
		b, err := os.ReadFile(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		p.Add(t.removeStep(f, string(b)))
	}
	for _, d := range st.SystemdDropIns {
		b, err := os.ReadFile(filepath.Join(st.SystemdDir, d))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		p.Add(t.uninstallStep(st.SystemdDir, d, string(b)))
	}
	p.Add(plan.Step{Action: "remove", Target: t.statePath(),
		Note: "the record of " + st.Profile + ", once every recorded value reads back",
		Do: func(context.Context) error {
			if err := t.checkRestored(st); err != nil {
				return fmt.Errorf("after revert %w", err)
			}
			return t.removeState()
		},
		Undo: func(context.Context) error { return t.saveState(st) }})
	if len(st.Limits) > 0 {
		p.Note("services started since apply keep the raised limits until they restart")
	}
	return p, st, release, nil
}

// printNotes prints a plan's notes after it ran.
func (t *Tuner) printNotes(p *plan.Plan) {
	for _, n := range p.Notes {
		t.printf("note: %s\n", n)
	}
}

// Status prints the applied profile, if any, with each setting's previous,
// applied and current value.
func (t *Tuner) Status() (*State, error) {
	st, err := t.LoadState()
	if errors.Is(err, fs.ErrNotExist) {
		t.printf("no profile applied\n")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t.printf("applied %s at %s\n", st.Profile, st.AppliedAt.UTC().Format(time.RFC3339))
	for _, r := range st.Settings {
		cur, err := t.Get(r.Key)
		if err != nil {
			cur = "(" + err.Error() + ")"
		}
		mark := " "
		if r.Applied != "" && cur != r.Applied {
			mark = "!"
		}
		applied := r.Applied
		if applied == "" {
			applied = "(changed by the kernel with its pair)"
		}
		t.printf("%s %s: previous %s, applied %s, now %s\n", mark, r.Key, r.Previous, applied, cur)
	}
	for _, r := range st.Limits {
		t.printf("  limit %s: %s (was %s)\n", r.Key, r.Applied, orDefault(r.Previous, "unset"))
	}
	for _, f := range st.Files {
		t.printf("  wrote %s\n", f)
	}
	for _, d := range st.SystemdDropIns {
		t.printf("  wrote %s\n", filepath.Join(st.SystemdDir, d))
	}
	t.printf("undo with: pitstop tune revert\n")
	return st, nil
}

func (t *Tuner) checkNotApplied() error {
	st, err := t.LoadState()
	if err == nil {
		return &AppliedError{Profile: st.Profile, At: st.AppliedAt}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
