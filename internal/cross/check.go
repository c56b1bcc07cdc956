package cross

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Level is how a finding weighs: ok, a note (worth knowing, fits), or a
// failure (the program will not run on the target).
type Level string

// The levels.
const (
	OK   Level = "ok"
	Note Level = "note"
	Fail Level = "FAIL"
)

// Finding is one fact of a check.
type Finding struct {
	Level Level  `json:"level"`
	What  string `json:"what"` // machine, interpreter, a library's soname, glibc
	Text  string `json:"text"`
}

// Report is the check of a program against a target.
type Report struct {
	Binary   string        `json:"binary"`
	Target   string        `json:"target"`
	Deps     host.ELFDeps  `json:"-"`
	Findings []Finding     `json:"findings"`
	TooNew   []SymbolNeeds `json:"too_new,omitempty"`
}

// SymbolNeeds is a symbol that needs a newer glibc than the target's.
type SymbolNeeds struct {
	Symbol  string `json:"symbol"`
	Version string `json:"version"` // GLIBC_2.34
}

// Fits reports whether nothing failed.
func (r *Report) Fits() bool {
	for _, f := range r.Findings {
		if f.Level == Fail {
			return false
		}
	}
	return true
}

func (r *Report) add(l Level, what, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Level: l, What: what, Text: fmt.Sprintf(format, args...)})
}

// Write prints the report, a line a finding.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%s against %s:\n", r.Binary, r.Target)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %-4s %-13s %s\n", f.Level, f.What, f.Text)
	}
}

// glibcParts are the sonames of glibc's own libraries (package libc6 on
// Debian and Raspberry Pi OS).
var glibcParts = map[string]bool{
	"libc.so.6": true, "libm.so.6": true, "libpthread.so.0": true, "libdl.so.2": true, "librt.so.1": true,
	"libresolv.so.2": true, "libutil.so.1": true, "libanl.so.1": true, "libcrypt.so.1": false,
}

// boardPackages names the package that provides a library on Debian and
// Raspberry Pi OS, for the libraries a cgo program needs most.
var boardPackages = map[string]string{
	"libgcc_s.so.1":   "libgcc-s1, installed on every Raspberry Pi OS and Debian",
	"libstdc++.so.6":  "libstdc++6, installed on Raspberry Pi OS (not on every minimal Debian)",
	"libatomic.so.1":  "libatomic1",
	"libcrypt.so.1":   "libcrypt1",
	"libz.so.1":       "zlib1g",
	"libsqlite3.so.0": "libsqlite3-0",
	"libssl.so.3":     "libssl3",
	"libcrypto.so.3":  "libssl3",
}

// debianLibPackage guesses the Debian package of a soname by Debian's
// library policy: libfoo.so.3 in libfoo3, libfoo2.so.1 in libfoo2-1.
func debianLibPackage(soname string) string {
	base, ver, ok := strings.Cut(soname, ".so.")
	if !ok {
		return ""
	}
	base = strings.ToLower(strings.ReplaceAll(base, "_", "-"))
	if last := base[len(base)-1]; last >= '0' && last <= '9' {
		return base + "-" + ver
	}
	return base + ver
}

// Check reads the ELF program at p and checks it against t: machine and
// float ABI, the dynamic loader against the target's C library, every
// needed library, and every versioned glibc symbol against t.Glibc.
func Check(p string, t Target) (*Report, error) {
	d, err := host.ReadELFDeps(p)
	if err != nil {
		return nil, err
	}
	r := &Report{Binary: p, Target: t.String(), Deps: d}
	a := t.Arch

	// Machine and float ABI.
	got, known := d.Header.Arch()
	switch {
	case d.Header.ELFMachine != a.ELF:
		r.add(Fail, "machine", "%s, the target runs %s", d.Header, archDesc(a))
	case a.Float != host.FloatNone && d.Header.Float() != a.Float:
		r.add(Fail, "float ABI", "%s float (%s), the target is %s float (%s): the two do not link or load together",
			d.Header.Float(), got.Dpkg, a.Float, a.Dpkg)
	case known:
		r.add(OK, "machine", "%s", archDesc(a))
	}

	// Loader.
	switch {
	case d.Interp == "" && len(d.Needed) == 0:
		r.add(OK, "interpreter", "none: statically linked, runs without the board's C library")
	case d.Interp == "":
		r.add(Fail, "interpreter", "none, but it needs %s: it cannot be loaded", strings.Join(d.Needed, ", "))
	case t.Libc == Static:
		r.add(Fail, "interpreter", "%s: dynamically linked, not static", d.Interp)
	case t.Libc == Musl && path.Base(d.Interp) != path.Base(a.MuslLoader):
		r.add(Fail, "interpreter", "%s, the target's musl loader is %s: %s", d.Interp, a.MuslLoader, libcOfLoader(d.Interp))
	case t.Libc == Glibc && path.Base(d.Interp) != path.Base(a.GlibcLoader):
		r.add(Fail, "interpreter", "%s, the target's glibc loader is %s: %s", d.Interp, a.GlibcLoader, libcOfLoader(d.Interp))
	case d.Interp != a.GlibcLoader && d.Interp != a.MuslLoader:
		// A multiarch path (/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1):
		// the same loader, where Debian and Raspberry Pi OS have it too.
		usual := a.GlibcLoader
		if t.Libc == Musl {
			usual = a.MuslLoader
		}
		r.add(OK, "interpreter", "%s (the usual path is %s)", d.Interp, usual)
	default:
		r.add(OK, "interpreter", "%s", d.Interp)
	}

	// Libraries.
	for _, lib := range d.Needed {
		switch {
		case glibcParts[lib] && t.Libc == Musl:
			r.add(Fail, lib, "glibc's, the target's C library is musl")
		case glibcParts[lib]:
			r.add(OK, lib, "glibc (libc6)")
		case strings.HasPrefix(lib, "libc.musl-") || strings.HasPrefix(lib, "ld-musl-"):
			if t.Libc != Musl {
				r.add(Fail, lib, "musl's, the target's C library is glibc")
			} else {
				r.add(OK, lib, "musl")
			}
		case boardPackages[lib] != "":
			r.add(OK, lib, "from %s", boardPackages[lib])
		default:
			pkg := debianLibPackage(lib)
			if pkg == "" {
				r.add(Note, lib, "must be installed on the board")
			} else {
				r.add(Note, lib, "must be installed on the board (Debian package %s, by the usual naming)", pkg)
			}
		}
	}

	// Versioned symbols.
	r.checkSymbols(t)
	return r, nil
}

func archDesc(a host.Arch) string {
	if a.GOARCH == "arm" {
		return fmt.Sprintf("32-bit %s (%s float)", a.Dpkg, a.Float)
	}
	return fmt.Sprintf("%d-bit %s", a.ELF.Class, a.GOARCH)
}

func libcOfLoader(interp string) string {
	switch b := path.Base(interp); {
	case strings.HasPrefix(b, "ld-musl-"):
		return "a musl program"
	case strings.HasPrefix(b, "ld-linux"), b == "ld.so.1", b == "ld64.so.1", b == "ld64.so.2":
		if a, ok := host.ArchByLoader(interp); ok {
			return "a glibc program for " + a.Dpkg
		}
		return "a glibc program"
	}
	return "an unknown loader"
}

func (r *Report) checkSymbols(t Target) {
	var maxGlibc string
	others := map[string]string{} // library → highest other version (GLIBCXX_3.4.30, GCC_3.5)
	seen := map[SymbolNeeds]bool{}
	for _, s := range r.Deps.Symbols {
		v, ok := host.GlibcSymbolVersion(s.Version)
		if !ok {
			if s.Version != "GLIBC_PRIVATE" && s.Library != "" {
				if cur, ok := others[s.Library]; !ok || host.CompareVersions(versionNumber(s.Version), versionNumber(cur)) > 0 {
					others[s.Library] = s.Version
				}
			}
			continue
		}
		if maxGlibc == "" || host.CompareVersions(v, maxGlibc) > 0 {
			maxGlibc = v
		}
		if t.Glibc != "" && host.CompareVersions(v, t.Glibc) > 0 {
			n := SymbolNeeds{Symbol: s.Name, Version: s.Version}
			if !seen[n] {
				seen[n] = true
				r.TooNew = append(r.TooNew, n)
			}
		}
	}
	sort.SliceStable(r.TooNew, func(i, j int) bool {
		vi, _ := host.GlibcSymbolVersion(r.TooNew[i].Version)
		vj, _ := host.GlibcSymbolVersion(r.TooNew[j].Version)
		if c := host.CompareVersions(vi, vj); c != 0 {
			return c > 0
		}
		return r.TooNew[i].Symbol < r.TooNew[j].Symbol
	})
	switch {
	case maxGlibc == "":
		if t.Libc == Glibc && len(r.Deps.Needed) > 0 {
			r.add(OK, "glibc", "no versioned glibc symbols")
		}
	case t.Libc != Glibc:
		r.add(Fail, "glibc", "needs glibc %s symbols, the target links against %s", maxGlibc, t.Libc)
	case t.Glibc == "":
		r.add(Note, "glibc", "needs glibc %s or newer; the target's glibc version is not known, so this is not checked", maxGlibc)
	case len(r.TooNew) > 0:
		var names []string
		for _, n := range r.TooNew {
			names = append(names, n.Symbol+"@"+n.Version)
		}
		r.add(Fail, "glibc", "needs glibc %s, the target has %s: %s", maxGlibc, t.Glibc, strings.Join(names, ", "))
	default:
		r.add(OK, "glibc", "needs %s at most, the target has %s", maxGlibc, t.Glibc)
	}
	libs := make([]string, 0, len(others))
	for l := range others {
		libs = append(libs, l)
	}
	sort.Strings(libs)
	for _, l := range libs {
		r.add(Note, "versions", "%s: needs %s (the board's %s must be at least that new)", l, others[l], l)
	}
}

// versionNumber is the numeric part of a symbol version: GLIBCXX_3.4.30 →
// 3.4.30.
func versionNumber(v string) string {
	if i := strings.LastIndexByte(v, '_'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// readStatic reports whether the program at p needs no loader.
func readStatic(p string) (bool, error) {
	d, err := host.ReadELFDeps(p)
	if err != nil {
		return false, err
	}
	return d.Interp == "", nil
}
