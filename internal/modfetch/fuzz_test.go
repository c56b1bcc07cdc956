package modfetch

import (
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

// FuzzParseInfo feeds upstream .info answers to the parser: it must accept
// only a valid version for the module and never panic.
func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{
		`{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`, `{"Version":"master"}`, `{}`, `[`, `{"Version":"v2.0.0"}`,
		`{"Version":"v1.0.0","Origin":{"VCS":"git"}}`,
	} {
		f.Add("example.com/a", s)
	}
	f.Fuzz(func(t *testing.T, path, raw string) {
		info, err := parseInfo(path, []byte(raw))
		if err != nil {
			return
		}
		if module.Check(path, info.Version) != nil {
			t.Fatalf("parseInfo(%q, %q) accepted %q", path, raw, info.Version)
		}
	})
}

// FuzzQuery resolves client-supplied version queries against a list: the
// answer must come from the list, and errors must not panic.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"latest", "v1", "v1.2", "<v1.2.0", ">=v1.0", "<=v2", ">v1.0.0-rc.1", "master", "v1.2.3", "<", ">=", "<=x"} {
		f.Add(q, "v1.0.0\nv1.2.0\nv1.3.0-beta.1\nv2.0.0+incompatible\nbogus\n")
	}
	f.Fuzz(func(t *testing.T, q, list string) {
		pick, err := queryPicker(q)
		if err != nil || pick == nil {
			return
		}
		l := strings.Split(list, "\n")
		v := pick(l)
		if v == "" {
			return
		}
		for _, x := range l {
			if x == v {
				return
			}
		}
		t.Fatalf("query %q picked %q, not in %q", q, v, list)
	})
}
