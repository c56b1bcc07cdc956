package toolchain

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// DistroGo is a Go installed by the distribution's package manager, which
// pitstop never touches.
type DistroGo struct {
	// Path is the go command, e.g. /usr/bin/go.
	Path string
	// Version is what its VERSION file says ("go1.19.8"), "" if unknown.
	Version string
	// Packages are the installed Debian packages that ship it
	// (golang-go, golang-1.19-go, ...), empty on other distributions.
	Packages []string
}

// RemoveHint says how to remove it with the package manager.
func (d DistroGo) RemoveHint() string {
	if len(d.Packages) > 0 {
		return "sudo apt remove " + strings.Join(d.Packages, " ")
	}
	return "remove it with your package manager"
}

func (d DistroGo) String() string {
	v := d.Version
	if v == "" {
		v = "Go"
	}
	return fmt.Sprintf("a distribution-managed %s is at %s; pitstop leaves it alone (to remove it: %s)", v, d.Path, d.RemoveHint())
}

// FindDistroGo looks for a packaged Go: /usr/bin/go and its GOROOT under
// /usr/lib (Debian's /usr/lib/go-1.19, Fedora's /usr/lib/golang), and the
// dpkg packages that own it. root nil means the live machine.
func FindDistroGo(root *host.Root) (*DistroGo, error) {
	if root == nil {
		root = host.Live()
	}
	const goBin = "/usr/bin/go"
	if _, err := os.Lstat(root.Path(goBin)); err != nil {
		return nil, nil
	}
	d := &DistroGo{Path: goBin}
	// Debian: /usr/bin/go -> ../lib/go-1.19/bin/go; the VERSION file is in
	// that GOROOT.
	if dest, err := root.Readlink(goBin); err == nil {
		if !filepath.IsAbs(dest) {
			dest = filepath.Join("/usr/bin", dest)
		}
		if !strings.HasPrefix(dest, "/usr/lib/") && !strings.HasPrefix(dest, "/usr/share/") && !strings.HasPrefix(dest, "/etc/alternatives/") {
			return nil, nil // a link to a Go installed by hand (/usr/local/go)
		}
		if b, err := root.ReadString(filepath.Join(filepath.Dir(filepath.Dir(dest)), "VERSION")); err == nil {
			d.Version, _, _ = strings.Cut(b, "\n")
		}
	}
	if d.Version == "" {
		for _, g := range []string{"/usr/lib/go/VERSION", "/usr/lib/golang/VERSION"} {
			if b, err := root.ReadString(g); err == nil {
				d.Version, _, _ = strings.Cut(b, "\n")
				break
			}
		}
	}
	if status, err := root.ReadFile("/var/lib/dpkg/status"); err == nil {
		d.Packages = dpkgGoPackages(status)
	}
	return d, nil
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
		if name == "golang-go" || (strings.HasPrefix(name, "golang-") && strings.HasSuffix(name, "-go") && name != "golang-src") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
