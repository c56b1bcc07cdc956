package host

import (
	"reflect"
	"strings"
	"testing"
)

// TestArchTable states each row's facts once more, so that a change to the
// table is a change to this test too, and checks that a lookup by each of
// a row's names finds a row with the same facts.
func TestArchTable(t *testing.T) {
	type row struct {
		goarch        string
		goarm         int
		uname         string // space-separated
		machine       uint16
		class         int
		bigEndian     bool
		float         FloatABI
		triplet, dpkg string
		toolchain     string
		glibc, musl   string
	}
	want := []row{
		{"arm64", 0, "aarch64 arm64", 183, 64, false, FloatNone, "aarch64-linux-gnu", "arm64", "linux-arm64", "/lib/ld-linux-aarch64.so.1", "/lib/ld-musl-aarch64.so.1"},
		{"arm", 7, "armv7l armv8l", 40, 32, false, FloatHard, "arm-linux-gnueabihf", "armhf", "linux-arm", "/lib/ld-linux-armhf.so.3", "/lib/ld-musl-armhf.so.1"},
		{"arm", 6, "armv6l", 40, 32, false, FloatHard, "arm-linux-gnueabihf", "armhf", "linux-arm", "/lib/ld-linux-armhf.so.3", "/lib/ld-musl-armhf.so.1"},
		{"arm", 5, "armv5tel armv5tejl armv5l", 40, 32, false, FloatSoft, "arm-linux-gnueabi", "armel", "linux-arm", "/lib/ld-linux.so.3", "/lib/ld-musl-arm.so.1"},
		{"amd64", 0, "x86_64 amd64", 62, 64, false, FloatNone, "x86_64-linux-gnu", "amd64", "linux-amd64", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-musl-x86_64.so.1"},
		{"386", 0, "i686 i586 i486 i386", 3, 32, false, FloatNone, "i386-linux-gnu", "i386", "linux-386", "/lib/ld-linux.so.2", "/lib/ld-musl-i386.so.1"},
		{"riscv64", 0, "riscv64", 243, 64, false, FloatNone, "riscv64-linux-gnu", "riscv64", "linux-riscv64", "/lib/ld-linux-riscv64-lp64d.so.1", "/lib/ld-musl-riscv64.so.1"},
		{"ppc64le", 0, "ppc64le", 21, 64, false, FloatNone, "powerpc64le-linux-gnu", "ppc64el", "linux-ppc64le", "/lib64/ld64.so.2", "/lib/ld-musl-powerpc64le.so.1"},
		{"ppc64", 0, "ppc64", 21, 64, true, FloatNone, "powerpc64-linux-gnu", "ppc64", "linux-ppc64", "/lib64/ld64.so.1", "/lib/ld-musl-powerpc64.so.1"},
		{"s390x", 0, "s390x", 22, 64, true, FloatNone, "s390x-linux-gnu", "s390x", "linux-s390x", "/lib/ld64.so.1", "/lib/ld-musl-s390x.so.1"},
		{"loong64", 0, "loongarch64", 258, 64, false, FloatNone, "loongarch64-linux-gnu", "loong64", "linux-loong64", "/lib64/ld-linux-loongarch-lp64d.so.1", "/lib/ld-musl-loongarch64.so.1"},
		{"mips64le", 0, "mips64", 8, 64, false, FloatNone, "mips64el-linux-gnuabi64", "mips64el", "linux-mips64le", "/lib64/ld.so.1", "/lib/ld-musl-mips64el.so.1"},
		{"mips64", 0, "mips64", 8, 64, true, FloatNone, "mips64-linux-gnuabi64", "mips64", "linux-mips64", "/lib64/ld.so.1", "/lib/ld-musl-mips64.so.1"},
		{"mipsle", 0, "mips", 8, 32, false, FloatNone, "mipsel-linux-gnu", "mipsel", "linux-mipsle", "/lib/ld.so.1", "/lib/ld-musl-mipsel.so.1"},
		{"mips", 0, "mips", 8, 32, true, FloatNone, "mips-linux-gnu", "mips", "linux-mips", "/lib/ld.so.1", "/lib/ld-musl-mips.so.1"},
	}
	table := Arches()
	if len(table) != len(want) {
		t.Fatalf("%d rows, want %d", len(table), len(want))
	}
	for i, a := range table {
		got := row{a.GOARCH, a.GOARM, strings.Join(a.Uname, " "), a.ELF.Machine, a.ELF.Class, a.ELF.BigEndian, a.Float,
			a.Triplet, a.Dpkg, a.Toolchain, a.GlibcLoader, a.MuslLoader}
		if got != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want[i])
		}
		// Facts that follow from others.
		if a.Toolchain != "linux-"+a.GOARCH {
			t.Errorf("%s: toolchain platform %s", a.GOARCH, a.Toolchain)
		}
		if (a.GOARCH == "arm") != (a.GOARM != 0) || (a.GOARCH == "arm") != (a.Float != FloatNone) {
			t.Errorf("%s: GOARM %d, float %q", a.GOARCH, a.GOARM, a.Float)
		}

		// Every name of the row finds it, or an earlier row that shares
		// the name (GOARCH arm, armhf, mips64) with the same meaning.
		same := func(key string, b Arch, ok bool, f func(Arch) string) {
			t.Helper()
			if !ok || f(b) != f(a) {
				t.Errorf("row %d (%s): lookup by %s %q = %+v, %v", i, a.GOARCH, key, f(a), b, ok)
			}
		}
		goarch := func(a Arch) string { return a.GOARCH }
		b, ok := ArchFor(a.GOARCH, a.GOARM)
		if !ok || !reflect.DeepEqual(a, b) {
			t.Errorf("ArchFor(%s, %d) = %+v, %v", a.GOARCH, a.GOARM, b, ok)
		}
		b, ok = ArchFor(a.GOARCH, 0)
		same("GOARCH", b, ok, goarch)
		for _, u := range a.Uname {
			b, ok := ArchByUname(u)
			same("uname", b, ok, func(a Arch) string { return strings.Join(a.Uname, " ") })
		}
		b, ok = ArchByELF(a.ELF, a.Float)
		same("ELF", b, ok, func(a Arch) string { return a.Triplet })
		b, ok = ArchByTriplet(a.Triplet)
		same("triplet", b, ok, func(a Arch) string { return a.Dpkg })
		b, ok = ArchByDpkg(a.Dpkg)
		same("dpkg", b, ok, func(a Arch) string { return a.Triplet })
		b, ok = ArchByToolchain(a.Toolchain)
		same("toolchain", b, ok, goarch)
		b, ok = ArchByLoader(a.GlibcLoader)
		same("glibc loader", b, ok, func(a Arch) string { return a.GlibcLoader })
		b, ok = ArchByLoader(a.MuslLoader)
		same("musl loader", b, ok, func(a Arch) string { return a.Triplet })
		names := []string{a.GOARCH, a.Dpkg, a.Triplet, strings.ToUpper(a.Toolchain)}
		if _, isGOARCH := ArchFor(a.Uname[0], 0); !isGOARCH { // mips64 is a GOARCH first
			names = append(names, a.Uname[0])
		}
		for _, n := range names {
			b, ok := ArchByName(n)
			same("name", b, ok, goarch)
		}
	}

	// The copy is the caller's.
	table[0].Uname[0] = "changed"
	if a, _ := ArchFor("arm64", 0); a.Uname[0] != "aarch64" {
		t.Error("Arches returned the table itself")
	}
}

func TestArchLookups(t *testing.T) {
	for _, tt := range []struct {
		name        string
		a           Arch
		ok          bool
		goarch, dpk string
		goarm       int
	}{
		{"uname aarch64", must(ArchByUname("aarch64")), true, "arm64", "arm64", 0},
		{"uname armv6l", must(ArchByUname("armv6l")), true, "arm", "armhf", 6},
		{"uname armv7l", must(ArchByUname("armv7l")), true, "arm", "armhf", 7},
		{"uname armv4tl", must(ArchByUname("armv4tl")), true, "arm", "armel", 5},
		{"uname armv7b", must(ArchByUname("armv7b")), true, "arm", "armhf", 7},
		{"uname armv9l", must(ArchByUname("armv9l")), true, "arm", "armhf", 7},
		{"uname i686", must(ArchByUname("i686")), true, "386", "i386", 0},
		{"uname armvx", must(ArchByUname("armvx")), false, "", "", 0},
		{"uname sparc64", must(ArchByUname("sparc64")), false, "", "", 0},
		{"dpkg armhf", must(ArchByDpkg("armhf")), true, "arm", "armhf", 7},
		{"dpkg armel", must(ArchByDpkg("armel")), true, "arm", "armel", 5},
		{"GOARCH arm", must(ArchFor("arm", 0)), true, "arm", "armhf", 7},
		{"GOARCH arm GOARM 6", must(ArchFor("arm", 6)), true, "arm", "armhf", 6},
		{"GOARCH arm GOARM 8", must(ArchFor("arm", 8)), false, "", "", 0},
		{"GOARCH wasm", must(ArchFor("wasm", 0)), false, "", "", 0},
		{"ELF arm soft", must(ArchByELF(ELFMachine{emARM, 32, false}, FloatSoft)), true, "arm", "armel", 5},
		{"ELF arm hard", must(ArchByELF(ELFMachine{emARM, 32, false}, FloatHard)), true, "arm", "armhf", 7},
		{"ELF arm big-endian", must(ArchByELF(ELFMachine{emARM, 32, true}, FloatHard)), false, "", "", 0},
		{"loader ld-linux.so.3", must(ArchByLoader("ld-linux.so.3")), true, "arm", "armel", 5},
		{"loader ld-musl-armhf.so.1", must(ArchByLoader("/lib/ld-musl-armhf.so.1")), true, "arm", "armhf", 7},
		{"loader /lib64/ld64.so.1", must(ArchByLoader("/lib64/ld64.so.1")), true, "ppc64", "ppc64", 0},
		{"loader /lib/ld64.so.1", must(ArchByLoader("/lib/ld64.so.1")), true, "s390x", "s390x", 0},
		{"loader multiarch path", must(ArchByLoader("/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")), true, "arm64", "arm64", 0},
		{"toolchain linux-armv6l", must(ArchByToolchain("linux-armv6l")), false, "", "", 0},
		{"name armv6l", must(ArchByName("armv6l")), true, "arm", "armhf", 6},
		{"name ARMHF", must(ArchByName(" ARMHF ")), true, "arm", "armhf", 7},
		{"name x86-64", must(ArchByName("x86-64")), true, "amd64", "amd64", 0},
		{"name ppc64el", must(ArchByName("ppc64el")), true, "ppc64le", "ppc64el", 0},
		{"name bogus", must(ArchByName("bogus-arch")), false, "", "", 0},
	} {
		if (tt.a.GOARCH != "") != tt.ok || tt.a.GOARCH != tt.goarch || tt.a.Dpkg != tt.dpk || tt.a.GOARM != tt.goarm {
			t.Errorf("%s: %+v; want %s %s GOARM %d", tt.name, tt.a, tt.goarch, tt.dpk, tt.goarm)
		}
	}
}

// must drops a lookup's ok: a missing row is the zero Arch.
func must(a Arch, _ bool) Arch { return a }

func TestCrossToolAndMuslTriplet(t *testing.T) {
	for _, c := range []struct {
		goarch         string
		goarm          int
		cmd, pkg, musl string
	}{
		{"arm64", 0, "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu", "aarch64-linux-musl"},
		{"arm", 6, "arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf", "arm-linux-musleabihf"},
		{"amd64", 0, "x86_64-linux-gnu-gcc", "gcc-x86-64-linux-gnu", "x86_64-linux-musl"},
		{"386", 0, "i686-linux-gnu-gcc", "gcc-i686-linux-gnu", "i686-linux-musl"},
	} {
		a, _ := ArchFor(c.goarch, c.goarm)
		cmd, pkg := a.CrossTool("gcc")
		if cmd != c.cmd || pkg != c.pkg || a.MuslTriplet != c.musl {
			t.Errorf("%s/%d: %s %s %s; want %s %s %s", c.goarch, c.goarm, cmd, pkg, a.MuslTriplet, c.cmd, c.pkg, c.musl)
		}
	}
	for _, a := range Arches() {
		if a.MuslTriplet == "" {
			t.Errorf("%s/%d has no musl triplet", a.GOARCH, a.GOARM)
		}
	}
}
