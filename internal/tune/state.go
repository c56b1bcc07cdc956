package tune

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// DefaultStateDir holds state.json, the record of the applied profile.
const DefaultStateDir = "/var/lib/pitstop/tune"

// State is what apply records so that revert can undo it exactly. Only one
// profile is applied at a time: apply refuses while a state exists (to
// combine profiles, write one that includes both).
type State struct {
	Version   int       `json:"version"`
	Profile   string    `json:"profile"`
	AppliedAt time.Time `json:"applied_at"`
	// Settings are the sysctls apply changed or may have changed, with the
	// value each had before.
	Settings []Recorded `json:"settings"`
	// Limits are the limits written with --persist (informational).
	Limits []Recorded `json:"limits,omitempty"`
	// Files are the files --persist wrote (sysctl.d, limits.d), removed by
	// revert.
	Files []string `json:"files,omitempty"`
	// SystemdDir and SystemdDropIns are the systemd manager drop-ins
	// --persist wrote, relative to SystemdDir.
	SystemdDir     string   `json:"systemd_dir,omitempty"`
	SystemdDropIns []string `json:"systemd_drop_ins,omitempty"`
}

// Recorded is one setting's value before apply and the value apply wrote.
type Recorded struct {
	Key      string `json:"key"`
	Previous string `json:"previous"`
	// Applied is what apply wrote; "" for a sysctl recorded only because
	// the kernel changes it together with one apply wrote (vm.dirty_ratio
	// when vm.dirty_bytes is written).
	Applied string `json:"applied"`
}

const stateVersion = 1

func (t *Tuner) statePath() string {
	d := t.StateDir
	if d == "" {
		d = DefaultStateDir
	}
	return filepath.Join(d, "state.json")
}

// LoadState reads the recorded state; a missing one is fs.ErrNotExist.
func (t *Tuner) LoadState() (*State, error) {
	b, err := os.ReadFile(t.statePath())
	if err != nil {
		return nil, err
	}
	return ParseState(b)
}

// ParseState decodes a state file.
func ParseState(b []byte) (*State, error) {
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state file is damaged (%v): fix or remove it by hand", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("state file has version %d, this pitstop reads %d", st.Version, stateVersion)
	}
	if !ValidName(st.Profile) {
		return nil, fmt.Errorf("state file names an invalid profile %q", st.Profile)
	}
	for _, r := range st.Settings {
		if !sysctlKeyRE.MatchString(r.Key) {
			return nil, fmt.Errorf("state file names an invalid sysctl %q", r.Key)
		}
	}
	for _, f := range st.Files {
		if !filepath.IsAbs(f) {
			return nil, fmt.Errorf("state file names a relative path %q", f)
		}
	}
	return &st, nil
}

func (t *Tuner) saveState(st *State) error {
	p := t.statePath()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p, append(b, '\n'), 0o644)
}

func (t *Tuner) removeState() error {
	p := t.statePath()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(p))
}

// AppliedError is returned by Apply while a profile is applied.
type AppliedError struct {
	Profile string
	At      time.Time
}

func (e *AppliedError) Error() string {
	return fmt.Sprintf("profile %s is already applied (since %s): run `pitstop tune revert` first (to combine profiles, write one that includes both)",
		e.Profile, e.At.UTC().Format(time.RFC3339))
}

// lock takes an exclusive lock in the state directory so that two applies
// or reverts cannot interleave; the returned func releases it.
func (t *Tuner) lock() (func(), error) {
	d := filepath.Dir(t.statePath())
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(d, "lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another pitstop tune apply or revert is running (%s is locked): wait for it", p)
	}
	return func() { f.Close() }, nil
}
