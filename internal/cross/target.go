// Package cross builds Go programs with cgo for another Linux machine (a
// Raspberry Pi, from a laptop) and checks the result against that machine
// before it is copied over: architecture and float ABI, dynamic loader,
// every needed library and every versioned glibc symbol. It finds the C
// cross toolchain (Debian's cross gcc, clang with a sysroot, zig), plans
// its installation, and runs the result under qemu-user.
//
// The facts about architectures (triplets, loaders, float ABIs) come from
// host's architecture table; a board's facts come from a doctor capture
// read through host.
package cross

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Libc is the C library a build links against.
type Libc string

// The C libraries: glibc (dynamic, the board's), musl (linked statically)
// and static (glibc linked statically).
const (
	Glibc  Libc = "glibc"
	Musl   Libc = "musl"
	Static Libc = "static"
)

// ParseLibc returns the Libc of a name; "" is Glibc.
func ParseLibc(s string) (Libc, error) {
	switch l := Libc(strings.ToLower(strings.TrimSpace(s))); l {
	case "":
		return Glibc, nil
	case Glibc, Musl, Static:
		return l, nil
	}
	return "", &SettingError{Setting: "Libc", Value: s, Want: "glibc, musl or static"}
}

// Linked reports whether programs of this libc are linked statically.
func (l Libc) Linked() string {
	if l == Glibc {
		return "dynamic"
	}
	return "static"
}

// Target is the machine a build is for.
type Target struct {
	// Name is how it was given: pi5, linux/arm/v7, or a capture's file.
	Name string
	// Arch is the architecture table's row.
	Arch host.Arch
	// Libc is the C library to link against.
	Libc Libc
	// Glibc is the version of the board's glibc ("2.36"); "" when not
	// known, and then symbol versions are reported, not checked.
	Glibc string
	// About says what the target is, in a few words.
	About string
}

// Platform is the Go platform: linux/arm64, linux/arm/v6.
func (t Target) Platform() string {
	s := "linux/" + t.Arch.GOARCH
	if t.Arch.GOARM != 0 {
		s += "/v" + strconv.Itoa(t.Arch.GOARM)
	}
	return s
}

func (t Target) String() string {
	s := t.Platform() + " " + string(t.Libc)
	if t.Glibc != "" && t.Libc == Glibc {
		s += " " + t.Glibc
	}
	if t.Name != "" && t.Name != t.Platform() {
		s = t.Name + " (" + s + ")"
	}
	return s
}

type namedTarget struct {
	name, goarch string
	goarm        int
	about        string
}

var namedTargets = []namedTarget{
	{"pi5", "arm64", 0, "Raspberry Pi 5, 64-bit Raspberry Pi OS"},
	{"pi4", "arm64", 0, "Raspberry Pi 4 (or 3, Zero 2), 64-bit Raspberry Pi OS"},
	{"pi-32bit", "arm", 6, "32-bit Raspberry Pi OS (ARMv6 hard float, every Pi)"},
	{"linux/arm64", "arm64", 0, "64-bit ARM"},
	{"linux/arm/v7", "arm", 7, "32-bit ARMv7 hard float (Debian armhf)"},
	{"linux/arm/v6", "arm", 6, "32-bit ARMv6 hard float"},
	{"linux/amd64", "amd64", 0, "64-bit x86"},
}

// TargetNames lists the names ParseTarget knows.
func TargetNames() []string {
	out := make([]string, len(namedTargets))
	for i, n := range namedTargets {
		out[i] = n.name
	}
	return out
}

// ParseTarget returns the target of a name (pi5, pi4, pi-32bit,
// linux/arm64, linux/arm/v7, linux/arm/v6, linux/amd64; linux/arm is
// linux/arm/v7) linking against libc.
func ParseTarget(name string, libc Libc) (Target, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "linux/arm" {
		n = "linux/arm/v7"
	}
	for _, nt := range namedTargets {
		if nt.name == n {
			a, ok := host.ArchFor(nt.goarch, nt.goarm)
			if !ok {
				panic("cross: no architecture " + nt.goarch)
			}
			return Target{Name: nt.name, Arch: a, Libc: libc, About: nt.about}, nil
		}
	}
	return Target{}, &SettingError{Setting: "Target", Value: name, Want: strings.Join(TargetNames(), ", ")}
}

// TargetFromCapture returns the target a doctor capture (a .tar.gz or its
// directory) describes: the userland's architecture and float ABI (from
// /bin/sh's ELF header), ARMv6 when the CPU says so, and the C library
// and its version. libc "" takes the board's; Static links statically
// whatever the board has.
func TargetFromCapture(src string, libc Libc) (Target, error) {
	dir, cleanup, err := host.OpenCaptureTree(src)
	if err != nil {
		return Target{}, &SettingError{Setting: "Capture", Value: src, Err: err}
	}
	defer cleanup()
	r := host.At(dir)
	u, probe, err := r.Userland()
	if err != nil {
		return Target{}, &SettingError{Setting: "Capture", Value: src, Err: fmt.Errorf("no userland architecture in it: %w", err)}
	}
	a, ok := u.Arch()
	if !ok {
		return Target{}, &SettingError{Setting: "Capture", Value: src, Err: fmt.Errorf("%s is %s, which Go has no port for", probe, u)}
	}
	if a.GOARCH == "arm" && a.Float == host.FloatHard && r.ARMVersion() == 6 {
		a, _ = host.ArchFor("arm", 6)
	}
	li, err := host.CaptureLibc(dir)
	if err != nil {
		return Target{}, &SettingError{Setting: "Capture", Value: src, Err: err}
	}
	t := Target{Name: filepath.Base(src), Arch: a, Libc: libc, About: "the board of capture " + filepath.Base(src)}
	switch {
	case libc == "" && li.Kind == "musl":
		t.Libc = Musl
	case libc == "":
		t.Libc = Glibc
	}
	if li.Kind == "glibc" {
		t.Glibc = li.Version
	}
	return t, nil
}

// SettingError is a setting with a value that cannot be used.
type SettingError struct {
	Setting string // Target, Libc, Capture, Glibc
	Value   string
	Want    string // what would be accepted
	Err     error
}

func (e *SettingError) Error() string {
	s := fmt.Sprintf("%s %q", e.Setting, e.Value)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Want != "" {
		s += " unknown: want " + e.Want
	}
	return s
}

func (e *SettingError) Unwrap() error { return e.Err }

// ParseGlibc checks a glibc version as the user gives it: "2.31".
func ParseGlibc(v string) (string, error) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "GLIBC_")
	parts := strings.Split(v, ".")
	ok := len(parts) >= 2 && len(parts) <= 3
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil {
			ok = false
		}
	}
	if !ok {
		return "", &SettingError{Setting: "Glibc", Value: v, Want: "a version such as 2.36"}
	}
	return v, nil
}
