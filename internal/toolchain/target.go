package toolchain

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/pitstop-go/pitstop/internal/goversion"
	"github.com/pitstop-go/pitstop/internal/host"
)

// ModulePath is the module every Go release is published as.
const ModulePath = goversion.ToolchainModule

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
	return goversion.Toolchain{Go: v.Go(), GOOS: t.GOOS, GOARCH: t.GOARCH}.ModuleVersion()
}

// ParseModuleVersion splits a golang.org/toolchain version such as
// "v0.0.1-go1.22.5.linux-arm64" (goversion.ParseToolchain) into a Version
// and the target.
func ParseModuleVersion(mv string) (Version, Target, bool) {
	tc, ok := goversion.ParseToolchain(mv)
	if !ok {
		return Version{}, Target{}, false
	}
	v, err := ParseVersion(tc.Go)
	if err != nil {
		return Version{}, Target{}, false
	}
	return v, Target{GOOS: tc.GOOS, GOARCH: tc.GOARCH}, true
}

// NormalizeArch turns an architecture name such as "armv6l", "aarch64",
// "armhf" or "x86_64" into GOARCH, through host's architecture table; a
// name the table lacks comes back lower-cased.
func NormalizeArch(a string) string {
	if row, ok := host.ArchByName(a); ok {
		return row.GOARCH
	}
	return strings.ToLower(strings.TrimSpace(a))
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
		if arch := info.GOARCH(); arch != "" {
			return Target{GOOS: goos, GOARCH: arch}, nil
		}
		err = fmt.Errorf("%s: %s has no Go toolchain", p, info)
	}
	if root.IsLive() {
		// No readable ELF userland (a container with a static busybox
		// elsewhere?): the running program's own architecture.
		return Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}, nil
	}
	return Target{}, fmt.Errorf("cannot tell the userland architecture: %w", err)
}
