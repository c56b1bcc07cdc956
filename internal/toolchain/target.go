package toolchain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
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

// ELF header constants used by DetectTarget.
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

// ArchFromELF returns the GOARCH of the ELF executable whose first bytes
// are hdr (at least 20 bytes).
func ArchFromELF(hdr []byte) (string, error) {
	if len(hdr) < 20 || string(hdr[:4]) != "\x7fELF" {
		return "", errors.New("not an ELF file")
	}
	class, data := hdr[4], hdr[5]
	var bo binary.ByteOrder
	switch data {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return "", fmt.Errorf("ELF: unknown data encoding %d", data)
	}
	if class != 1 && class != 2 {
		return "", fmt.Errorf("ELF: unknown class %d", class)
	}
	is64 := class == 2
	m := bo.Uint16(hdr[18:20])
	switch {
	case m == emX86_64 && is64:
		return "amd64", nil
	case m == em386 && !is64:
		return "386", nil
	case m == emAARCH64 && is64:
		return "arm64", nil
	case m == emARM && !is64:
		return "arm", nil
	case m == emRISCV && is64:
		return "riscv64", nil
	case m == emPPC64 && is64 && data == 1:
		return "ppc64le", nil
	case m == emPPC64 && is64:
		return "ppc64", nil
	case m == emS390 && is64:
		return "s390x", nil
	case m == emLoongArch && is64:
		return "loong64", nil
	case m == emMIPS && is64 && data == 1:
		return "mips64le", nil
	case m == emMIPS && is64:
		return "mips64", nil
	case m == emMIPS && data == 1:
		return "mipsle", nil
	case m == emMIPS:
		return "mips", nil
	}
	return "", fmt.Errorf("ELF: machine %d (%d-bit) has no Go toolchain", m, map[bool]int{false: 32, true: 64}[is64])
}

// userlandProbes are executables every Linux userland has; the first that
// reads as ELF tells its architecture.
var userlandProbes = []string{"/bin/sh", "/usr/bin/env", "/bin/ls", "/usr/bin/ls"}

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
	var errs []error
	for _, p := range userlandProbes {
		hdr, err := readHead(root.Path(p), 64)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		arch, err := ArchFromELF(hdr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		return Target{GOOS: goos, GOARCH: arch}, nil
	}
	if root.IsLive() {
		// No readable ELF userland (a container with a static busybox
		// elsewhere?): the running program's own architecture.
		return Target{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}, nil
	}
	return Target{}, fmt.Errorf("cannot tell the userland architecture: %w", errors.Join(errs...))
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return b[:m], nil
}
