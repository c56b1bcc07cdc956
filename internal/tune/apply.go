package tune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Apply sets the named profile's sysctls and, with persist, writes them to
// SysctlDir/60-pitstop-PROFILE.conf and its limits to systemd and
// pam_limits drop-ins. It validates everything first, records the previous
// values in the state file before changing anything, and sets all or puts
// back all. It refuses while another profile is applied.
func (t *Tuner) Apply(name string, persist bool) error {
	cat, err := t.Catalog()
	if err != nil {
		return err
	}
	ss, err := cat.Resolve(name)
	if err != nil {
		return err
	}
	if !t.DryRun {
		if err := t.canChange(); err != nil {
			return err
		}
	} else if err := t.checkWritableProcSys(); err != nil {
		return err
	}
	if err := t.checkNotApplied(); err != nil {
		return err
	}
	sysctls, limits, err := t.plan(name, ss)
	if err != nil {
		return err
	}
	if !t.DryRun {
		unlock, err := t.lock()
		if err != nil {
			return err
		}
		defer unlock()
		if err := t.checkNotApplied(); err != nil { // another apply may have won
			return err
		}
	}
	files, dropIns := t.persistTargets(name, persist, sysctls, limits)
	for _, f := range append(append([]string{}, files...), t.dropInPaths(dropIns)...) {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists already and pitstop has no record of writing it: remove it, or run `pitstop tune revert` if an earlier apply was interrupted", f)
		}
	}

	verb := "set"
	if t.DryRun {
		verb = "would set"
	}
	changed := map[string]bool{}
	for _, s := range sysctls {
		switch {
		case s.Linked:
		case s.Target == s.Previous:
			t.printf("unchanged %s = %s\n", s.Key, s.Target)
		default:
			changed[s.Key] = true
			t.printf("%s %s = %s (was %s)\n", verb, s.Key, s.Target, s.Previous)
		}
	}
	for _, l := range limits {
		if !persist {
			t.printf("skipped limit %s = %s: limits are only written with --persist (systemd and PAM read them when a service or session starts)\n", l.Key, l.Target)
		}
	}

	if t.DryRun {
		if persist {
			for _, f := range files {
				t.printf("would write %s:\n%s", f, indent(t.renderFile(name, f, sysctls, limits)))
			}
			if err := t.installer().Install(t.dropInUnits(name, dropIns, limits)); err != nil {
				return err
			}
		}
		t.restartAdvice(changed, persist && len(limits) > 0, true)
		t.printf("dry run: nothing changed\n")
		return nil
	}

	st := &State{Version: stateVersion, Profile: name, AppliedAt: time.Now().UTC(),
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
	// The record comes first: a crash half-way leaves a state that revert
	// undoes.
	if err := t.saveState(st); err != nil {
		return fmt.Errorf("recording previous values in %s: %w", t.statePath(), err)
	}
	undo := func(cause error) error {
		msg := t.rollback(st)
		if msg != "" {
			return fmt.Errorf("%w; rolling back failed too: %s (state kept in %s: retry `pitstop tune revert`)", cause, msg, t.statePath())
		}
		return fmt.Errorf("%w; rolled back: nothing changed", cause)
	}
	for _, s := range sysctls {
		if s.Linked || s.Target == s.Previous {
			continue
		}
		if err := t.set(s.Key, s.Target); err != nil {
			return undo(err)
		}
	}
	if persist {
		for _, f := range files {
			if err := t.writeFile(f, t.renderFile(name, f, sysctls, limits)); err != nil {
				return undo(err)
			}
			t.printf("wrote %s\n", f)
		}
		if err := t.installer().Install(t.dropInUnits(name, dropIns, limits)); err != nil {
			return undo(err)
		}
	}
	t.printf("applied %s; previous values recorded in %s; undo with: pitstop tune revert\n", name, t.statePath())
	t.restartAdvice(changed, persist && len(limits) > 0, false)
	return nil
}

// rollback restores st's previous values, removes st's files and the state
// itself, quietly; it returns what failed, or "".
func (t *Tuner) rollback(st *State) string {
	var failed []string
	for _, r := range orderForRestore(st.Settings) {
		cur, err := t.Get(r.Key)
		if err == nil && cur == r.Previous {
			continue
		}
		if err := t.set(r.Key, r.Previous); err != nil {
			failed = append(failed, err.Error())
		}
	}
	for _, f := range st.Files {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			failed = append(failed, err.Error())
		}
	}
	if len(st.SystemdDropIns) > 0 {
		in := t.installer()
		in.Dir, in.Out = st.SystemdDir, nil
		if err := in.Remove(st.SystemdDropIns...); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return strings.Join(failed, "; ")
	}
	if err := t.removeState(); err != nil {
		return err.Error()
	}
	return ""
}

// Revert restores exactly the values recorded by Apply and removes the
// files it wrote. With nothing applied it says so and succeeds.
func (t *Tuner) Revert() error {
	st, err := t.LoadState()
	if errors.Is(err, fs.ErrNotExist) {
		t.printf("nothing to revert: no profile is applied (no %s)\n", t.statePath())
		return nil
	}
	if err != nil {
		return err
	}
	if !t.DryRun {
		if err := t.canChange(); err != nil {
			return err
		}
		unlock, err := t.lock()
		if err != nil {
			return err
		}
		defer unlock()
		// Another revert may have finished while we waited.
		if st, err = t.LoadState(); err != nil {
			return err
		}
	}
	verb, rm := "restored", "removed"
	if t.DryRun {
		verb, rm = "would restore", "would remove"
	}
	var failed []string
	for _, r := range orderForRestore(st.Settings) {
		cur, err := t.Get(r.Key)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		if r.Applied != "" && cur != r.Applied {
			t.printf("note: %s was changed since apply (now %s, pitstop set %s)\n", r.Key, cur, r.Applied)
		}
		if cur == r.Previous {
			t.printf("unchanged %s = %s\n", r.Key, cur)
			continue
		}
		t.printf("%s %s = %s (was %s)\n", verb, r.Key, r.Previous, cur)
		if t.DryRun {
			continue
		}
		if err := t.set(r.Key, r.Previous); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if !t.DryRun {
		// Check that every recorded value is back, linked pairs included.
		for _, r := range st.Settings {
			if cur, err := t.Get(r.Key); err == nil && cur != r.Previous {
				failed = append(failed, fmt.Sprintf("%s is %s after revert, want %s", r.Key, cur, r.Previous))
			}
		}
	}
	for _, f := range st.Files {
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		t.printf("%s %s\n", rm, f)
		if t.DryRun {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			failed = append(failed, err.Error())
		}
	}
	if len(st.SystemdDropIns) > 0 {
		in := t.installer()
		in.Dir = st.SystemdDir
		if err := in.Remove(st.SystemdDropIns...); err != nil {
			failed = append(failed, err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("revert of %s incomplete: %s (state kept in %s: fix and run it again)", st.Profile, strings.Join(failed, "; "), t.statePath())
	}
	if t.DryRun {
		t.printf("dry run: nothing changed\n")
		return nil
	}
	if err := t.removeState(); err != nil {
		return err
	}
	t.printf("reverted %s\n", st.Profile)
	if len(st.Limits) > 0 {
		t.printf("services started since keep the raised limits until they restart\n")
	}
	return nil
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

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	return b.String()
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
