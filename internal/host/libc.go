package host

import (
	"encoding/json"
	"path"
	"regexp"
	"sort"
	"strings"
)

// The C library of a root filesystem: glibc or musl, its dynamic loader and
// version. The doctor's cgo checks and the cross-builder's targets both
// read it from here.

// Libc is the C library found under a root.
type Libc struct {
	Kind    string // "glibc", "musl", "" (none found)
	Version string // "2.36", "1.2.4"; "" when unknown
	Loader  string // /lib/ld-linux-aarch64.so.1, /lib/ld-musl-aarch64.so.1
	Arch    string // the GOARCH the loader's name implies
}

// The probes (commands whose output a capture records in probes.json) that
// give the C library's version when no file name says it: `ldd --version`
// (or the loader's --version) for glibc, the musl loader's usage text.
const (
	ProbeGlibcVersion = "cgo.libc:glibc"
	ProbeMuslVersion  = "cgo.libc:musl"
)

var (
	glibcVersionRE  = regexp.MustCompile(`(?:GLIBC|GNU libc)[^)]*\)\s+(?:stable release version\s+)?([0-9]+\.[0-9]+)`)
	glibcFileRE     = regexp.MustCompile(`^libc-([0-9]+\.[0-9]+)\.so$`)
	muslVersionRE   = regexp.MustCompile(`Version\s+([0-9]+\.[0-9]+(?:\.[0-9]+)?)`)
	bareVersionRE   = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	glibcSymVersion = regexp.MustCompile(`^GLIBC_([0-9]+)\.([0-9]+)(?:\.([0-9]+))?$`)
)

// ParseGlibcVersion reads the version from the first line of "ldd (Debian
// GLIBC 2.36-9+deb12u4) 2.36" or "ld.so (Debian GLIBC 2.36-9) stable
// release version 2.36."; "" when there is none.
func ParseGlibcVersion(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.TrimSpace(s)
	if m := glibcVersionRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	f := strings.Fields(strings.TrimSuffix(s, "."))
	if len(f) > 0 && bareVersionRE.MatchString(f[len(f)-1]) {
		return f[len(f)-1]
	}
	return ""
}

// ParseMuslVersion reads the version from the musl loader's usage text
// ("musl libc (aarch64)\nVersion 1.2.4\n..."); "" when there is none.
func ParseMuslVersion(s string) string {
	if m := muslVersionRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

func (r *Root) globAll(patterns ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range patterns {
		m, _ := r.Glob(p)
		sort.Strings(m)
		for _, x := range m {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		}
	}
	return out
}

// LibcFiles finds the C library by its files: musl's loader, else glibc's
// loader and libc.so.6. A multiarch system (an amd64 machine with
// libc6:arm64 installed for cross builds) has several glibc loaders: the
// first of the architectures prefer (GOARCHes) that has one wins, else
// the first by name. The version is set only where a file name says it
// (old glibc's libc-2.NN.so); otherwise ask the probe named
// ProbeGlibcVersion or ProbeMuslVersion.
func (r *Root) LibcFiles(prefer ...string) Libc {
	if m := r.globAll("/lib/ld-musl-*.so.1", "/usr/lib/ld-musl-*.so.1"); len(m) > 0 {
		a, _ := ArchByLoader(path.Base(m[0]))
		return Libc{Kind: "musl", Loader: m[0], Arch: a.GOARCH}
	}
	loaders := r.globAll("/lib/ld-linux*.so.*", "/lib64/ld-linux*.so.*", "/lib/*/ld-linux*.so.*", "/usr/lib/*/ld-linux*.so.*")
	libcs := r.globAll("/lib/*/libc.so.6", "/usr/lib/*/libc.so.6", "/lib/libc.so.6", "/lib64/libc.so.6", "/lib/*/libc-2.*.so", "/lib/libc-2.*.so")
	if len(loaders) == 0 && len(libcs) == 0 {
		return Libc{}
	}
	li := Libc{Kind: "glibc"}
	if len(loaders) > 0 {
		li.Loader = pickLoader(loaders, prefer)
		a, _ := ArchByLoader(path.Base(li.Loader))
		li.Arch = a.GOARCH
	}
	for _, l := range libcs {
		if m := glibcFileRE.FindStringSubmatch(path.Base(l)); m != nil {
			li.Version = m[1]
			break
		}
	}
	return li
}

// pickLoader returns the first loader of the first preferred GOARCH that
// has one, else the first loader.
func pickLoader(loaders, prefer []string) string {
	for _, want := range prefer {
		for _, l := range loaders {
			if a, _ := ArchByLoader(path.Base(l)); want != "" && a.GOARCH == want {
				return l
			}
		}
	}
	return loaders[0]
}

// CaptureLibc returns the C library of the capture tree dir (see
// OpenCaptureTree): its files (the userland's loader first), and the
// version from the recorded probes when no file name says it.
func CaptureLibc(dir string) (Libc, error) {
	r := At(dir)
	var prefer []string
	if u, _, err := r.Userland(); err == nil {
		prefer = append(prefer, u.GOARCH())
	}
	li := r.LibcFiles(prefer...)
	if li.Kind == "" || li.Version != "" {
		return li, nil
	}
	probes := map[string]ProbeRecord{}
	if err := ReadCaptureRecord(dir, "probes.json", &probes); err != nil {
		return li, err
	}
	name, parse := ProbeGlibcVersion, ParseGlibcVersion
	if li.Kind == "musl" {
		name, parse = ProbeMuslVersion, ParseMuslVersion
	}
	var s string
	if rec, ok := probes[name]; ok && rec.Err == "" && json.Unmarshal(rec.Value, &s) == nil {
		li.Version = parse(s)
	}
	return li, nil
}

// GlibcSymbolVersion parses a glibc symbol version ("GLIBC_2.34") into a
// comparable version ("2.34"); ok is false for other names (GLIBC_PRIVATE,
// GCC_3.5, GLIBCXX_3.4.30).
func GlibcSymbolVersion(v string) (string, bool) {
	m := glibcSymVersion.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	s := m[1] + "." + m[2]
	if m[3] != "" {
		s += "." + m[3]
	}
	return s, true
}

// CompareVersions compares dotted numeric versions ("2.31" < "2.34" <
// "2.34.1"): -1, 0 or +1. A missing part counts as 0; non-numeric parts
// compare as 0.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x = atoiOr0(as[i])
		}
		if i < len(bs) {
			y = atoiOr0(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

func atoiOr0(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
