package toolchain

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/goversion"
)

// Layout is where toolchains live: one directory per version under Dir,
// and Link, a symbolic link to the active one, whose bin directory is the
// single PATH entry users need.
type Layout struct {
	// Dir holds one directory per installed version (go1.22.5, and
	// go1.22.5.linux-arm for a toolchain prepared for another machine).
	Dir string
	// Link is the symbolic link to the active version.
	Link string
}

// SystemDir and SystemLink are the system-wide layout: versions under
// /usr/local/lib/pitstop/go, and /usr/local/go (where the official
// instructions unpack Go) a link to the active one.
const (
	SystemDir  = "/usr/local/lib/pitstop/go"
	SystemLink = "/usr/local/go"
)

// ErrNoHome is UserLayout's error when there is no home directory to keep
// toolchains in.
var ErrNoHome = errors.New("cannot find the home directory: set HOME or choose a toolchain directory")

// UserLayout is the per-user layout: $XDG_DATA_HOME/pitstop/go (by
// default ~/.local/share/pitstop/go) with a "current" link inside.
func UserLayout() (Layout, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return Layout{}, ErrNoHome
		}
		base = filepath.Join(home, ".local", "share")
	}
	return DirLayout(filepath.Join(base, "pitstop", "go")), nil
}

// DirLayout keeps versions in dir and the "current" link inside it.
func DirLayout(dir string) Layout {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return Layout{Dir: dir, Link: filepath.Join(dir, "current")}
}

// SystemLayout is the system-wide layout.
func SystemLayout() Layout { return Layout{Dir: SystemDir, Link: SystemLink} }

// BinDir is the one directory to put on PATH.
func (l Layout) BinDir() string { return filepath.Join(l.Link, "bin") }

// Name is the directory name of version v for target t: "go1.22.5" when t
// is the machine's own target, "go1.22.5.linux-arm" otherwise.
func Name(v Version, t Target, native bool) string {
	if native {
		return v.Go()
	}
	return v.Go() + "." + t.String()
}

// ParseName splits a version directory name; foreign is the zero Target
// for the machine's own toolchains.
func ParseName(name string) (v Version, foreign Target, ok bool) {
	if !strings.HasPrefix(name, "go") {
		return Version{}, Target{}, false
	}
	if v, err := ParseVersion(name); err == nil {
		return v, Target{}, true
	}
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return Version{}, Target{}, false
	}
	goos, goarch, ok := goversion.ParsePlatform(name[i+1:])
	v, err := ParseVersion(name[:i])
	if !ok || err != nil {
		return Version{}, Target{}, false
	}
	return v, Target{GOOS: goos, GOARCH: goarch}, true
}

// Installed is one installed toolchain.
type Installed struct {
	Name    string
	Version Version
	// Foreign is the target of a toolchain prepared for another machine,
	// zero for this machine's.
	Foreign Target
	Active  bool
	Path    string
}

// Active returns the directory name the link points at, "" when none.
func (l Layout) Active() string {
	dest, err := os.Readlink(l.Link)
	if err != nil {
		return ""
	}
	if filepath.IsAbs(dest) {
		if filepath.Dir(dest) != l.Dir {
			return ""
		}
	}
	return filepath.Base(dest)
}

// List returns the installed toolchains, oldest first.
func (l Layout) List() ([]Installed, error) {
	ents, err := os.ReadDir(l.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	active := l.Active()
	var out []Installed
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		v, t, ok := ParseName(e.Name())
		if !ok {
			continue
		}
		p := filepath.Join(l.Dir, e.Name())
		if _, err := os.Stat(filepath.Join(p, "bin", "go")); err != nil {
			continue
		}
		out = append(out, Installed{Name: e.Name(), Version: v, Foreign: t, Active: e.Name() == active, Path: p})
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].Version.Compare(out[j].Version); c != 0 {
			return c < 0
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Find returns the installed toolchain that name ("1.22.5", "go1.22.5",
// "1.22" for the newest installed 1.22.x, or a directory name) means.
func (l Layout) Find(name string) (Installed, error) {
	list, err := l.List()
	if err != nil {
		return Installed{}, err
	}
	for _, in := range list {
		if in.Name == name {
			return in, nil
		}
	}
	q, err := ParseQuery(name)
	if err != nil || q.Kind == QueryGoMod {
		return Installed{}, fmt.Errorf("%w %q: name an installed version (see pitstop go list)", ErrMalformed, name)
	}
	var best *Installed
	for i, in := range list {
		if in.Foreign != (Target{}) {
			continue
		}
		match := false
		switch q.Kind {
		case QueryExact:
			match = in.Version == q.Version
		case QueryMinor:
			match = in.Version.Major == q.Version.Major && in.Version.Minor == q.Version.Minor && in.Version.Stable()
		case QueryLatest:
			match = in.Version.Stable()
		}
		if match {
			best = &list[i]
		}
	}
	if best == nil {
		var have []string
		for _, in := range list {
			have = append(have, in.Name)
		}
		hint := "none is installed"
		if len(have) > 0 {
			hint = "installed: " + strings.Join(have, ", ")
		}
		return Installed{}, fmt.Errorf("%s is not installed in %s (%s): install it with `pitstop go install %s`", name, l.Dir, hint, name)
	}
	return *best, nil
}

// ErrLinkIsDir says Link is a real directory (a Go unpacked by hand),
// which pitstop will not replace.
var ErrLinkIsDir = errors.New("is a directory, not a link pitstop manages")

// Use points Link at the version directory name, atomically: a new link
// is made beside it and renamed over the old one, so a shell never sees a
// missing or half-made link.
func (l Layout) Use(name string) error {
	target := filepath.Join(l.Dir, name)
	if _, err := os.Stat(filepath.Join(target, "bin", "go")); err != nil {
		return fmt.Errorf("%s has no bin/go: reinstall it", target)
	}
	if fi, err := os.Lstat(l.Link); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("%s %w: move it away (e.g. mv %s %s.old) and retry", l.Link, ErrLinkIsDir, l.Link, l.Link)
	}
	dest := target
	if filepath.Dir(l.Link) == l.Dir {
		dest = name // relative: the tree can be moved or bind-mounted
	}
	if err := os.MkdirAll(filepath.Dir(l.Link), 0o755); err != nil {
		return err
	}
	tmp := l.Link + ".tmp-" + strconv.Itoa(os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(dest, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.Link); err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(l.Link))
}

// ErrActive says a toolchain is the one Link points at: Remove refuses it
// until another is used or none is (Unuse).
var ErrActive = errors.New("is the active toolchain")

// Unuse removes Link, so that no toolchain is active; it returns the name
// that was. No link is not an error (""); a real directory where the link
// goes is ErrLinkIsDir.
func (l Layout) Unuse() (string, error) {
	fi, err := os.Lstat(l.Link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", fmt.Errorf("%s %w: move it away (e.g. mv %s %s.old)", l.Link, ErrLinkIsDir, l.Link, l.Link)
	}
	unlock, err := l.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	was := l.Active()
	if err := os.Remove(l.Link); err != nil {
		return "", err
	}
	return was, atomicfile.SyncDir(filepath.Dir(l.Link))
}

// Remove deletes the installed toolchain name. The active one is refused.
// The tree is first renamed out of the way (so it disappears at once),
// then made writable (toolchains from a module cache are read-only) and
// removed.
func (l Layout) Remove(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("invalid version directory %q", name)
	}
	if l.Active() == name {
		return fmt.Errorf("%s %w", name, ErrActive)
	}
	dir := filepath.Join(l.Dir, name)
	if _, err := os.Lstat(dir); err != nil {
		return err
	}
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	trash := filepath.Join(l.Dir, ".remove-"+name+"-"+strconv.Itoa(os.Getpid()))
	if err := os.Rename(dir, trash); err != nil {
		return err
	}
	return RemoveTree(trash)
}

// RemoveTree removes dir even when parts of it are read-only.
func RemoveTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		if err != nil && d != nil && d.IsDir() {
			// An unreadable directory: open it up and walk it again.
			os.Chmod(p, 0o755)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// lock takes an exclusive lock on the layout for the life of an install,
// use or remove; it returns the unlock function.
func (l Layout) lock() (func(), error) {
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(l.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another pitstop go command is working in %s; wait for it to finish", l.Dir)
	}
	return func() { f.Close() }, nil
}
