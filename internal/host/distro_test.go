package host

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// raspiOSGo is Raspberry Pi OS with Debian's Go 1.19: /usr/bin/go links
// into /usr/lib/go-1.19, and dpkg's file lists say who ships what.
func raspiOSGo() map[string]string {
	return map[string]string{
		"usr/bin/go":                                   "->../lib/go-1.19/bin/go",
		"usr/lib/go-1.19/bin/go":                       "ELF",
		"usr/lib/go-1.19/VERSION":                      "go1.19.8\ntime 2023-04-04T19:42:35Z\n",
		"var/lib/dpkg/info/golang-go:armhf.list":       "/.\n/usr\n/usr/bin\n/usr/bin/go\n/usr/bin/gofmt\n",
		"var/lib/dpkg/info/golang-1.19-go:armhf.list":  "/.\n/usr/lib/go-1.19\n/usr/lib/go-1.19/bin/go\n",
		"var/lib/dpkg/info/golang-golang-x-tools.list": "/.\n/usr/bin/gopls\n",
	}
}

func TestDistroGo(t *testing.T) {
	for _, tt := range []struct {
		name       string
		files      map[string]string
		edit       func(map[string]string)
		p, res     string // DistroGoAt's arguments; "" p: DistroGo()
		want       *DistroGo
		statusRead bool // /var/lib/dpkg/status is tried: only without dpkg's file lists
	}{
		{name: "Debian /usr/bin/go, found by dpkg's lists", files: raspiOSGo(),
			want: &DistroGo{Path: "/usr/bin/go", Resolved: "/usr/lib/go-1.19/bin/go", GOROOT: "/usr/lib/go-1.19", Version: "go1.19.8",
				Package: "golang-go", Packages: []string{"golang-1.19-go", "golang-go"}}},
		{name: "Debian GOROOT's own go", files: raspiOSGo(), p: "/usr/lib/go-1.19/bin/go",
			want: &DistroGo{Path: "/usr/lib/go-1.19/bin/go", Resolved: "/usr/lib/go-1.19/bin/go", GOROOT: "/usr/lib/go-1.19", Version: "go1.19.8",
				Package: "golang-1.19-go", Packages: []string{"golang-1.19-go", "golang-go"}}},
		{name: "as the doctor saw it on PATH (a capture without the link)", files: raspiOSGo(),
			edit: func(f map[string]string) { delete(f, "usr/bin/go") },
			p:    "/bin/go", res: "/usr/lib/go-1.19/bin/go",
			want: &DistroGo{Path: "/bin/go", Resolved: "/usr/lib/go-1.19/bin/go", GOROOT: "/usr/lib/go-1.19", Version: "go1.19.8",
				Package: "golang-1.19-go", Packages: []string{"golang-1.19-go", "golang-go"}}},
		{name: "Debian paths without dpkg's lists: the status file", files: raspiOSGo(),
			edit: func(f map[string]string) {
				for p := range f {
					if strings.HasPrefix(p, "var/lib/dpkg/info/") {
						delete(f, p)
					}
				}
				f["var/lib/dpkg/status"] = "Package: golang-1.19-go\nStatus: install ok installed\nVersion: 1.19.8-2\n\n" +
					"Package: golang-go\nStatus: install ok installed\n\nPackage: golang-1.15-go\nStatus: deinstall ok config-files\n\n" +
					"Package: golang-src\nStatus: install ok installed\n"
			},
			want: &DistroGo{Path: "/usr/bin/go", Resolved: "/usr/lib/go-1.19/bin/go", GOROOT: "/usr/lib/go-1.19", Version: "go1.19.8",
				Package: "golang-go", Packages: []string{"golang-1.19-go", "golang-go"}},
			statusRead: true},
		{name: "Fedora: through /etc/alternatives into /usr/lib/golang", files: map[string]string{
			"usr/bin/go":             "->/etc/alternatives/go",
			"etc/alternatives/go":    "->/usr/lib/golang/bin/go",
			"usr/lib/golang/bin/go":  "ELF",
			"usr/lib/golang/VERSION": "go1.22.5\ntime x\n",
		}, want: &DistroGo{Path: "/usr/bin/go", Resolved: "/usr/lib/golang/bin/go", GOROOT: "/usr/lib/golang", Version: "go1.22.5"},
			statusRead: true},
		{name: "a link to a Go unpacked by hand", files: map[string]string{"usr/bin/go": "->/usr/local/go/bin/go", "usr/local/go/VERSION": "go1.23.4\n"}},
		{name: "a Go unpacked by hand, on PATH", files: raspiOSGo(), p: "/usr/local/go/bin/go", res: "/usr/local/go/bin/go"},
		{name: "no /usr/bin/go", files: map[string]string{"var/lib/dpkg/info/golang-go.list": "/usr/bin/go\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.edit != nil {
				tt.edit(tt.files)
			}
			tree(t, dir, tt.files)
			r := At(dir)
			var got *DistroGo
			if tt.p == "" {
				got = r.DistroGo()
			} else {
				got = r.DistroGoAt(tt.p, tt.res)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
			if slices.Contains(r.Seen(), "/var/lib/dpkg/status") != tt.statusRead {
				t.Errorf("tried /var/lib/dpkg/status: %v, want %v (seen %v)", !tt.statusRead, tt.statusRead, r.Seen())
			}
		})
	}
}
