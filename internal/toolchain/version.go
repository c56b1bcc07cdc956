package toolchain

import (
	"errors"
	"fmt"
	"go/version"
	"strconv"
	"strings"
)

// Version is a Go release as the go command names it, without the "go"
// prefix: "1.22.5", "1.22rc1", "1.20" (releases before 1.21 had no ".0").
// The zero value is not a valid version.
type Version struct {
	Major, Minor int
	// Patch is the patch number; -1 when the version has none ("1.20",
	// "1.22rc1").
	Patch int
	// Kind is "", "alpha", "beta" or "rc"; Pre is the number after it.
	Kind string
	Pre  int
}

// ParseVersion parses "1.22.5", "go1.22.5", "1.22rc1", "1.20" or "1.22".
func ParseVersion(s string) (Version, error) {
	orig := s
	s = strings.TrimPrefix(s, "go")
	bad := func() (Version, error) {
		return Version{}, fmt.Errorf("malformed Go version %q: want a form like 1.22.5, go1.22.5 or 1.23rc1", orig)
	}
	maj, rest, ok := cutNum(s)
	if !ok || !strings.HasPrefix(rest, ".") {
		return bad()
	}
	min, rest, ok := cutNum(rest[1:])
	if !ok {
		return bad()
	}
	v := Version{Major: maj, Minor: min, Patch: -1}
	switch {
	case rest == "":
	case strings.HasPrefix(rest, "."):
		p, r, ok := cutNum(rest[1:])
		if !ok || r != "" {
			return bad()
		}
		v.Patch = p
	default:
		for _, k := range []string{"alpha", "beta", "rc"} {
			if n, ok := strings.CutPrefix(rest, k); ok {
				p, r, ok := cutNum(n)
				if !ok || r != "" {
					return bad()
				}
				v.Kind, v.Pre = k, p
				return v, nil
			}
		}
		return bad()
	}
	return v, nil
}

// cutNum takes a decimal number without leading zeros off the front of s.
func cutNum(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 || (i > 1 && s[0] == '0') {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, s[i:], err == nil
}

// String returns the version without "go": "1.22.5".
func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor)
	switch {
	case v.Kind != "":
		s += v.Kind + strconv.Itoa(v.Pre)
	case v.Patch >= 0:
		s += "." + strconv.Itoa(v.Patch)
	}
	return s
}

// Go returns the version with "go": "go1.22.5".
func (v Version) Go() string { return "go" + v.String() }

// Stable reports whether v is a release, not an alpha, beta or rc.
func (v Version) Stable() bool { return v.Kind == "" }

// IsLang reports whether v is a language version such as "1.22" that is
// not itself a release (Go 1.21 and later always have a patch number).
func (v Version) IsLang() bool {
	return v.Kind == "" && v.Patch < 0 && (v.Major > 1 || v.Minor >= 21)
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w, as the
// go command sorts them (go/version): the language version 1.22 before
// 1.22rc1 before 1.22.0; before Go 1.21, "1.20" is the release 1.20.0.
func (v Version) Compare(w Version) int { return version.Compare(v.Go(), w.Go()) }

// Query is what the user asked to install.
type Query struct {
	// Kind is QueryExact, QueryMinor, QueryLatest or QueryGoMod.
	Kind QueryKind
	// Version is the exact version (QueryExact) or the language version
	// whose newest patch is wanted (QueryMinor).
	Version Version
	// Text is what the user typed.
	Text string
}

// QueryKind says how a Query picks a version.
type QueryKind int

// The kinds of Query.
const (
	QueryLatest QueryKind = iota // the newest stable release
	QueryExact                   // one release: 1.22.5, go1.22.5, 1.23rc1
	QueryMinor                   // the newest patch of a minor: 1.22
	QueryGoMod                   // the toolchain/go line of ./go.mod
)

// ErrMalformed marks a version the user typed that is not one.
var ErrMalformed = errors.New("malformed version")

// ParseQuery parses what `pitstop go install` accepts: "" or "latest",
// "go.mod", "1.22.5", "go1.22.5", "1.23rc1" and "1.22" (newest patch).
func ParseQuery(s string) (Query, error) {
	q := Query{Text: s}
	switch strings.TrimSpace(s) {
	case "", "latest":
		q.Kind = QueryLatest
		return q, nil
	case "go.mod":
		q.Kind = QueryGoMod
		return q, nil
	}
	v, err := ParseVersion(s)
	if err != nil {
		return q, fmt.Errorf("%w %q: want 1.22.5, go1.22.5, 1.22 (newest patch), 1.23rc1, latest or go.mod", ErrMalformed, s)
	}
	q.Version = v
	if v.Kind == "" && v.Patch < 0 {
		// "1.22" and also "1.20": the newest patch of that minor release
		// (for 1.20 and older the bare version is the first release).
		q.Kind = QueryMinor
	} else {
		q.Kind = QueryExact
	}
	return q, nil
}
