// Package goversion reads and writes the versions of golang.org/toolchain,
// the module every Go release is published as: "v0.0.1-go1.22.5.linux-arm64"
// is go1.22.5 built for linux/arm64, as cmd/go names and fetches it. The Go
// version inside is compared, validated and cut to its language version
// with the standard library's go/version; this package holds only what
// go/version lacks, once for pitstop go, the doctor and the proxy's warm.
package goversion

import (
	"go/version"
	"strings"
)

// ToolchainModule is the module path of Go's toolchains.
const ToolchainModule = "golang.org/toolchain"

// modulePrefix starts every golang.org/toolchain version.
const modulePrefix = "v0.0.1-"

// Toolchain is one golang.org/toolchain version: a Go release built for one
// platform.
type Toolchain struct {
	// Go is the release, "go1.22.5": valid for go/version, without a
	// custom suffix.
	Go string
	// GOOS and GOARCH are the platform, Go's names: 32-bit ARM is "arm"
	// (the release tarballs' "armv6l" is no module version).
	GOOS, GOARCH string
}

// Platform returns "linux-arm64", the module version's suffix.
func (t Toolchain) Platform() string { return t.GOOS + "-" + t.GOARCH }

// ModuleVersion returns "v0.0.1-go1.22.5.linux-arm64".
func (t Toolchain) ModuleVersion() string { return modulePrefix + t.Go + "." + t.Platform() }

// ParseToolchain reads a golang.org/toolchain version such as
// "v0.0.1-go1.22.5.linux-arm64"; ok is false for anything else. Whatever it
// accepts, ModuleVersion writes back unchanged.
func ParseToolchain(mv string) (t Toolchain, ok bool) {
	rest, ok := strings.CutPrefix(mv, modulePrefix)
	if !ok {
		return Toolchain{}, false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return Toolchain{}, false
	}
	t.Go = rest[:i]
	if t.GOOS, t.GOARCH, ok = ParsePlatform(rest[i+1:]); !ok {
		return Toolchain{}, false
	}
	if !version.IsValid(t.Go) || strings.ContainsAny(t.Go, "-+") {
		return Toolchain{}, false
	}
	return t, true
}

// ParsePlatform splits a toolchain platform, "linux-arm64", into GOOS and
// GOARCH: two names of lower-case letters and digits.
func ParsePlatform(p string) (goos, goarch string, ok bool) {
	goos, goarch, ok = strings.Cut(p, "-")
	if !ok || !isName(goos) || !isName(goarch) {
		return "", "", false
	}
	return goos, goarch, true
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// IsRelease reports whether v ("go1.22.5") names a Go release: valid for
// go/version, not an alpha, beta or release candidate, no custom suffix,
// and not a bare language version from Go 1.21 on ("go1.22" is the
// language, go1.22.0 its first release; before 1.21, "go1.20" was the
// release).
func IsRelease(v string) bool {
	if !version.IsValid(v) || strings.ContainsAny(strings.TrimPrefix(v, "go"), "abcdefghijklmnopqrstuvwxyz-+") {
		return false
	}
	return version.Lang(v) != v || version.Compare(v, "go1.21") < 0
}
