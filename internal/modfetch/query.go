package modfetch

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Info resolves query for path and returns the version's .info, the way
// the go command resolves a version query against a proxy:
//
//   - a canonical version ("v1.2.3") is asked for directly;
//   - "latest" picks the highest release in the list, else the highest
//     pre-release, and only with an empty list asks $module/@latest;
//   - a semver prefix ("v1", "v1.2") picks the highest matching release
//     (else pre-release);
//   - a comparison ("<v1.2.3", "<=v1.2", ">v1", ">=v1.0.0") picks the
//     closest allowed release (highest for < and <=, lowest for > and >=);
//   - "upgrade" and "patch" are "latest": they are relative to a current
//     version, which a proxy's client does not send, and without one the
//     go command resolves both as "latest";
//   - anything else (a branch, a commit hash, a non-canonical version) is
//     sent to the upstream as $module/@v/<query>.info for it to resolve.
//
// Versions retracted by the go.mod of the module's latest version are
// passed over, as the go command does, unless every candidate is
// retracted: then the pick ignores retractions (the answer names a version
// the client's go command may still refuse, rather than none).
//
// raw is the .info as the upstream served it.
func (f *Fetcher) Info(ctx context.Context, path, query string) (info *RevInfo, raw []byte, err error) {
	if err := module.CheckPath(path); err != nil {
		return nil, nil, err
	}
	if query == "" {
		return nil, nil, fmt.Errorf("%s: empty version query", path)
	}
	if query == "upgrade" || query == "patch" {
		query = "latest"
	}
	pick, err := queryPicker(query)
	if err != nil {
		return nil, nil, fmt.Errorf("%s@%s: %w", path, query, err)
	}
	if pick == nil {
		raw, err = f.InfoRaw(ctx, path, query)
		if err != nil {
			return nil, nil, err
		}
		info, err = parseInfo(path, raw)
		return info, raw, err
	}
	list, err := f.List(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	if v := pick(list); v != "" {
		if retracted := f.retractions(ctx, path, list); len(retracted) > 0 {
			var kept []string
			for _, c := range list {
				if !isRetracted(c, retracted) {
					kept = append(kept, c)
				}
			}
			if w := pick(kept); w != "" {
				v = w
			}
		}
		raw, err = f.InfoRaw(ctx, path, v)
		if err != nil {
			return nil, nil, err
		}
		info, err = parseInfo(path, raw)
		return info, raw, err
	}
	if query == "latest" {
		return f.Latest(ctx, path)
	}
	return nil, nil, &NotFoundError{What: path + "@" + query, Err: fmt.Errorf("no matching versions for query %q", query)}
}

// retractions returns the retract directives of the go.mod of path's
// latest listed version (the highest release, else pre-release), which is
// where the go command reads them. A go.mod that cannot be fetched or
// parsed retracts nothing.
func (f *Fetcher) retractions(ctx context.Context, path string, list []string) []modfile.VersionInterval {
	latest := Highest(list)
	if latest == "" {
		return nil
	}
	data, err := f.GoMod(ctx, path, latest)
	if err != nil {
		f.log().Debug("retractions unknown", "module", path, "version", latest, "err", err)
		return nil
	}
	out, err := Retractions(data)
	if err != nil {
		f.log().Debug("retractions unknown", "module", path, "version", latest, "err", err)
	}
	return out
}

// Retractions returns the retract directives of a go.mod file.
func Retractions(gomod []byte) ([]modfile.VersionInterval, error) {
	mf, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	var out []modfile.VersionInterval
	for _, r := range mf.Retract {
		out = append(out, r.VersionInterval)
	}
	return out, nil
}

// IsRetracted reports whether v is in one of the retracted intervals.
func IsRetracted(v string, retracted []modfile.VersionInterval) bool {
	return isRetracted(v, retracted)
}

// Highest returns the version of list the go command takes for "latest":
// the highest release, else the highest pre-release (pseudo-versions and
// invalid lines ignored); "" when there is none. Its go.mod is where the
// module's retractions are read.
func Highest(list []string) string { return highest(list, func(string) bool { return true }) }

// PickQuery returns how the go command resolves query from a version
// list (see Info), or nil when only the upstream can resolve it (a
// canonical version, a branch, a commit). "upgrade" and "patch" are
// "latest".
func PickQuery(query string) (func(list []string) string, error) {
	if query == "upgrade" || query == "patch" {
		query = "latest"
	}
	return queryPicker(query)
}

func isRetracted(v string, retracted []modfile.VersionInterval) bool {
	for _, r := range retracted {
		if semver.Compare(r.Low, v) <= 0 && semver.Compare(v, r.High) <= 0 {
			return true
		}
	}
	return false
}

func isPrefix(q string) bool {
	return strings.Count(q, ".") < 2 && !strings.ContainsAny(q, "-+")
}

func matchPrefix(v, prefix string) bool {
	return v == prefix || strings.HasPrefix(v, prefix+".") || strings.HasPrefix(v, prefix+"-")
}

// highest returns the highest release that ok accepts, else the highest
// pre-release; pseudo-versions and invalid lines are ignored.
func highest(list []string, ok func(string) bool) string {
	var rel, pre string
	for _, v := range list {
		if !semver.IsValid(v) || module.IsPseudoVersion(v) || !ok(v) {
			continue
		}
		if semver.Prerelease(v) == "" {
			if rel == "" || semver.Compare(v, rel) > 0 {
				rel = v
			}
		} else if pre == "" || semver.Compare(v, pre) > 0 {
			pre = v
		}
	}
	if rel != "" {
		return rel
	}
	return pre
}

// lowest returns the lowest release that ok accepts, else the lowest
// pre-release.
func lowest(list []string, ok func(string) bool) string {
	var rel, pre string
	for _, v := range list {
		if !semver.IsValid(v) || module.IsPseudoVersion(v) || !ok(v) {
			continue
		}
		if semver.Prerelease(v) == "" {
			if rel == "" || semver.Compare(v, rel) < 0 {
				rel = v
			}
		} else if pre == "" || semver.Compare(v, pre) < 0 {
			pre = v
		}
	}
	if rel != "" {
		return rel
	}
	return pre
}

// queryPicker returns how to resolve query from a version list, or nil
// when the upstream must resolve it (a canonical version, a branch, a
// commit).
func queryPicker(query string) (func([]string) string, error) {
	switch {
	case semver.IsValid(query) && semver.Canonical(query) == query || module.IsPseudoVersion(query):
		return nil, nil
	case query == "latest":
		return func(l []string) string { return highest(l, func(string) bool { return true }) }, nil
	case semver.IsValid(query) && isPrefix(query):
		return func(l []string) string {
			return highest(l, func(v string) bool { return matchPrefix(v, query) })
		}, nil
	case strings.HasPrefix(query, "<") || strings.HasPrefix(query, ">"):
		op := query[:1]
		if len(query) > 1 && query[1] == '=' {
			op = query[:2]
		}
		v := query[len(op):]
		if !semver.IsValid(v) || semver.Build(v) != "" {
			return nil, fmt.Errorf("invalid version query: %q is not a semantic version", v)
		}
		ok := func(c string) bool {
			cmp := semver.Compare(c, v)
			switch op {
			case "<":
				return cmp < 0
			case "<=":
				return cmp <= 0
			case ">":
				return cmp > 0
			}
			return cmp >= 0
		}
		if op[0] == '<' {
			return func(l []string) string { return highest(l, ok) }, nil
		}
		return func(l []string) string { return lowest(l, ok) }, nil
	}
	return nil, nil
}
