package cross

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// Toolchain is the C (and C++) compiler a cgo build for a target uses.
type Toolchain struct {
	// Kind is gcc (Debian's cross gcc, or the native one), clang, zig or
	// musl-gcc.
	Kind string
	// CC and CXX are the commands as the go command takes them in CC and
	// CXX (words separated by spaces). CXX is "" when no C++ compiler
	// came with the C one.
	CC, CXX string
	// CFlags are the target's code generation flags (ARMv6 on a compiler
	// that defaults to ARMv7).
	CFlags []string
	// Sysroot holds the target's C library for qemu-user (-L): Debian's
	// /usr/aarch64-linux-gnu; "/" for a native compiler, and for a
	// multiarch system that has the target's libc6 (libc6:arm64) in
	// /usr/lib/<triplet> (see RunSysroot).
	Sysroot string
	// Note is what else to know about this toolchain, "" when nothing.
	Note string
}

// Finder looks for toolchains; its zero value looks at the live system.
type Finder struct {
	// LookPath finds a command (exec.LookPath when nil).
	LookPath func(string) (string, error)
	// HostGOARCH is the build machine's architecture (the userland's, from
	// /bin/sh, when "").
	HostGOARCH string
}

func (f Finder) look(name string) (string, bool) {
	lp := f.LookPath
	if lp == nil {
		lp = exec.LookPath
	}
	p, err := lp(name)
	return p, err == nil
}

// BuildGOARCH returns the build machine's architecture: its userland's
// (the ELF header of /bin/sh), which is also right when this process
// itself runs under emulation.
func (f Finder) BuildGOARCH() string {
	if f.HostGOARCH != "" {
		return f.HostGOARCH
	}
	if u, _, err := host.Live().Userland(); err == nil {
		return u.GOARCH()
	}
	return ""
}

// zigTarget is zig's -target for t: the Debian or musl triplet, and for
// glibc its version (aarch64-linux-gnu.2.31 links against glibc 2.31).
func zigTarget(t Target) string {
	if t.Libc == Musl {
		return t.Arch.MuslTriplet
	}
	s := t.Arch.Triplet
	if t.Glibc != "" {
		s += "." + t.Glibc
	}
	return s
}

// armv6Flags make an ARMv7-defaulting armhf compiler emit ARMv6 code.
var armv6Flags = []string{"-marm", "-march=armv6", "-mfpu=vfp", "-mfloat-abi=hard"}

// Find returns the toolchain for t: for glibc (dynamic or static) the
// native gcc when t is the build machine's architecture, else Debian's
// <triplet>-gcc, else clang with Debian's cross sysroot, else zig; for
// musl a <musl-triplet>-gcc, musl-gcc (native), or zig. When there is
// none it returns a *MissingToolchainError naming what to install.
func (f Finder) Find(t Target) (Toolchain, error) {
	a := t.Arch
	sysroot := RunSysroot(a)
	native := a.GOARCH == f.BuildGOARCH()
	var tc Toolchain
	if t.Libc == Musl {
		mt := a.MuslTriplet
		if p, ok := f.look(mt + "-gcc"); ok {
			tc = Toolchain{Kind: "gcc", CC: p}
			if px, ok := f.look(mt + "-g++"); ok {
				tc.CXX = px
			}
		} else if p, ok := f.look("musl-gcc"); ok && native {
			tc = Toolchain{Kind: "musl-gcc", CC: p, Note: "musl-gcc has no C++ compiler"}
		} else if p, ok := f.look("zig"); ok {
			tc = Toolchain{Kind: "zig", CC: p + " cc -target " + zigTarget(t), CXX: p + " c++ -target " + zigTarget(t)}
		} else {
			return Toolchain{}, &MissingToolchainError{Target: t}
		}
	} else {
		switch {
		case native:
			gcc, ok := f.look("gcc")
			if !ok {
				return Toolchain{}, &MissingToolchainError{Target: t, Packages: []string{"gcc", "g++"}}
			}
			tc = Toolchain{Kind: "gcc", CC: gcc, Sysroot: "/"}
			if p, ok := f.look("g++"); ok {
				tc.CXX = p
			}
		default:
			gcc, gccPkg := a.CrossTool("gcc")
			gxx, gxxPkg := a.CrossTool("g++")
			if p, ok := f.look(gcc); ok {
				tc = Toolchain{Kind: "gcc", CC: p, Sysroot: sysroot}
				if px, ok := f.look(gxx); ok {
					tc.CXX = px
				}
				break
			}
			if p, ok := f.look("clang"); ok && dirExists("/usr/"+a.Triplet) {
				cc := p + " --target=" + a.Triplet
				if _, ok := f.look("ld.lld"); ok {
					cc += " -fuse-ld=lld"
				}
				tc = Toolchain{Kind: "clang", CC: cc, Sysroot: sysroot}
				if px, ok := f.look("clang++"); ok {
					tc.CXX = strings.Replace(cc, p, px, 1)
				}
				break
			}
			if p, ok := f.look("zig"); ok {
				tc = Toolchain{Kind: "zig", CC: p + " cc -target " + zigTarget(t), CXX: p + " c++ -target " + zigTarget(t)}
				if dirExists(sysroot) {
					tc.Sysroot = sysroot
				}
				break
			}
			return Toolchain{}, &MissingToolchainError{Target: t, Packages: []string{gccPkg, gxxPkg}}
		}
	}
	if a.GOARCH == "arm" && a.GOARM == 6 && tc.Kind != "zig" {
		tc.CFlags = armv6Flags
		tc.Note = "Debian's armhf C library and libgcc are built for ARMv7: the program runs on a Pi 2 or later; for a Pi 1 or Zero build with zig or a Raspberry Pi OS sysroot"
	}
	return tc, nil
}

// RunSysroot is where qemu-user finds the target's loader and
// libraries: "/" when the target's glibc is installed as a multiarch
// package (libc6:arm64, in /usr/lib/aarch64-linux-gnu), else Debian's
// cross sysroot /usr/<triplet> (libc6-arm64-cross). Both at once do not
// mix: with -L /usr/aarch64-linux-gnu the loader comes from the cross
// package but the system's /etc/ld.so.cache points it at the multiarch
// libc.so.6, and a loader and libc of different builds hang or crash.
func RunSysroot(a host.Arch) string {
	for _, d := range []string{"/usr/lib/", "/lib/"} {
		if fi, err := os.Stat(d + a.Triplet + "/libc.so.6"); err == nil && fi.Mode().IsRegular() {
			return "/"
		}
	}
	return "/usr/" + a.Triplet
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// MissingToolchainError says that no C compiler for a target is installed
// and what would install one.
type MissingToolchainError struct {
	Target   Target
	Packages []string // Debian packages; none for musl (Debian packages no musl cross compiler)
}

func (e *MissingToolchainError) Error() string {
	if len(e.Packages) == 0 {
		return fmt.Sprintf("no musl C compiler for %s: install zig, or a musl cross toolchain (%s-gcc; Debian packages none)", e.Target.Platform(), e.Target.Arch.MuslTriplet)
	}
	return fmt.Sprintf("no C compiler for %s: install it with: sudo %s", e.Target.Platform(), strings.Join(aptInstall(e.Packages), " "))
}

func aptInstall(pkgs []string) []string {
	return append([]string{"apt-get", "install", "-y"}, pkgs...)
}

// ErrNotRoot is returned by an install plan's steps run without root.
var ErrNotRoot = errors.New("installing packages needs root")

// InstallPlan is the plan that installs Debian's cross compilers for t and
// the target's libraries libs (Debian packages such as libsqlite3-dev,
// installed for the target's architecture: libsqlite3-dev:arm64), adding
// the target's dpkg architecture first when libs need it. Packages already
// installed are left out; the undo removes what the plan installed and the
// architecture it added.
func InstallPlan(t Target, libs []string, hostGOARCH string) *plan.Plan {
	a := t.Arch
	p := &plan.Plan{Title: "install the C cross toolchain for " + t.String()}
	var pkgs []string
	if a.GOARCH != hostGOARCH {
		_, gcc := a.CrossTool("gcc")
		_, gxx := a.CrossTool("g++")
		pkgs = append(pkgs, gcc, gxx)
	} else {
		pkgs = append(pkgs, "gcc", "g++")
	}
	if t.Libc == Musl {
		p.Note("Debian packages no musl cross compiler: install zig, or use static glibc (libc static)")
		if a.GOARCH == hostGOARCH {
			pkgs = []string{"musl-tools"}
		}
	}
	foreign := a.Dpkg != dpkgArch()
	for _, l := range libs {
		if foreign && !strings.Contains(l, ":") {
			l += ":" + a.Dpkg
		}
		pkgs = append(pkgs, l)
	}
	var missing []string
	for _, pkg := range pkgs {
		if !dpkgInstalled(pkg) {
			missing = append(missing, pkg)
		}
	}
	if foreign && len(libs) > 0 && !hasForeignArch(a.Dpkg) {
		p.Add(plan.Step{Action: "run", Target: "dpkg --add-architecture " + a.Dpkg, Note: "target libraries such as " + libs[0] + ":" + a.Dpkg,
			Do:   cmdStep("dpkg", "--add-architecture", a.Dpkg),
			Undo: cmdStep("dpkg", "--remove-architecture", a.Dpkg)})
	}
	if len(missing) == 0 {
		p.Note("everything is installed already")
		return p
	}
	p.Add(plan.Step{Action: "run", Target: "apt-get update", Do: cmdStep("apt-get", "update")})
	p.Add(plan.Step{Action: "run", Target: strings.Join(aptInstall(missing), " "),
		Do:   cmdStep(aptInstall(missing)...),
		Undo: cmdStep(append([]string{"apt-get", "remove", "-y"}, missing...)...)})
	return p
}

func cmdStep(args ...string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if os.Geteuid() != 0 {
			return ErrNotRoot
		}
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, lastLine(string(out)))
		}
		return nil
	}
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func dpkgArch() string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func hasForeignArch(arch string) bool {
	out, err := exec.Command("dpkg", "--print-foreign-architectures").Output()
	return err == nil && strings.Contains(" "+strings.Join(strings.Fields(string(out)), " ")+" ", " "+arch+" ")
}

func dpkgInstalled(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "install ok installed")
}
