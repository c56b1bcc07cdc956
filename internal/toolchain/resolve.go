package toolchain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/pitstop-go/pitstop/internal/modfetch"
)

// Source is where toolchains come from. FetcherSource adapts a
// *modfetch.Fetcher, which walks the GOPROXY list with the go command's
// fallback rules and verifies zips against the checksum database.
type Source interface {
	// List returns golang.org/toolchain's @v/list.
	List(ctx context.Context, path string) ([]string, error)
	// InfoRaw returns a version's .info; a missing version matches
	// fs.ErrNotExist (or is a 403 *modfetch.UpstreamError).
	InfoRaw(ctx context.Context, path, vers string) ([]byte, error)
	// Zip downloads into dst (empty), verifies it and returns its h1: hash.
	Zip(ctx context.Context, path, vers string, dst *os.File, progress func(written, total int64)) (string, error)
	// Verified reports whether Zip checks hashes with the checksum
	// database for path.
	Verified(path string) bool
}

// FetcherSource makes a *modfetch.Fetcher a Source.
func FetcherSource(f *modfetch.Fetcher) Source { return fetcherSource{f} }

type fetcherSource struct{ f *modfetch.Fetcher }

func (s fetcherSource) List(ctx context.Context, path string) ([]string, error) {
	return s.f.List(ctx, path)
}

func (s fetcherSource) InfoRaw(ctx context.Context, path, vers string) ([]byte, error) {
	return s.f.InfoRaw(ctx, path, vers)
}

func (s fetcherSource) Zip(ctx context.Context, path, vers string, dst *os.File, progress func(written, total int64)) (string, error) {
	return s.f.Zip(ctx, path, vers, dst, modfetch.ZipProgress(progress))
}

func (s fetcherSource) CheckZipFile(ctx context.Context, path, vers, file string) (string, error) {
	return s.f.CheckZipFile(ctx, path, vers, file)
}

func (s fetcherSource) DownloadZip(ctx context.Context, path, vers string, dst *os.File, progress func(written, total int64)) error {
	return s.f.DownloadZip(ctx, path, vers, dst, modfetch.ZipProgress(progress))
}

func (s fetcherSource) CheckZipFileHashed(ctx context.Context, path, vers, file string, hasher func(string) (string, error)) (string, error) {
	return s.f.CheckZipFileHashed(ctx, path, vers, file, hasher)
}

func (s fetcherSource) Verified(path string) bool { return !s.f.SumDBExempt(path) }

// resumer returns the Fetcher's ResumeTransport, nil if it has none.
func (s fetcherSource) resumer() *ResumeTransport {
	if s.f.Client != nil {
		if rt, ok := s.f.Client.Transport.(*ResumeTransport); ok {
			return rt
		}
	}
	return nil
}

// UnknownVersionError says the asked-for release is not available for the
// target; Closest lists real releases near it (none: the upstream lists
// nothing near, and the caller may point at its listing).
type UnknownVersionError struct {
	Asked   string
	Target  Target
	Closest []Version
}

func (e *UnknownVersionError) Error() string {
	msg := fmt.Sprintf("no Go release %s for %s on the module proxy", e.Asked, e.Target)
	if len(e.Closest) > 0 {
		var s []string
		for _, v := range e.Closest {
			s = append(s, v.Go())
		}
		msg += "; closest: " + strings.Join(s, ", ")
	}
	return msg
}

// Is makes an UnknownVersionError match fs.ErrNotExist.
func (e *UnknownVersionError) Is(target error) bool { return target == fs.ErrNotExist }

// Remote is the set of releases an upstream lists for golang.org/toolchain.
type Remote struct {
	// All holds every Go version listed for any target, sorted: proxies
	// list only the toolchains they have served, so the union over targets
	// knows more releases than one target's entries.
	All []Version
	// ForTarget holds the versions listed for the target, sorted.
	ForTarget []Version
}

// ListRemote reads golang.org/toolchain's @v/list.
func ListRemote(ctx context.Context, src Source, t Target) (*Remote, error) {
	list, err := src.List(ctx, ModulePath)
	if err != nil {
		return nil, fmt.Errorf("listing Go releases: %w", err)
	}
	all := map[Version]bool{}
	mine := map[Version]bool{}
	for _, mv := range list {
		v, vt, ok := ParseModuleVersion(mv)
		if !ok {
			continue
		}
		all[v] = true
		if vt == t {
			mine[v] = true
		}
	}
	return &Remote{All: sortedKeys(all), ForTarget: sortedKeys(mine)}, nil
}

func sortedKeys(m map[Version]bool) []Version {
	out := make([]Version, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Compare(out[j]) < 0 })
	return out
}

// notAvailable reports whether err is an upstream's "no such version":
// 404 and 410, and the 403 "not available" some proxies answer.
func notAvailable(err error) bool {
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	var ue *modfetch.UpstreamError
	return errors.As(err, &ue) && ue.Status == http.StatusForbidden
}

// exists asks the upstream for v's .info for t.
func exists(ctx context.Context, src Source, v Version, t Target) (bool, error) {
	_, err := src.InfoRaw(ctx, ModulePath, ModuleVersion(v, t))
	if err == nil {
		return true, nil
	}
	if notAvailable(err) {
		return false, nil
	}
	return false, err
}

// maxProbes bounds the .info requests one resolution makes beyond the list.
const maxProbes = 12

// Resolve turns q into one release available for t. "latest" and "1.22"
// pick from the upstream's @v/list, then ask for the following patch (and,
// for latest, minor) releases directly, because proxies list only the
// toolchains they have served. dir is where go.mod is read for QueryGoMod.
func Resolve(ctx context.Context, src Source, q Query, t Target, dir string) (Version, error) {
	if q.Kind == QueryGoMod {
		gq, err := QueryFromGoMod(filepath.Join(dir, "go.mod"))
		if err != nil {
			return Version{}, err
		}
		q = gq
	}
	if q.Kind == QueryExact {
		ok, err := exists(ctx, src, q.Version, t)
		if err != nil {
			return Version{}, fmt.Errorf("looking up %s for %s: %w", q.Version.Go(), t, err)
		}
		if ok {
			return q.Version, nil
		}
		r, _ := ListRemote(ctx, src, t)
		return Version{}, &UnknownVersionError{Asked: q.Version.Go(), Target: t, Closest: closest(r, q.Version)}
	}
	r, err := ListRemote(ctx, src, t)
	if err != nil {
		return Version{}, err
	}
	var cands []Version // newest first
	for i := len(r.All) - 1; i >= 0; i-- {
		v := r.All[i]
		if !v.Stable() || v.IsLang() {
			continue
		}
		if q.Kind == QueryMinor && (v.Major != q.Version.Major || v.Minor != q.Version.Minor) {
			continue
		}
		cands = append(cands, v)
	}
	asked := "latest"
	if q.Kind == QueryMinor {
		asked = q.Version.Go() + ".x"
		if len(cands) == 0 {
			// Not listed at all: try the first patch release directly.
			first := Version{Major: q.Version.Major, Minor: q.Version.Minor, Patch: 0}
			if !first.IsLang() && q.Version.Major == 1 && q.Version.Minor < 21 {
				first.Patch = -1 // go1.20 was the first 1.20 release
			}
			cands = append(cands, first)
		}
	}
	probes := 0
	for i, v := range cands {
		if i >= 4 {
			break
		}
		ok, err := exists(ctx, src, v, t)
		probes++
		if err != nil {
			return Version{}, fmt.Errorf("looking up %s for %s: %w", v.Go(), t, err)
		}
		if !ok {
			continue
		}
		// Newer releases the list may not show yet.
		for probes < maxProbes {
			next := []Version{{Major: v.Major, Minor: v.Minor, Patch: max(v.Patch, 0) + 1}}
			if q.Kind == QueryLatest {
				next = append(next, Version{Major: v.Major, Minor: v.Minor + 1, Patch: 0})
			}
			found := false
			for _, n := range next {
				ok, err := exists(ctx, src, n, t)
				probes++
				if err != nil {
					return Version{}, fmt.Errorf("looking up %s for %s: %w", n.Go(), t, err)
				}
				if ok {
					v, found = n, true
					break
				}
			}
			if !found {
				break
			}
		}
		return v, nil
	}
	var near []Version
	if q.Kind == QueryMinor {
		near = closest(r, q.Version)
	} else if len(r.ForTarget) > 0 {
		near = []Version{r.ForTarget[len(r.ForTarget)-1]}
	}
	return Version{}, &UnknownVersionError{Asked: asked, Target: t, Closest: near}
}

// closest returns up to three listed stable releases near v: the newest of
// v's minor release, and the nearest below and above v.
func closest(r *Remote, v Version) []Version {
	if r == nil {
		return nil
	}
	list := r.ForTarget
	if len(list) == 0 {
		list = r.All
	}
	var stable []Version
	for _, x := range list {
		if x.Stable() && !x.IsLang() {
			stable = append(stable, x)
		}
	}
	var out []Version
	add := func(x Version) {
		for _, y := range out {
			if y == x {
				return
			}
		}
		out = append(out, x)
	}
	i := sort.Search(len(stable), func(i int) bool { return stable[i].Compare(v) >= 0 })
	if i > 0 {
		add(stable[i-1])
	}
	if i < len(stable) {
		add(stable[i])
	}
	for j := len(stable) - 1; j >= 0; j-- {
		if stable[j].Major == v.Major && stable[j].Minor == v.Minor {
			add(stable[j])
			break
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Compare(out[b]) < 0 })
	return out
}

// QueryFromGoMod reads the toolchain the module at path (a go.mod file)
// asks for, as the go command does with GOTOOLCHAIN=auto: the toolchain
// line if present and not older than the go line, else the go line; a
// language version such as "go 1.22" means its first release, go1.22.0.
func QueryFromGoMod(path string) (Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Query{}, fmt.Errorf("no go.mod in this directory (%s): run in the module's directory or name a version", filepath.Dir(path))
		}
		return Query{}, err
	}
	// Parse, not ParseLax: the lax parser skips the toolchain line.
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return Query{}, fmt.Errorf("reading %s: %s", path, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	var gov, tcv Version
	var haveGo, haveTC bool
	if f.Go != nil {
		if gov, err = ParseVersion(f.Go.Version); err != nil {
			return Query{}, fmt.Errorf("%s: go line: %v", path, err)
		}
		haveGo = true
	}
	if f.Toolchain != nil && f.Toolchain.Name != "default" {
		if tcv, err = ParseVersion(strings.TrimPrefix(f.Toolchain.Name, "go")); err != nil || !strings.HasPrefix(f.Toolchain.Name, "go") {
			return Query{}, fmt.Errorf("%s: toolchain line %q: want a form like go1.22.5", path, f.Toolchain.Name)
		}
		// A custom suffix (go1.22.5+auto) is not a release name.
		haveTC = true
	}
	var v Version
	switch {
	case haveTC && (!haveGo || tcv.Compare(gov) >= 0):
		v = tcv
	case haveGo:
		v = gov
	default:
		return Query{}, fmt.Errorf("%s has neither a go nor a toolchain line: name a version instead of go.mod", path)
	}
	if v.IsLang() {
		v.Patch = 0 // "go 1.22" → go1.22.0, as the go command picks
	}
	q := Query{Kind: QueryExact, Version: v, Text: "go.mod"}
	if v.Kind == "" && v.Patch < 0 {
		q.Kind = QueryMinor // go 1.19: the newest 1.19 release
	}
	return q, nil
}
