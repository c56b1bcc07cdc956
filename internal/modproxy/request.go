package modproxy

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// Kind is what a request asks for.
type Kind uint8

// The kinds of request, also the "kind" label of the metrics.
const (
	KindOther Kind = iota
	KindList
	KindLatest
	KindInfo
	KindMod
	KindZip
	KindSumDB
	numKinds
)

var kindNames = [numKinds]string{"other", "list", "latest", "info", "mod", "zip", "sumdb"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "other"
}

// Request is a parsed proxy request path.
type Request struct {
	Kind Kind
	// Path is the module path (unescaped); "" for sumdb requests.
	Path string
	// Version is the canonical version, or for a KindInfo query (Query
	// true) the query string the client sent.
	Version string
	// Query marks a KindInfo request whose version is not canonical
	// ("latest", a branch, a prefix): its answer is mutable.
	Query bool
	// SumDB is the checksum database name and SumDBPath the rest of the
	// path ("supported", "latest", "lookup/M@V", "tile/...").
	SumDB, SumDBPath string
	// Key is the store key of the answer: the escaped request path without
	// its leading slash, always a clean relative path.
	Key string
}

// Immutable reports whether the answer never changes once fetched.
func (r Request) Immutable() bool {
	switch r.Kind {
	case KindMod, KindZip:
		return true
	case KindInfo:
		return !r.Query
	case KindSumDB:
		return strings.HasPrefix(r.SumDBPath, "lookup/") || strings.HasPrefix(r.SumDBPath, "tile/")
	}
	return false
}

// RequestError is a malformed request: Status is 400 or 404, Msg the
// plain text the client (the go command) shows its user.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf(format, args...)}
}

// maxPathLen bounds a request path; module paths and versions are far
// shorter in practice.
const maxPathLen = 1024

// ParseRequest parses the path of a GOPROXY or checksum-database request:
//
//	/<module>/@v/list
//	/<module>/@latest
//	/<module>/@v/<version>.info   (a canonical version or a query)
//	/<module>/@v/<version>.mod
//	/<module>/@v/<version>.zip
//	/sumdb/<name>/supported|latest|lookup/<module>@<version>|tile/...
//
// with module paths and versions in the go command's '!' case-encoding.
// It never returns a Key that could leave the store: paths with "..",
// empty or dot elements, backslashes, control characters or invalid UTF-8
// are refused.
func ParseRequest(urlPath string) (Request, error) {
	if len(urlPath) > maxPathLen {
		return Request{}, badRequest("request path too long")
	}
	if !strings.HasPrefix(urlPath, "/") {
		return Request{}, badRequest("request path must start with /")
	}
	if !utf8.ValidString(urlPath) || strings.ContainsAny(urlPath, "\\\x00") {
		return Request{}, badRequest("invalid characters in request path")
	}
	p := urlPath[1:]
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		return parseSumDB(rest)
	}
	var escMod, tail string
	var r Request
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		escMod, r.Kind = m, KindLatest
	} else if i := strings.Index(p, "/@v/"); i >= 0 {
		escMod, tail = p[:i], p[i+len("/@v/"):]
		if tail == "list" {
			r.Kind = KindList
		}
	} else {
		return Request{}, notFound("not found: %s is not a module proxy path (want /MODULE/@v/list, /MODULE/@v/VERSION.info|.mod|.zip or /MODULE/@latest)", clip(urlPath))
	}
	path, err := module.UnescapePath(escMod)
	if err != nil {
		return Request{}, badRequest("invalid module path %q: %v", clip(escMod), err)
	}
	if err := module.CheckPath(path); err != nil {
		return Request{}, badRequest("invalid module path: %v", err)
	}
	r.Path = path
	if r.Kind == KindList || r.Kind == KindLatest {
		r.Key = p
		return r, nil
	}
	dot := strings.LastIndexByte(tail, '.')
	if dot <= 0 {
		return Request{}, notFound("not found: %s: want VERSION.info, VERSION.mod or VERSION.zip after /@v/", clip(urlPath))
	}
	escVer, ext := tail[:dot], tail[dot+1:]
	switch ext {
	case "info":
		r.Kind = KindInfo
	case "mod":
		r.Kind = KindMod
	case "zip":
		r.Kind = KindZip
	default:
		return Request{}, notFound("not found: %s: unknown file type .%s", clip(urlPath), clip(ext))
	}
	vers, err := module.UnescapeVersion(escVer)
	if err != nil {
		return Request{}, badRequest("invalid version %q: %v", clip(escVer), err)
	}
	r.Version = vers
	if module.CanonicalVersion(vers) == vers && vers != "" {
		if err := module.Check(path, vers); err != nil {
			if r.Kind == KindInfo {
				// e.g. v2.0.0 of a v1 path: the go command asks, upstream says no.
				return Request{}, notFound("not found: %v", err)
			}
			return Request{}, badRequest("%v", err)
		}
	} else {
		if r.Kind != KindInfo {
			return Request{}, badRequest("%s@%s: .%s needs a canonical version (like v1.2.3)", path, clip(vers), ext)
		}
		if err := checkQuery(vers); err != nil {
			return Request{}, badRequest("%s@%s: invalid version query: %v", path, clip(vers), err)
		}
		r.Query = true
	}
	r.Key = p
	if r.Query && escVer[0] == '.' {
		return Request{}, badRequest("invalid version query")
	}
	return r, nil
}

// checkQuery accepts what can follow @ in a go command query: semver
// prefixes, comparisons, branch and tag names, commit hashes.
func checkQuery(q string) error {
	if q == "" || len(q) > 256 {
		return fmt.Errorf("empty or too long")
	}
	if q[0] == '.' || q[0] == '-' {
		return fmt.Errorf("must not start with %q", q[0])
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._+~<>=", c) >= 0) {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	if strings.Contains(q, "..") {
		return fmt.Errorf("must not contain a double dot")
	}
	return nil
}

func parseSumDB(rest string) (Request, error) {
	name, sub, ok := strings.Cut(rest, "/")
	if !ok || name == "" || name[0] == '.' {
		return Request{}, notFound("not found: want /sumdb/NAME/supported, latest, lookup/MODULE@VERSION or tile/...")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return Request{}, badRequest("invalid checksum database name %q", clip(name))
		}
	}
	r := Request{Kind: KindSumDB, SumDB: name, SumDBPath: sub, Key: "sumdb/" + name + "/" + sub}
	switch {
	case sub == "supported" || sub == "latest":
		return r, nil
	case strings.HasPrefix(sub, "lookup/"):
		escMod, escVer, ok := strings.Cut(strings.TrimPrefix(sub, "lookup/"), "@")
		if !ok {
			return Request{}, badRequest("invalid module@version syntax")
		}
		path, err := module.UnescapePath(escMod)
		if err != nil {
			return Request{}, badRequest("invalid module path: %v", err)
		}
		vers, err := module.UnescapeVersion(escVer)
		if err != nil {
			return Request{}, badRequest("invalid version: %v", err)
		}
		if err := module.Check(path, vers); err != nil {
			return Request{}, badRequest("%v", err)
		}
		if module.CanonicalVersion(vers) != vers {
			return Request{}, badRequest("%s@%s: version is not canonical", path, clip(vers))
		}
		r.Path, r.Version = path, vers
		return r, nil
	case strings.HasPrefix(sub, "tile/"):
		t, err := tlog.ParseTilePath(sub)
		if err != nil || t.Path() != sub {
			return Request{}, badRequest("invalid tile path %q", clip(sub))
		}
		return r, nil
	}
	return Request{}, notFound("not found: /sumdb/%s/%s", name, clip(sub))
}

// clip shortens untrusted text for messages.
func clip(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
