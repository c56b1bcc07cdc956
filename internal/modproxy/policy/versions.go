package policy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/pitstop-go/pitstop/internal/goversion"
)

// Range is a set of versions written in the policy's small range syntax:
//
//   - "" or "*": every version;
//   - "v1.2.3" or "=v1.2.3": that version only;
//   - ">=v1.2.0", ">v1.2.0", "<v2", "<=v1.4.3": a comparison, with
//     golang.org/x/mod/semver's order (so "v2" is "v2.0.0", and
//     "<v2" includes v2.0.0-rc.1, which sorts before v2.0.0);
//   - "v1.4.*", "v1.*": a prefix: v1.4.0, v1.4.7, v1.4.2-rc.1, ...;
//   - several terms separated by spaces must all hold (">=v1.2.0 <v2");
//   - alternatives are separated by "||" ("v1.4.* || >=v1.6.0").
//
// For golang.org/toolchain, versions may be written as Go versions
// ("go1.22.*", ">=go1.22.0 <go1.24"): a toolchain module version such as
// v0.0.1-go1.22.5.linux-arm64 is compared as its Go version, go1.22.5
// (release candidates sort before the release).
type Range struct {
	text string
	alts [][]term // OR of ANDs; nil means every version
}

type term struct {
	op string // "=", "<", "<=", ">", ">=", "prefix"
	v  string // a semantic version (for "prefix", "v1.4")
}

// String returns the range as written.
func (r Range) String() string {
	if r.text == "" {
		return "*"
	}
	return r.text
}

// Any reports whether the range holds every version.
func (r Range) Any() bool { return r.alts == nil }

// ParseRange parses the range syntax described on Range.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return Range{}, nil
	}
	r := Range{text: s}
	for _, alt := range strings.Split(s, "||") {
		fields := strings.Fields(alt)
		if len(fields) == 0 {
			return Range{}, fmt.Errorf("version range %q has an empty alternative around ||", s)
		}
		var and []term
		for _, f := range fields {
			t, err := parseTerm(f)
			if err != nil {
				return Range{}, fmt.Errorf("version range %q: %v", s, err)
			}
			and = append(and, t)
		}
		r.alts = append(r.alts, and)
	}
	return r, nil
}

func parseTerm(f string) (term, error) {
	op := "="
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(f, o); ok {
			op, f = o, rest
			break
		}
	}
	if f == "" {
		return term{}, fmt.Errorf("%q has no version after it", op)
	}
	if p, ok := strings.CutSuffix(f, ".*"); ok {
		if op != "=" {
			return term{}, fmt.Errorf("%s%s: a wildcard takes no comparison", op, f)
		}
		v, err := semverOf(p)
		if err != nil || strings.Count(v, ".") > 1 || semver.Prerelease(v) != "" || semver.Build(v) != "" {
			return term{}, fmt.Errorf("%q: a wildcard is a major or major.minor version followed by .* (v1.*, v1.4.*, go1.22.*)", f)
		}
		return term{op: "prefix", v: p2semver(p)}, nil
	}
	v, err := semverOf(f)
	if err != nil {
		return term{}, err
	}
	if op == "=" && semver.Canonical(v) != v && !strings.HasPrefix(f, "go") {
		return term{}, fmt.Errorf("%q: an exact version must be canonical (v1.2.3), or use a wildcard (v1.2.*) or comparison", f)
	}
	return term{op: op, v: v}, nil
}

// p2semver turns a wildcard prefix ("v1.4", "go1.22") into the semantic
// version prefix it stands for.
func p2semver(p string) string {
	if g, ok := strings.CutPrefix(p, "go"); ok {
		return "v" + g
	}
	return p
}

// semverOf reads a semantic version, or a Go version ("go1.22.5",
// "go1.23rc1") as the semantic version it sorts as.
func semverOf(s string) (string, error) {
	if strings.HasPrefix(s, "go") {
		if v := goSemver(s); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%q is not a Go version (go1.22, go1.22.5, go1.23rc1)", s)
	}
	if !semver.IsValid(s) {
		return "", fmt.Errorf("%q is not a semantic version (v1.2.3, v1.2, v1)", s)
	}
	return s, nil
}

// goSemver maps a Go version to a semantic version with the same order:
// go1.22.5 → v1.22.5, go1.22 → v1.22, go1.23rc1 → v1.23.0-rc.1. It
// returns "" when s is not one.
func goSemver(s string) string {
	rest, ok := strings.CutPrefix(s, "go")
	if !ok || rest == "" {
		return ""
	}
	pre := ""
	for _, p := range []string{"rc", "beta"} {
		if i := strings.Index(rest, p); i > 0 {
			n := rest[i+len(p):]
			if n == "" || strings.Trim(n, "0123456789") != "" {
				return ""
			}
			pre = "-" + p + "." + n
			rest = rest[:i]
			if strings.Count(rest, ".") == 1 {
				rest += ".0"
			}
			break
		}
	}
	v := "v" + rest + pre
	if !semver.IsValid(v) || semver.Build(v) != "" || (pre == "" && strings.Contains(rest, "-")) {
		return ""
	}
	return v
}

// subjectVersion is the version a rule's range is matched against: a
// toolchain's Go version, else the module version itself.
func subjectVersion(module, version string) string {
	if module == goversion.ToolchainModule {
		if t, ok := goversion.ParseToolchain(version); ok {
			if v := goSemver(t.Go); v != "" {
				return v
			}
		}
	}
	return version
}

// Contains reports whether version of module is in the range.
func (r Range) Contains(module, version string) bool {
	if r.alts == nil {
		return true
	}
	v := subjectVersion(module, version)
	if !semver.IsValid(v) {
		return false
	}
	for _, and := range r.alts {
		ok := true
		for _, t := range and {
			if !t.holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (t term) holds(v string) bool {
	c := semver.Compare(v, t.v)
	switch t.op {
	case "=":
		return c == 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	case "prefix":
		return v == t.v || strings.HasPrefix(v, t.v+".") || strings.HasPrefix(v, t.v+"-")
	}
	return false
}
