package cross

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

// nativeTarget is the build machine's own architecture with glibc.
func nativeTarget(t testing.TB) Target {
	t.Helper()
	u, _, err := host.Live().Userland()
	if err != nil {
		t.Fatal(err)
	}
	a, ok := u.Arch()
	if !ok {
		t.Fatalf("userland %s not in the table", u)
	}
	return Target{Name: "native", Arch: a, Libc: Glibc}
}

// readelfTooNew lists name@GLIBC_x.y of the dynamic symbols readelf
// (binutils, installed with gcc) says the program imports with a glibc
// version newer than max: the check's answer, found another way.
func readelfTooNew(t *testing.T, prog, max string) []string {
	t.Helper()
	out, err := exec.Command("readelf", "--dyn-syms", "-W", prog).Output()
	if err != nil {
		t.Skipf("readelf: %v (binutils comes with gcc, which test.sh installs)", err)
	}
	re := regexp.MustCompile(`UND ([A-Za-z0-9_]+)@(GLIBC_[0-9.]+)`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		v, _ := host.GlibcSymbolVersion(m[2])
		if host.CompareVersions(v, max) > 0 && !slices.Contains(got, m[1]+"@"+m[2]) {
			got = append(got, m[1]+"@"+m[2])
		}
	}
	slices.Sort(got)
	return got
}

// TestCheckRefusesOlderGlibc: a program built against this machine's glibc
// (2.36 on Debian 12) checked against glibc 2.31 is refused, and the
// refusal names exactly the symbols (and versions) newer than 2.31, as
// readelf lists them; against this machine's own glibc it fits.
func TestCheckRefusesOlderGlibc(t *testing.T) {
	tg := nativeTarget(t)
	tc := needCross(t, tg)
	prog := build(t, tg, tc, copyModule(t, "libgcc"), "-o", "prog")

	tg.Glibc = "2.31"
	r, err := Check(prog, tg)
	if err != nil {
		t.Fatal(err)
	}
	want := readelfTooNew(t, prog, "2.31")
	if len(want) == 0 {
		t.Fatalf("readelf finds no symbol newer than glibc 2.31 in a program built against this machine's glibc")
	}
	var got []string
	for _, n := range r.TooNew {
		got = append(got, n.Symbol+"@"+n.Version)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("too new for 2.31: %v\nreadelf says: %v", got, want)
	}
	f, _ := finding(r, "glibc")
	if r.Fits() || f.Level != Fail || !strings.Contains(f.Text, "the target has 2.31") {
		t.Fatalf("glibc finding %+v, fits %v", f, r.Fits())
	}
	for _, s := range want {
		if !strings.Contains(f.Text, s) {
			t.Errorf("the refusal does not name %s: %s", s, f.Text)
		}
	}
	t.Logf("%s", f.Text)

	ldd, err := exec.Command("ldd", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	tg.Glibc = host.ParseGlibcVersion(string(ldd))
	r, err = Check(prog, tg)
	if err != nil || !r.Fits() || len(r.TooNew) != 0 {
		t.Errorf("against this machine's glibc %s: %v %+v", tg.Glibc, err, r.Findings)
	}
}

// TestCheckRefusesWrongMachineFloatAndLoader: an arm64 program checked as
// arm/v7 is the wrong machine; an armhf program whose e_flags say soft
// float is the wrong float ABI; a program whose loader is musl's is
// refused for a glibc board.
func TestCheckRefusesWrongMachineFloatAndLoader(t *testing.T) {
	arm64 := mustTarget(t, "linux/arm64", Glibc)
	armhf := mustTarget(t, "linux/arm/v7", Glibc)
	tc64, tc32 := needCross(t, arm64), needCross(t, armhf)
	dir := copyModule(t, "libgcc")
	p64 := build(t, arm64, tc64, dir, "-o", "p64")
	p32 := build(t, armhf, tc32, dir, "-o", "p32")

	r, err := Check(p64, armhf)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := finding(r, "machine"); f.Level != Fail || !strings.Contains(f.Text, "64-bit arm64") || !strings.Contains(f.Text, "armhf") {
		t.Errorf("arm64 program against arm/v7: %+v", f)
	}

	b, err := os.ReadFile(p32)
	if err != nil {
		t.Fatal(err)
	}
	flags := binary.LittleEndian.Uint32(b[36:40])
	binary.LittleEndian.PutUint32(b[36:40], flags&^0x400) // clear EF_ARM_ABI_FLOAT_HARD
	soft := filepath.Join(dir, "p32-soft")
	if err := testexe.WriteFile(soft, b, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err = Check(soft, armhf)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := finding(r, "float ABI"); f.Level != Fail || !strings.HasPrefix(f.Text, "soft float") {
		t.Errorf("soft-float program against armhf: %+v", r.Findings)
	}

	musl := build(t, arm64, tc64, dir, "-o", "p64-musl-loader", "-ldflags=-I "+arm64.Arch.MuslLoader)
	if d, err := host.ReadELFDeps(musl); err != nil || d.Interp != arm64.Arch.MuslLoader {
		t.Fatalf("the linker did not take -I: %q %v", d.Interp, err)
	}
	r, err = Check(musl, arm64)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := finding(r, "interpreter"); f.Level != Fail || !strings.Contains(f.Text, "a musl program") {
		t.Errorf("musl loader against glibc: %+v", f)
	}
	r, err = Check(musl, Target{Arch: arm64.Arch, Libc: Musl})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := finding(r, "libc.so.6"); f.Level != Fail {
		t.Errorf("glibc's libc.so.6 against a musl target: %+v", r.Findings)
	}
}

// TestFailedBuildLeavesNothing: a package that does not compile is a
// *BuildError with the compiler's message, and neither the output nor a
// temporary file is left; an earlier output stays as it was.
func TestFailedBuildLeavesNothing(t *testing.T) {
	tg := mustTarget(t, "linux/arm64", Glibc)
	tc := needCross(t, tg)
	dir := copyModule(t, "libgcc")
	if err := os.WriteFile(filepath.Join(dir, "bad.c"), []byte("int broken( {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "prog")
	if err := testexe.WriteFile(old, []byte("earlier build"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := (&Build{Target: tg, Toolchain: tc, Dir: dir, Args: []string{"-o", "prog", "."}}).Run(t.Context())
	var be *BuildError
	if !errors.As(err, &be) || !strings.Contains(be.Output, "bad.c") {
		t.Fatalf("err = %v, want a BuildError naming bad.c", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "pitstop") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if b, _ := os.ReadFile(old); string(b) != "earlier build" {
		t.Errorf("the earlier output changed: %q", b)
	}
}

func TestParseTargetAndLibc(t *testing.T) {
	for name, want := range map[string]string{"pi5": "linux/arm64", "pi4": "linux/arm64", "pi-32bit": "linux/arm/v6",
		"linux/arm": "linux/arm/v7", "linux/arm/v6": "linux/arm/v6", "LINUX/AMD64": "linux/amd64"} {
		tg, err := ParseTarget(name, Glibc)
		if err != nil || tg.Platform() != want {
			t.Errorf("ParseTarget(%q) = %s, %v; want %s", name, tg.Platform(), err, want)
		}
	}
	var se *SettingError
	if _, err := ParseTarget("pi6", Glibc); !errors.As(err, &se) || se.Setting != "Target" || !strings.Contains(err.Error(), "pi5") {
		t.Errorf("ParseTarget(pi6) = %v", err)
	}
	if _, err := ParseLibc("uclibc"); !errors.As(err, &se) || se.Setting != "Libc" {
		t.Errorf("ParseLibc(uclibc) = %v", err)
	}
	if v, err := ParseGlibc("GLIBC_2.31"); v != "2.31" || err != nil {
		t.Errorf("ParseGlibc(GLIBC_2.31) = %q, %v", v, err)
	}
	if _, err := ParseGlibc("bookworm"); err == nil {
		t.Error("ParseGlibc(bookworm) accepted")
	}
}

// TestTargetFromCapture reads the doctor's captures of real boards.
func TestTargetFromCapture(t *testing.T) {
	for _, c := range []struct{ file, platform, glibc string }{
		{"pi5-sd.tar.gz", "linux/arm64", "2.36"},
		{"pi4-32bit.tar.gz", "linux/arm/v7", "2.36"},
		{"x86-debian.tar.gz", "linux/amd64", ""},
	} {
		tg, err := TargetFromCapture(filepath.Join("..", "doctor", "testdata", c.file), "")
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if tg.Platform() != c.platform || tg.Libc != Glibc || (c.glibc != "" && tg.Glibc != c.glibc) {
			t.Errorf("%s: %s %s %q; want %s glibc %s", c.file, tg.Platform(), tg.Libc, tg.Glibc, c.platform, c.glibc)
		}
	}
	var se *SettingError
	if _, err := TargetFromCapture(filepath.Join(t.TempDir(), "none.tar.gz"), ""); !errors.As(err, &se) || se.Setting != "Capture" {
		t.Errorf("missing capture: %v", err)
	}
}

// TestFindMissingToolchain: with no cross compiler on PATH, Find names the
// exact apt-get command; with one, it is used with its sysroot; ARMv6 on
// Debian's armhf gcc gets the ARMv6 flags and says what that means.
func TestFindMissingToolchain(t *testing.T) {
	none := Finder{HostGOARCH: "amd64", LookPath: func(string) (string, error) { return "", exec.ErrNotFound }}
	_, err := none.Find(mustTarget(t, "pi5", Glibc))
	var me *MissingToolchainError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "sudo apt-get install -y gcc-aarch64-linux-gnu g++-aarch64-linux-gnu") {
		t.Errorf("err = %v", err)
	}
	_, err = none.Find(mustTarget(t, "pi5", Musl))
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "zig") {
		t.Errorf("musl: err = %v", err)
	}
	some := Finder{HostGOARCH: "amd64", LookPath: func(n string) (string, error) {
		if strings.HasPrefix(n, "arm-linux-gnueabihf-") {
			return "/usr/bin/" + n, nil
		}
		return "", exec.ErrNotFound
	}}
	tc, err := some.Find(mustTarget(t, "pi-32bit", Glibc))
	if err != nil || tc.CC != "/usr/bin/arm-linux-gnueabihf-gcc" || tc.CXX != "/usr/bin/arm-linux-gnueabihf-g++" ||
		tc.Sysroot != "/usr/arm-linux-gnueabihf" || !slices.Contains(tc.CFlags, "-march=armv6") || !strings.Contains(tc.Note, "ARMv7") {
		t.Errorf("pi-32bit: %+v %v", tc, err)
	}
	env := Env(mustTarget(t, "pi-32bit", Glibc), tc)
	for _, kv := range []string{"GOARCH=arm", "GOARM=6", "CGO_ENABLED=1", "CC=/usr/bin/arm-linux-gnueabihf-gcc",
		"PKG_CONFIG_LIBDIR=/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig"} {
		if !slices.Contains(env, kv) {
			t.Errorf("Env lacks %s: %v", kv, env)
		}
	}
}

// TestInstallPlan: the plan installs what is missing, adds the target's
// dpkg architecture for a target library, and names the library with it.
func TestInstallPlan(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg: not a Debian system")
	}
	tg := mustTarget(t, "pi5", Glibc)
	hostArch := runtime.GOARCH
	if u, _, err := hostUserland(); err == nil {
		hostArch = u
	}
	p := InstallPlan(tg, []string{"libpitstop-test-dev"}, hostArch)
	var text []string
	for _, s := range p.Steps {
		text = append(text, s.Target)
	}
	all := strings.Join(text, "\n")
	if hostArch != "arm64" && !strings.Contains(all, "libpitstop-test-dev:arm64") {
		t.Errorf("plan does not install the library for arm64:\n%s", all)
	}
	if hostArch != "arm64" && !hasForeignArch("arm64") && !strings.Contains(all, "dpkg --add-architecture arm64") {
		t.Errorf("plan does not add the arm64 architecture:\n%s", all)
	}
	if !strings.Contains(all, "apt-get update") || strings.Contains(all, "gcc-aarch64-linux-gnu") == dpkgInstalled("gcc-aarch64-linux-gnu") {
		t.Errorf("plan:\n%s", all)
	}
}

func hostUserland() (string, string, error) {
	u, p, err := host.Live().Userland()
	return u.GOARCH(), p, err
}
