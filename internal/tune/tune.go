// Package tune sets kernel parameters (sysctls) and file-descriptor limits
// from named profiles, in the manner of tuned: INI files that include one
// another and give a reason for every value. Profiles are embedded
// (go-server, go-build, go-pi) or read from /etc/pitstop/tune.d/*.conf.
//
// PlanApply validates every key and value first and returns the plan
// (internal/plan) of the change: the record of the previous values in a
// state file, then each sysctl from its current value to the profile's.
// Apply runs exactly that plan: it sets all of them or, when the kernel
// refuses one, puts back the ones already set. PlanRevert and Revert
// restore exactly the recorded values and remove the files written with
// persist. Recommended exposes the embedded values to callers that compare
// a machine with a profile.
package tune

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Default locations of what persist writes.
const (
	DefaultSysctlDir  = "/etc/sysctl.d"
	DefaultSystemdDir = "/etc/systemd"
	DefaultLimitsDir  = "/etc/security/limits.d"
)

// Tuner shows, applies and reverts profiles. The zero value works on the
// live machine with the default paths.
type Tuner struct {
	// Root is the machine; nil means host.Live(). With host.At(dir),
	// sysctls are read and written as plain files under dir/proc/sys and
	// processes are looked up under dir/proc (tests).
	Root *host.Root
	// ProfileDir holds user profiles; "" means DefaultProfileDir.
	ProfileDir string
	// StateDir holds state.json; "" means DefaultStateDir.
	StateDir string
	// SysctlDir receives 60-pitstop-PROFILE.conf with persist; "" means
	// DefaultSysctlDir.
	SysctlDir string
	// SystemdDir receives system.conf.d/ and user.conf.d/ drop-ins for
	// limits with persist; "" means DefaultSystemdDir.
	SystemdDir string
	// LimitsDir receives a pam_limits file with persist; "" means
	// DefaultLimitsDir.
	LimitsDir string
	// Out receives one line per step Apply and Revert run, then their
	// summary and notes, and what Status prints; nil discards.
	Out io.Writer
	// Systemctl runs systemctl for the drop-ins (see systemd.Installer);
	// nil runs the real one when systemd is running.
	Systemctl func(args ...string) error
	// WriteSysctl writes one sysctl; nil writes through Root. Tests wrap it
	// to inject failures.
	WriteSysctl func(key, value string) error
	// Euid returns the effective user id; nil means os.Geteuid.
	Euid func() int
}

func (t *Tuner) root() *host.Root {
	if t.Root == nil {
		t.Root = host.Live()
	}
	return t.Root
}

func (t *Tuner) out() io.Writer {
	if t.Out == nil {
		return io.Discard
	}
	return t.Out
}

func (t *Tuner) printf(format string, args ...any) { fmt.Fprintf(t.out(), format, args...) }

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Catalog returns the known profiles (embedded and ProfileDir's).
func (t *Tuner) Catalog() (*Catalog, error) { return LoadCatalog(t.ProfileDir) }

// Get reads a sysctl's current value (white space folded).
func (t *Tuner) Get(key string) (string, error) {
	v, err := t.root().Sysctl(key)
	if errors.Is(err, fs.ErrNotExist) {
		return "", &UnknownKeyError{Key: key}
	}
	return v, err
}

func (t *Tuner) set(key, value string) error {
	r := t.root()
	var err error
	switch {
	case t.WriteSysctl != nil:
		err = t.WriteSysctl(key, value)
	case r.IsLive():
		err = r.SetSysctl(key, value)
	default:
		// A directory standing for /: plain files, with the kernel's
		// coupling of vm.dirty_bytes and vm.dirty_ratio emulated.
		err = writeExisting(r.Path(host.SysctlPath(key)), value)
		if p, ok := linked[key]; ok && err == nil && strings.TrimSpace(value) != "0" {
			_ = writeExisting(r.Path(host.SysctlPath(p)), "0")
		}
	}
	return explainWrite(key, value, err)
}

// writeExisting writes an existing file in place, as a sysctl write does.
func writeExisting(p, value string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// UnknownKeyError names a sysctl this kernel does not have.
type UnknownKeyError struct{ Key string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown sysctl %s: this kernel has no %s", e.Key, host.SysctlPath(e.Key))
}

// ErrReadOnly is returned when /proc/sys cannot be written here.
var ErrReadOnly = errors.New("/proc/sys is read-only here (a container?): run pitstop tune on the host")

// ErrNotRoot is returned when a change is asked of the live machine by
// another user than root (PlanApply and PlanRevert need no root).
var ErrNotRoot = errors.New("changing sysctls needs root: run it with sudo")

func explainWrite(key, value string, err error) error {
	var already *WriteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &already):
		return err
	case errors.Is(err, syscall.EROFS):
		return ErrReadOnly
	case errors.Is(err, syscall.EINVAL):
		return &WriteError{Key: key, Value: value, Err: err, msg: "the kernel refused it (invalid argument)"}
	case errors.Is(err, fs.ErrPermission):
		return &WriteError{Key: key, Value: value, Err: err, msg: "read-only here (the kernel does not let this namespace or container change it)"}
	}
	return &WriteError{Key: key, Value: value, Err: err}
}

// WriteError is a sysctl write that failed.
type WriteError struct {
	Key, Value string
	Err        error
	msg        string
}

func (e *WriteError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("%s = %s: %s", e.Key, e.Value, e.msg)
	}
	return fmt.Sprintf("%s = %s: %v", e.Key, e.Value, e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// canChange reports why this process may not change the machine.
func (t *Tuner) canChange() error {
	r := t.root()
	if r.IsLive() {
		euid := os.Geteuid()
		if t.Euid != nil {
			euid = t.Euid()
		}
		if euid != 0 {
			return ErrNotRoot
		}
	}
	return t.checkWritableProcSys()
}

func (t *Tuner) checkWritableProcSys() error {
	var st unix.Statfs_t
	if err := unix.Statfs(t.root().Path("/proc/sys"), &st); err == nil && st.Flags&unix.ST_RDONLY != 0 {
		return ErrReadOnly
	}
	return nil
}

// step is one setting of a plan.
type step struct {
	Setting
	Previous string
	Target   string
	// Linked: recorded only because the kernel changes it with its pair.
	Linked bool
}

// plan reads the current values of ss and validates every target; it
// changes nothing.
func (t *Tuner) plan(name string, ss []Setting) (sysctls, limits []step, err error) {
	inProfile := map[string]bool{}
	for _, s := range ss {
		if s.Kind == Sysctl {
			inProfile[s.Key] = true
		}
	}
	for _, s := range ss {
		if s.Kind == Limit {
			continue
		}
		if p, ok := linked[s.Key]; ok && inProfile[p] {
			return nil, nil, fmt.Errorf("profile %s sets both %s and %s: the kernel zeroes one when the other is written; keep one", s.Profile, s.Key, p)
		}
	}
	for _, s := range ss {
		if s.Kind == Limit {
			st := step{Setting: s, Previous: t.currentLimit(s.Key), Target: s.Value}
			if s.Key == "nofile" {
				_, hard, _ := ParseNofile(s.Value)
				if v, err := t.Get("fs.nr_open"); err == nil {
					if nr, err := numbers(v); err == nil && int64(hard) > nr[0] {
						return nil, nil, fmt.Errorf("profile %s: nofile hard limit %d is above fs.nr_open (%d): add fs.nr_open = >=%d to [sysctl]", s.Profile, hard, nr[0], hard)
					}
				}
			}
			limits = append(limits, st)
			continue
		}
		cur, err := t.Get(s.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("profile %s: %w", s.Profile, err)
		}
		st := step{Setting: s, Previous: cur, Target: fold(s.Target(cur))}
		if err := checkValue(s.Key, st.Target, cur, t.Get); err != nil {
			return nil, nil, fmt.Errorf("profile %s: %w", s.Profile, err)
		}
		if st.Target != cur {
			if err := t.checkWritable(s.Key); err != nil {
				var uk *UnknownKeyError
				if errors.As(err, &uk) {
					return nil, nil, fmt.Errorf("profile %s: %w", s.Profile, err)
				}
				return nil, nil, fmt.Errorf("profile %s: %w; to do without it, use a profile with include = %s and %s = -", s.Profile, err, name, s.Key)
			}
		}
		sysctls = append(sysctls, st)
	}
	for _, s := range sysctls {
		if p, ok := linked[s.Key]; ok && !inProfile[p] {
			cur, err := t.Get(p)
			if err != nil {
				continue // an older kernel without the pair
			}
			sysctls = append(sysctls, step{Setting: Setting{Kind: Sysctl, Key: p, Value: cur, Profile: s.Profile}, Previous: cur, Target: cur, Linked: true})
		}
	}
	return sysctls, limits, nil
}

func (t *Tuner) checkWritable(key string) error {
	fi, err := os.Stat(t.root().Path(host.SysctlPath(key)))
	if err != nil {
		return &UnknownKeyError{Key: key}
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return fmt.Errorf("%s is read-only here (the kernel does not let this namespace or container change it)", key)
	}
	return nil
}

// restartKeys are sysctls that running programs read once: they see a new
// value only after a restart.
var restartKeys = map[string]string{
	"net.core.somaxconn": "Go reads net.core.somaxconn once per process and a socket keeps the backlog it had at listen()",
}

// persistName is the file name persist uses for a profile.
func persistName(profile string) string { return "60-pitstop-" + profile + ".conf" }

// orderForRestore returns the records to write back, in reverse order of
// apply, and for a linked pair only the one that was not zero (writing it
// makes the kernel zero the other, as it was).
func orderForRestore(rs []Recorded) []Recorded {
	prev := map[string]string{}
	for _, r := range rs {
		prev[r.Key] = r.Previous
	}
	var out []Recorded
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		if p, ok := linked[r.Key]; ok {
			if _, ok := prev[p]; ok {
				bytesKey, bytesPrev := r.Key, r.Previous
				if !strings.HasSuffix(r.Key, "_bytes") {
					bytesKey, bytesPrev = p, prev[p]
				}
				useBytes := strings.TrimSpace(bytesPrev) != "0"
				if (r.Key == bytesKey) != useBytes {
					continue // its pair carries the value
				}
			}
		}
		out = append(out, r)
	}
	return out
}
