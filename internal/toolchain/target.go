package toolchain

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// ModulePath is the module every Go release is published as.
const ModulePath = "golang.org/toolchain"

// moduleVersionPrefix starts every golang.org/toolchain version.
const moduleVersionPrefix = "v0.0.1-"

// Target is the machine a toolchain is built for, with Go's names
// (GOARCH "arm" is 32-bit ARM, whose tarballs are called armv6l).
type Target struct {
	GOOS, GOARCH string
}

// String returns "linux-arm64", the suffix of the toolchain's module version.
func (t Target) String() string { return t.GOOS + "-" + t.GOARCH }

// Slash returns "linux/arm64", as `go version` prints it.
func (t Target) Slash() string { return t.GOOS + "/" + t.GOARCH }

// ModuleVersion returns the golang.org/toolchain version of Go v for t:
// "v0.0.1-go1.22.5.linux-arm64".
func ModuleVersion(v Version, t Target) string {
	return moduleVersionPrefix + v.Go() + "." + t.String()
}

// ParseModuleVersion splits a golang.org/toolchain version such as
// "v0.0.1-go1.22.5.linux-arm64" into the Go version and the target.
func ParseModuleVersion(mv string) (Version, Target, bool) {
	rest, ok := strings.CutPrefix(mv, moduleVersionPrefix)
	if !ok {
		return Version{}, Target{}, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return Version{}, Target{}, false
	}
	goos, goarch, ok := strings.Cut(rest[i+1:], "-")
	if !ok || goos == "" || goarch == "" || strings.Contains(goarch, "-") {
		return Version{}, Target{}, false
	}
	v, err := ParseVersion(rest[:i])
	if err != nil || !strings.HasPrefix(rest[:i], "go") {
		return Version{}, Target{}, false
	}
	return v, Target{GOOS: goos, GOARCH: goarch}, true
}

// archAliases maps names users type (uname -m, dpkg, tarball names) to
// GOARCH.
var archAliases = map[string]string{
	"aarch64": "arm64", "armv6l": "arm", "armv7l": "arm", "armhf": "arm", "armel": "arm",
	"x86_64": "amd64", "x86-64": "amd64", "i386": "386", "i686": "386", "ppc64el": "ppc64le",
}

// NormalizeArch turns an architecture name such as "armv6l", "aarch64" or
// "x86_64" into GOARCH.
func NormalizeArch(a string) string {
	a = strings.ToLower(strings.TrimSpace(a))
	if g, ok := archAliases[a]; ok {
		return g
	}
	return a
}

// ELF machine numbers (the tests build headers with them).
const (
	emARM       = 40
	emX86_64    = 62
	em386       = 3
	emAARCH64   = 183
	emRISCV     = 243
	emPPC64     = 21
	emS390      = 22
	emLoongArch = 258
	emMIPS      = 8
)

// goarchBits lists the GOARCHes Go publishes toolchains for that an ELF
// header can name, with their word size.
var goarchBits = map[string]int{
	"amd64": 64, "386": 32, "arm64": 64, "arm": 32, "riscv64": 64, "ppc64le": 64, "ppc64": 64,
	"s390x": 64, "loong64": 64, "mips64le": 64, "mips64": 64, "mipsle": 32, "mips": 32,
}

// ArchFromELF returns the GOARCH of the ELF executable whose first bytes
// are hdr (at least 20 bytes), as host.ParseELFHeader reads it; a machine
// (or word size) Go has no toolchain for is an error.
func ArchFromELF(hdr []byte) (string, error) {
	info, err := host.ParseELFHeader(hdr)
	if err != nil {
		return "", fmt.Errorf("ELF: %w", err)
	}
	return goarchOf(info)
}

// goarchOf checks that Go publishes toolchains for an ELF machine and word
// size, and returns its GOARCH.
func goarchOf(info host.ELFInfo) (string, error) {
	if bits, ok := goarchBits[info.Machine]; !ok || bits != info.Class {
		return "", fmt.Errorf("ELF: machine %s (%d-bit) has no Go toolchain", info.Machine, info.Class)
	}
	return info.Machine, nil
}

// DetectTarget returns the target of the machine's userland: the
// architecture of its programs (the ELF header of /bin/sh), not the
// kernel's. A 32-bit Raspberry Pi OS on a 64-bit kernel is linux-arm
// although `uname -m` says aarch64. root nil means the live machine.
func DetectTarget(root *host.Root) (Target, error) {
	if root == nil {
		root = host.Live()
	}
	goos := runtime.GOOS
	if !root.IsLive() {
		goos = "linux"
	}
	info, p, err := root.Userland()
	if err == nil {
		var arch string
		if arch, err = goarchOf(info); err == nil {
			return Target{GOOS: goos, GOARCH: arch}, nil
		}
		err = fmt.Errorf("%s: %w", p, err)
	}
	if root.IsLive() {
		// No readable ELF userland (a container with a static busybox
		// elsewhere?): the running program's own architecture.
		return Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}, nil
	}
	return Target{}, fmt.Errorf("cannot tell the userland architecture: %w", err)
}
