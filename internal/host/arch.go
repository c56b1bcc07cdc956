package host

import (
	"path"
	"slices"
	"strings"
)

// The architecture table: every name the tools around Go give each Linux
// architecture Go has a port for, in one place. Go says GOARCH=arm GOARM=6,
// the kernel says armv6l, the ELF header says EM_ARM with
// EF_ARM_ABI_FLOAT_HARD, Debian says armhf and arm-linux-gnueabihf, and the
// golang.org/toolchain module says linux-arm. Whatever in pitstop turns one
// of these names into another looks it up here, rather than keeping its
// own map; a fact a new command needs about a target (cross-building needs
// the triplet, the float ABI and the Debian architecture) is a new column.

// FloatABI is how 32-bit ARM code passes floating-point values: in VFP
// registers (hard) or in integer registers (soft). The two are not
// link-compatible, which is what makes Debian's armhf and armel two
// architectures of one CPU family. Other architectures have one ABI here.
type FloatABI string

// The float ABIs. The zero value, FloatNone, is every architecture but
// 32-bit ARM.
const (
	FloatNone FloatABI = ""
	FloatHard FloatABI = "hard" // e_flags has EF_ARM_ABI_FLOAT_HARD: armhf
	FloatSoft FloatABI = "soft" // armel (and every ARM ELF before EABI version 5)
)

// ELF e_flags bits of 32-bit ARM executables (the ARM ELF ABI).
const (
	efARMABIFloatHard = 0x400 // EF_ARM_ABI_FLOAT_HARD (EF_ARM_VFP_FLOAT before EABI 5)
)

// ELF machine numbers (e_machine) of the architectures Go has ports for.
const (
	em386       = 3
	emMIPS      = 8
	emPPC64     = 21
	emS390      = 22
	emARM       = 40
	emX86_64    = 62
	emAARCH64   = 183
	emRISCV     = 243
	emLoongArch = 258
)

// ELFMachine is how an ELF header names an architecture: its machine, word
// size and byte order (EM_MIPS and EM_PPC64 cover several GOARCHes).
type ELFMachine struct {
	Machine   uint16 // e_machine: 40 EM_ARM, 183 EM_AARCH64, 62 EM_X86_64, ...
	Class     int    // 32 or 64 (EI_CLASS)
	BigEndian bool   // EI_DATA is ELFDATA2MSB
}

// Arch is one row of the architecture table: one Linux architecture under
// all its names. For GOARCH=arm there is a row per userland Raspberry Pis
// run (GOARM 7 and 6, hard float) and one for armel (GOARM 5, soft float);
// a lookup by a name several rows share answers the first of them, the
// order of Arches.
type Arch struct {
	// GOARCH is Go's name: arm64, arm, amd64, 386, riscv64, ...
	GOARCH string
	// GOARM is the ARM architecture version the row's userland needs,
	// as Go's GOARM setting: 7, 6 or 5 (5 builds with software floating
	// point); 0 for other architectures.
	GOARM int
	// Uname are the machine names the kernel reports (`uname -m`,
	// /proc/sys/kernel/arch), the usual one first. They name the CPU and
	// kernel, not the userland: a 64-bit kernel under a 32-bit Raspberry
	// Pi OS says aarch64.
	Uname []string
	// ELF is the architecture's ELF machine, word size and byte order.
	ELF ELFMachine
	// Float is the float ABI of 32-bit ARM rows (from e_flags), FloatNone
	// for the others.
	Float FloatABI
	// Triplet is the Debian multiarch triplet (dpkg-architecture
	// -qDEB_HOST_MULTIARCH): the directory under /usr/lib and /lib holding
	// the architecture's libraries, and (except i386, whose cross
	// compilers say i686) the prefix of Debian's cross compilers,
	// aarch64-linux-gnu-gcc from gcc-aarch64-linux-gnu.
	Triplet string
	// Dpkg is the Debian architecture (dpkg --print-architecture): arm64,
	// armhf, armel, amd64, ... Debian's armhf is ARMv7; Raspberry Pi OS's
	// armhf is the same ABI built for ARMv6, the GOARM 6 row.
	Dpkg string
	// Toolchain is the platform of the golang.org/toolchain module
	// versions for this architecture (v0.0.1-go1.22.5.linux-arm64). Every
	// 32-bit ARM row says linux-arm: the release tarballs call that
	// toolchain armv6l, the module proxy knows only linux-arm.
	Toolchain string
	// GlibcLoader and MuslLoader are the dynamic loaders (PT_INTERP) of
	// the architecture's glibc and musl programs.
	GlibcLoader, MuslLoader string
	// MuslTriplet is musl's name of the target, the prefix of its cross
	// compilers (musl-cross-make's aarch64-linux-musl-gcc) and zig's
	// -target.
	MuslTriplet string
}

// CrossTool returns the command and the Debian package of one of
// Debian's cross tools (gcc, g++) for the row: aarch64-linux-gnu-gcc
// from gcc-aarch64-linux-gnu, i686-linux-gnu-gcc from gcc-i686-linux-gnu.
func (a Arch) CrossTool(tool string) (cmd, pkg string) {
	prefix := a.Triplet
	if a.GOARCH == "386" {
		prefix = "i686-linux-gnu"
	}
	return prefix + "-" + tool, tool + "-" + strings.ReplaceAll(prefix, "_", "-")
}

// arches is the table. Order matters where rows share a name: the first
// row is what the shared name means (GOARCH=arm alone is GOARM=7, as Go
// builds for another machine by default; armhf is Debian's, ARMv7).
var arches = []Arch{
	{GOARCH: "arm64", Uname: []string{"aarch64", "arm64"}, ELF: ELFMachine{emAARCH64, 64, false},
		Triplet: "aarch64-linux-gnu", Dpkg: "arm64", Toolchain: "linux-arm64",
		GlibcLoader: "/lib/ld-linux-aarch64.so.1", MuslLoader: "/lib/ld-musl-aarch64.so.1", MuslTriplet: "aarch64-linux-musl"},
	{GOARCH: "arm", GOARM: 7, Uname: []string{"armv7l", "armv8l"}, ELF: ELFMachine{emARM, 32, false}, Float: FloatHard,
		Triplet: "arm-linux-gnueabihf", Dpkg: "armhf", Toolchain: "linux-arm",
		GlibcLoader: "/lib/ld-linux-armhf.so.3", MuslLoader: "/lib/ld-musl-armhf.so.1", MuslTriplet: "arm-linux-musleabihf"},
	{GOARCH: "arm", GOARM: 6, Uname: []string{"armv6l"}, ELF: ELFMachine{emARM, 32, false}, Float: FloatHard,
		Triplet: "arm-linux-gnueabihf", Dpkg: "armhf", Toolchain: "linux-arm",
		GlibcLoader: "/lib/ld-linux-armhf.so.3", MuslLoader: "/lib/ld-musl-armhf.so.1", MuslTriplet: "arm-linux-musleabihf"},
	{GOARCH: "arm", GOARM: 5, Uname: []string{"armv5tel", "armv5tejl", "armv5l"}, ELF: ELFMachine{emARM, 32, false}, Float: FloatSoft,
		Triplet: "arm-linux-gnueabi", Dpkg: "armel", Toolchain: "linux-arm",
		GlibcLoader: "/lib/ld-linux.so.3", MuslLoader: "/lib/ld-musl-arm.so.1", MuslTriplet: "arm-linux-musleabi"},
	{GOARCH: "amd64", Uname: []string{"x86_64", "amd64"}, ELF: ELFMachine{emX86_64, 64, false},
		Triplet: "x86_64-linux-gnu", Dpkg: "amd64", Toolchain: "linux-amd64",
		GlibcLoader: "/lib64/ld-linux-x86-64.so.2", MuslLoader: "/lib/ld-musl-x86_64.so.1", MuslTriplet: "x86_64-linux-musl"},
	{GOARCH: "386", Uname: []string{"i686", "i586", "i486", "i386"}, ELF: ELFMachine{em386, 32, false},
		Triplet: "i386-linux-gnu", Dpkg: "i386", Toolchain: "linux-386",
		GlibcLoader: "/lib/ld-linux.so.2", MuslLoader: "/lib/ld-musl-i386.so.1", MuslTriplet: "i686-linux-musl"},
	{GOARCH: "riscv64", Uname: []string{"riscv64"}, ELF: ELFMachine{emRISCV, 64, false},
		Triplet: "riscv64-linux-gnu", Dpkg: "riscv64", Toolchain: "linux-riscv64",
		GlibcLoader: "/lib/ld-linux-riscv64-lp64d.so.1", MuslLoader: "/lib/ld-musl-riscv64.so.1", MuslTriplet: "riscv64-linux-musl"},
	{GOARCH: "ppc64le", Uname: []string{"ppc64le"}, ELF: ELFMachine{emPPC64, 64, false},
		Triplet: "powerpc64le-linux-gnu", Dpkg: "ppc64el", Toolchain: "linux-ppc64le",
		GlibcLoader: "/lib64/ld64.so.2", MuslLoader: "/lib/ld-musl-powerpc64le.so.1", MuslTriplet: "powerpc64le-linux-musl"},
	{GOARCH: "ppc64", Uname: []string{"ppc64"}, ELF: ELFMachine{emPPC64, 64, true},
		Triplet: "powerpc64-linux-gnu", Dpkg: "ppc64", Toolchain: "linux-ppc64",
		GlibcLoader: "/lib64/ld64.so.1", MuslLoader: "/lib/ld-musl-powerpc64.so.1", MuslTriplet: "powerpc64-linux-musl"},
	{GOARCH: "s390x", Uname: []string{"s390x"}, ELF: ELFMachine{emS390, 64, true},
		Triplet: "s390x-linux-gnu", Dpkg: "s390x", Toolchain: "linux-s390x",
		GlibcLoader: "/lib/ld64.so.1", MuslLoader: "/lib/ld-musl-s390x.so.1", MuslTriplet: "s390x-linux-musl"},
	{GOARCH: "loong64", Uname: []string{"loongarch64"}, ELF: ELFMachine{emLoongArch, 64, false},
		Triplet: "loongarch64-linux-gnu", Dpkg: "loong64", Toolchain: "linux-loong64",
		GlibcLoader: "/lib64/ld-linux-loongarch-lp64d.so.1", MuslLoader: "/lib/ld-musl-loongarch64.so.1", MuslTriplet: "loongarch64-linux-musl"},
	// The kernel says mips or mips64 whatever the byte order.
	{GOARCH: "mips64le", Uname: []string{"mips64"}, ELF: ELFMachine{emMIPS, 64, false},
		Triplet: "mips64el-linux-gnuabi64", Dpkg: "mips64el", Toolchain: "linux-mips64le",
		GlibcLoader: "/lib64/ld.so.1", MuslLoader: "/lib/ld-musl-mips64el.so.1", MuslTriplet: "mips64el-linux-musl"},
	{GOARCH: "mips64", Uname: []string{"mips64"}, ELF: ELFMachine{emMIPS, 64, true},
		Triplet: "mips64-linux-gnuabi64", Dpkg: "mips64", Toolchain: "linux-mips64",
		GlibcLoader: "/lib64/ld.so.1", MuslLoader: "/lib/ld-musl-mips64.so.1", MuslTriplet: "mips64-linux-musl"},
	{GOARCH: "mipsle", Uname: []string{"mips"}, ELF: ELFMachine{emMIPS, 32, false},
		Triplet: "mipsel-linux-gnu", Dpkg: "mipsel", Toolchain: "linux-mipsle",
		GlibcLoader: "/lib/ld.so.1", MuslLoader: "/lib/ld-musl-mipsel.so.1", MuslTriplet: "mipsel-linux-musl"},
	{GOARCH: "mips", Uname: []string{"mips"}, ELF: ELFMachine{emMIPS, 32, true},
		Triplet: "mips-linux-gnu", Dpkg: "mips", Toolchain: "linux-mips",
		GlibcLoader: "/lib/ld.so.1", MuslLoader: "/lib/ld-musl-mips.so.1", MuslTriplet: "mips-linux-musl"},
}

// Arches returns the architecture table, a copy the caller may change.
func Arches() []Arch {
	out := make([]Arch, len(arches))
	for i, a := range arches {
		a.Uname = append([]string(nil), a.Uname...)
		out[i] = a
	}
	return out
}

// archWhere returns the first row that match accepts.
func archWhere(match func(Arch) bool) (Arch, bool) {
	for _, a := range arches {
		if match(a) {
			a.Uname = append([]string(nil), a.Uname...)
			return a, true
		}
	}
	return Arch{}, false
}

// ArchFor returns the row of a GOARCH and, for arm, a GOARM (5, 6 or 7;
// 0 means the first arm row, GOARM 7).
func ArchFor(goarch string, goarm int) (Arch, bool) {
	return archWhere(func(a Arch) bool { return a.GOARCH == goarch && (goarm == 0 || a.GOARM == goarm) })
}

// ArchByUname returns the row of a kernel machine name (`uname -m`):
// aarch64 → arm64, armv7l → arm with GOARM 7, x86_64 → amd64. ARM names
// the table does not list (armv4tl, armv7b) go by their version number:
// 7 and up, 6, and below.
func ArchByUname(machine string) (Arch, bool) {
	if a, ok := archWhere(func(a Arch) bool { return slices.Contains(a.Uname, machine) }); ok {
		return a, true
	}
	if rest, ok := strings.CutPrefix(machine, "armv"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		n := 0
		for _, c := range rest {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		return ArchFor("arm", min(max(n, 5), 7))
	}
	return Arch{}, false
}

// ArchByELF returns the row of an ELF machine; for 32-bit ARM the float
// ABI picks armhf or armel (FloatNone: the first arm row).
func ArchByELF(m ELFMachine, float FloatABI) (Arch, bool) {
	return archWhere(func(a Arch) bool { return a.ELF == m && (float == FloatNone || a.Float == float) })
}

// ArchByTriplet returns the row of a Debian multiarch triplet
// (arm-linux-gnueabihf).
func ArchByTriplet(triplet string) (Arch, bool) {
	return archWhere(func(a Arch) bool { return a.Triplet == triplet })
}

// ArchByDpkg returns the row of a Debian architecture (armhf, ppc64el).
func ArchByDpkg(dpkg string) (Arch, bool) {
	return archWhere(func(a Arch) bool { return a.Dpkg == dpkg })
}

// ArchByToolchain returns the row of a golang.org/toolchain platform
// (linux-arm64, linux-arm).
func ArchByToolchain(platform string) (Arch, bool) {
	return archWhere(func(a Arch) bool { return a.Toolchain == platform })
}

// ArchByLoader returns the row whose glibc or musl dynamic loader is
// loader, or else has its file name (ld-linux-armhf.so.3, or a multiarch
// path such as /lib/aarch64-linux-gnu/ld-linux-aarch64.so.1). Some
// loaders serve several rows: /lib64/ld.so.1 both byte orders of mips64.
func ArchByLoader(loader string) (Arch, bool) {
	if a, ok := archWhere(func(a Arch) bool { return a.GlibcLoader == loader || a.MuslLoader == loader }); ok {
		return a, true
	}
	b := path.Base(loader)
	return archWhere(func(a Arch) bool { return path.Base(a.GlibcLoader) == b || path.Base(a.MuslLoader) == b })
}

// ArchByName returns the row of any name a user may type for an
// architecture: a GOARCH, a kernel machine name, a Debian architecture or
// triplet, a toolchain platform, or x86-64 as file(1) says it; case and
// surrounding space do not matter.
func ArchByName(name string) (Arch, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "x86-64" {
		n = "x86_64"
	}
	for _, lookup := range []func(string) (Arch, bool){
		func(s string) (Arch, bool) { return ArchFor(s, 0) },
		ArchByUname, ArchByDpkg, ArchByTriplet, ArchByToolchain,
	} {
		if a, ok := lookup(n); ok {
			return a, true
		}
	}
	return Arch{}, false
}
