package toolchain

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"1.22.5", "1.22.5", true},
		{"go1.22.5", "1.22.5", true},
		{"1.22", "1.22", true},
		{"1.23rc1", "1.23rc1", true},
		{"go1.21beta2", "1.21beta2", true},
		{"1.20", "1.20", true},
		{"1", "", false},
		{"1.x", "", false},
		{"1.22.", "", false},
		{"1.022.1", "", false},
		{"1.22.5.1", "", false},
		{"1.22rc", "", false},
		{"1.22-rc1", "", false},
		{"v1.22.5", "", false},
		{"", "", false},
		{"gogo1.2.3", "", false},
		{"1.2.3 ", "", false},
	} {
		v, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || (tc.ok && v.String() != tc.want) {
			t.Errorf("ParseVersion(%q) = %v, %v; want %q ok=%v", tc.in, v, err, tc.want, tc.ok)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	// Sorted as the go command sorts them (cmd/go/internal/gover).
	want := []string{"1.19", "1.19.13", "1.20", "1.20.1", "1.21", "1.21rc1", "1.21rc2", "1.21.0", "1.21.13",
		"1.22beta1", "1.22rc1", "1.22.0", "1.22.2", "1.22.10", "1.23rc1"}
	var vs []Version
	for i := len(want) - 1; i >= 0; i-- {
		v, err := ParseVersion(want[i])
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Compare(vs[j]) < 0 })
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("sorted:\n got %v\nwant %v", got, want)
	}
}

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind QueryKind
		v    string
	}{
		{"", QueryLatest, ""},
		{"latest", QueryLatest, ""},
		{"go.mod", QueryGoMod, ""},
		{"1.22.5", QueryExact, "1.22.5"},
		{"go1.22.5", QueryExact, "1.22.5"},
		{"1.22", QueryMinor, "1.22"},
		{"go1.20", QueryMinor, "1.20"},
		{"1.23rc1", QueryExact, "1.23rc1"},
	} {
		q, err := ParseQuery(tc.in)
		if err != nil || q.Kind != tc.kind || (tc.v != "" && q.Version.String() != tc.v) {
			t.Errorf("ParseQuery(%q) = %+v, %v", tc.in, q, err)
		}
	}
	for _, bad := range []string{"newest", "1.x", "1.22.5-linux", "../1.22"} {
		if _, err := ParseQuery(bad); err == nil {
			t.Errorf("ParseQuery(%q) accepted", bad)
		}
	}
}

func TestModuleVersion(t *testing.T) {
	v, _ := ParseVersion("1.22.5")
	mv := ModuleVersion(v, Target{"linux", "arm"})
	if mv != "v0.0.1-go1.22.5.linux-arm" {
		t.Fatalf("ModuleVersion = %q", mv)
	}
	for _, tc := range []struct {
		in, v, t string
		ok       bool
	}{
		{"v0.0.1-go1.22.5.linux-arm64", "1.22.5", "linux-arm64", true},
		{"v0.0.1-go1.21rc2.darwin-amd64", "1.21rc2", "darwin-amd64", true},
		{"v0.0.1-go1.20.linux-386", "1.20", "linux-386", true},
		{"v0.0.1-1.22.5.linux-arm64", "", "", false},
		{"v0.0.2-go1.22.5.linux-arm64", "", "", false},
		{"v0.0.1-go1.22.5.linux", "", "", false},
		{"v0.0.1-go1.22.5.linux-arm-x", "", "", false},
		{"v0.0.1-go1.22.5", "", "", false},
	} {
		v, tg, ok := ParseModuleVersion(tc.in)
		if ok != tc.ok || (ok && (v.String() != tc.v || tg.String() != tc.t)) {
			t.Errorf("ParseModuleVersion(%q) = %v %v %v", tc.in, v, tg, ok)
		}
	}
}

func TestQueryFromGoMod(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ gomod, want string }{
		{"module m\ngo 1.22\n", "exact 1.22.0"},
		{"module m\ngo 1.21.3\n", "exact 1.21.3"},
		{"module m\ngo 1.21\ntoolchain go1.22.5\n", "exact 1.22.5"},
		{"module m\ngo 1.23.1\ntoolchain go1.22.5\n", "exact 1.23.1"}, // toolchain older than go: go wins
		{"module m\ngo 1.22.0\ntoolchain default\n", "exact 1.22.0"},
		{"module m\ngo 1.19\n", "minor 1.19"},
		{"module m\n", "error "}, // neither a go nor a toolchain line
		{"module m\ngo 1.22\ntoolchain banana\n", "error"},
	} {
		p := filepath.Join(dir, "go.mod")
		os.WriteFile(p, []byte(tc.gomod), 0o644)
		q, err := QueryFromGoMod(p)
		got := ""
		switch {
		case err != nil:
			got = "error " + err.Error()
		case q.Kind == QueryExact:
			got = "exact " + q.Version.String()
		case q.Kind == QueryMinor:
			got = "minor " + q.Version.String()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("go.mod %q: got %q, want %q", tc.gomod, got, tc.want)
		}
	}
	if _, err := QueryFromGoMod(filepath.Join(dir, "nope", "go.mod")); err == nil || !strings.Contains(err.Error(), "no go.mod in this directory") {
		t.Errorf("missing go.mod: %v", err)
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.22.5", "go1.22.5", "1.23rc1", "1.20", "1.x", "", "go", "1.2.3.4", "9999999999.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		// What parses prints back to an equal version.
		w, err := ParseVersion(v.String())
		if err != nil || w != v || v.Compare(w) != 0 {
			t.Fatalf("%q -> %v -> %v, %v", s, v, w, err)
		}
		if _, err := ParseQuery(s); err != nil {
			t.Fatalf("ParseQuery(%q) rejects what ParseVersion accepts: %v", s, err)
		}
	})
}

func FuzzParseModuleVersion(f *testing.F) {
	for _, s := range []string{"v0.0.1-go1.22.5.linux-arm64", "v0.0.1-go1.20.linux-386", "v0.0.1-go1.22.5.linux", "v0.0.1-", "v0.0.1-go1.22.5.a-b-c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, tg, ok := ParseModuleVersion(s)
		if !ok {
			return
		}
		if got := ModuleVersion(v, tg); got != s {
			t.Fatalf("%q -> %v %v -> %q", s, v, tg, got)
		}
	})
}
