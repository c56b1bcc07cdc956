package host

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
)

// DistroGo is a Go installed by the distribution's package manager.
type DistroGo struct {
	// Path is the go command: /usr/bin/go.
	Path string
	// Resolved is Path after symbolic links: /usr/lib/go-1.19/bin/go.
	Resolved string
	// GOROOT is the directory whose bin/go Resolved is: /usr/lib/go-1.19;
	// "" when Resolved is not a GOROOT's bin/go.
	GOROOT string
	// Version is the first line of the GOROOT's VERSION file, "go1.19.8";
	// "" when unknown.
	Version string
	// Package is the Debian package that ships the go command (golang-go
	// for /usr/bin/go, golang-1.19-go for /usr/lib/go-1.19/bin/go): the
	// one whose file list names Path (or else Resolved), or else what
	// Debian's paths imply; "" when neither says.
	Package string
	// Packages are the installed Debian packages that ship a Go
	// (golang-go, golang-1.19-go, ...), sorted; empty without dpkg.
	Packages []string
}

// dpkgGoLists are dpkg's file lists of the packages that ship a Go:
// golang-go and golang-1.NN-go, with an architecture suffix on multiarch
// systems (golang-1.19-go:armhf.list).
var dpkgGoLists = []string{"/var/lib/dpkg/info/golang-go*.list", "/var/lib/dpkg/info/golang-1.*-go*.list"}

// debianGoroot matches Debian's versioned GOROOT, /usr/lib/go-1.NN/.
var debianGoroot = regexp.MustCompile(`^/usr/lib/go-(1\.[0-9]+)/`)

// DistroGo returns the Go that the distribution's package manager put at
// /usr/bin/go, nil when there is none (no /usr/bin/go, or a link to a Go
// unpacked by hand).
func (r *Root) DistroGo() *DistroGo { return r.DistroGoAt("/usr/bin/go", "") }

// DistroGoAt returns the packaged Go whose go command is at p, nil when p
// is not one. resolved is p after symbolic links, as a caller that found p
// on the live PATH saw it; "" means following them on r (then a p that r
// lacks is no Go at all).
//
// A go command is the distribution's when a dpkg file list
// (/var/lib/dpkg/info/golang-go*.list, golang-1.*-go*.list) names it, when
// it lies in a Debian GOROOT (/usr/lib/go-1.NN), or when it is
// /usr/bin/go itself or a link from there into /usr/lib, /usr/share or
// /etc/alternatives (Fedora's /usr/lib/golang, Arch's /usr/lib/go). The
// installed packages come from the same file lists, and only on a machine
// without them from /var/lib/dpkg/status (megabytes a doctor capture
// would otherwise carry).
func (r *Root) DistroGoAt(p, resolved string) *DistroGo {
	if resolved == "" {
		if _, err := r.lstat(p); err != nil {
			return nil
		}
		resolved = r.followLinks(p)
	}
	d := &DistroGo{Path: p, Resolved: resolved}
	lists := r.dpkgGoLists()
	if d.Package = r.dpkgOwner(lists, p, resolved); d.Package == "" {
		d.Package = debianGoPackage(p, resolved)
	}
	if d.Package == "" && (p != "/usr/bin/go" || !underAny(resolved, "/usr/lib/", "/usr/share/", "/etc/alternatives/")) {
		return nil // a Go unpacked by hand (/usr/local/go, /opt/go) or a pitstop toolchain
	}
	if dir, ok := strings.CutSuffix(resolved, "/bin/go"); ok && dir != "" {
		d.GOROOT = dir
	}
	versions := []string{"/usr/lib/go/VERSION", "/usr/lib/golang/VERSION"}
	if d.GOROOT != "" {
		versions = append([]string{d.GOROOT + "/VERSION"}, versions...)
	}
	for _, v := range versions {
		if s, err := r.ReadString(v); err == nil {
			d.Version, _, _ = strings.Cut(s, "\n")
			break
		}
	}
	for _, f := range lists {
		d.Packages = append(d.Packages, dpkgListPackage(f))
	}
	if len(lists) == 0 {
		if status, err := r.ReadFile("/var/lib/dpkg/status"); err == nil {
			d.Packages = dpkgGoPackages(status)
		}
	}
	slices.Sort(d.Packages)
	d.Packages = slices.Compact(d.Packages)
	return d
}

// debianGoPackage is the package Debian's paths imply for the go command
// at p: golang-go ships /usr/bin/go (a link into /usr/lib/go-1.NN),
// golang-1.NN-go the GOROOT /usr/lib/go-1.NN.
func debianGoPackage(p, resolved string) string {
	if p == "/usr/bin/go" && (resolved == p || debianGoroot.MatchString(resolved)) {
		return "golang-go"
	}
	for _, f := range []string{p, resolved} {
		if m := debianGoroot.FindStringSubmatch(f); m != nil {
			return "golang-" + m[1] + "-go"
		}
	}
	return ""
}

func (r *Root) lstat(p string) (fs.FileInfo, error) {
	r.note(p)
	return os.Lstat(r.Path(p))
}

// followLinks resolves the symbolic links of the last element of p on r,
// up to 40 of them.
func (r *Root) followLinks(p string) string {
	for range 40 {
		dest, err := r.resolveLink(p)
		if err != nil {
			break
		}
		p = dest
	}
	return p
}

// dpkgGoLists returns the file lists of the installed packages that ship a
// Go (dpkgGoLists' patterns also match golang-golang-x-tools), sorted.
func (r *Root) dpkgGoLists() []string {
	var out []string
	for _, pat := range dpkgGoLists {
		m, _ := r.Glob(pat)
		for _, f := range m {
			if isGoPackage(dpkgListPackage(f)) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// isGoPackage reports whether a Debian package ships a Go: golang-go or
// golang-<version>-go.
func isGoPackage(name string) bool {
	return name == "golang-go" || (strings.HasPrefix(name, "golang-") && strings.HasSuffix(name, "-go") && name != "golang-src")
}

// dpkgOwner returns the package whose file list names p, else the one
// naming resolved, "" when none does.
func (r *Root) dpkgOwner(lists []string, p, resolved string) string {
	owner := ""
	for _, f := range lists {
		b, err := r.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			switch {
			case line == p:
				return dpkgListPackage(f)
			case line == resolved && owner == "":
				owner = dpkgListPackage(f)
			}
		}
	}
	return owner
}

// dpkgListPackage returns the package of a dpkg file list:
// /var/lib/dpkg/info/golang-1.19-go:armhf.list → golang-1.19-go.
func dpkgListPackage(list string) string {
	name, _, _ := strings.Cut(strings.TrimSuffix(path.Base(list), ".list"), ":")
	return name
}

// dpkgGoPackages returns the installed packages named golang-go or
// golang-<version>-go in a dpkg status file.
func dpkgGoPackages(status []byte) []string {
	var out []string
	for _, para := range bytes.Split(status, []byte("\n\n")) {
		var name, st string
		sc := bufio.NewScanner(bytes.NewReader(para))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if v, ok := strings.CutPrefix(l, "Package: "); ok {
				name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(l, "Status: "); ok {
				st = strings.TrimSpace(v)
			}
		}
		if !strings.HasSuffix(st, " installed") {
			continue
		}
		if isGoPackage(name) {
			out = append(out, name)
		}
	}
	return out
}

func underAny(p string, dirs ...string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}
