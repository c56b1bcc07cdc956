// Package goenv answers "what does the go command see": its environment as
// `go env -json` reports it (with Go's own defaults already applied), the
// GOPROXY list with its fallback rules, GOPRIVATE/GONOPROXY/GONOSUMDB
// matching, and the GOSUMDB setting. Doctor, proxy and toolchain all read
// upstreams through here, so they agree with the go command.
package goenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
)

// DefaultSumDBKey is the public verifier key of the go command's default
// checksum database. The go command carries the same key
// (cmd/go/internal/modfetch/key.go); this is the only copy in pitstop.
const DefaultSumDBKey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

// Vars are the variables Read asks the go command for when it can run one.
var Vars = []string{
	"GOROOT", "GOPATH", "GOBIN", "GOMODCACHE", "GOCACHE", "GOTMPDIR", "GOENV",
	"GOPROXY", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOINSECURE",
	"GOFLAGS", "GOTOOLCHAIN", "GOOS", "GOARCH", "GOARM", "GOARM64", "GOVERSION",
	"CGO_ENABLED", "CC", "CXX", "GOEXE", "GOHOSTARCH", "GOHOSTOS", "GOCACHEPROG",
	"GODEBUG", "GOMOD",
}

// Env is the go command's view of its environment: variable name to value.
// A missing key reads as "".
type Env map[string]string

// Get returns the value of key, "" when unset.
func (e Env) Get(key string) string { return e[key] }

// Read runs `<gobin> env -json` (gobin "" means "go" from PATH) and returns
// what it printed. It is bounded by a 10-second timeout.
func Read(ctx context.Context, gobin string) (Env, error) {
	if gobin == "" {
		gobin = "go"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, append([]string{"env", "-json"}, Vars...)...)
	// Run outside any module: a go.mod asking for a newer Go would make the
	// go command download and switch toolchains just to print its env.
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("%s env: %v: %s", gobin, err, msg)
		}
		return nil, fmt.Errorf("%s env: %v", gobin, err)
	}
	env := Env{}
	if err := json.Unmarshal(out, &env); err != nil {
		return nil, fmt.Errorf("%s env -json: %v", gobin, err)
	}
	return env, nil
}

// FromOS builds an Env from the process environment alone, for when no go
// command can be run. It applies the defaults that do not name a network
// service (GONOPROXY and GONOSUMDB default to GOPRIVATE, GOMODCACHE to
// GOPATH/pkg/mod, GOPATH to ~/go, GOCACHE to the user cache dir). GOPROXY
// and GOSUMDB stay as the environment has them: pitstop never invents an
// upstream.
func FromOS() Env {
	e := Env{}
	for _, k := range Vars {
		if v, ok := os.LookupEnv(k); ok {
			e[k] = v
		}
	}
	if e["GOPATH"] == "" {
		if home, err := os.UserHomeDir(); err == nil {
			e["GOPATH"] = filepath.Join(home, "go")
		}
	}
	if e["GOMODCACHE"] == "" && e["GOPATH"] != "" {
		e["GOMODCACHE"] = filepath.Join(filepath.SplitList(e["GOPATH"])[0], "pkg", "mod")
	}
	if e["GOCACHE"] == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			e["GOCACHE"] = filepath.Join(dir, "go-build")
		}
	}
	for _, k := range []string{"GONOPROXY", "GONOSUMDB"} {
		if e[k] == "" {
			e[k] = e["GOPRIVATE"]
		}
	}
	return e
}

// Load returns Read(ctx, "go") when a go command runs, else FromOS.
func Load(ctx context.Context) Env {
	if e, err := Read(ctx, ""); err == nil {
		return e
	}
	return FromOS()
}

// NoProxy reports whether modPath must be fetched directly, never through a
// proxy (GONOPROXY, which defaults to GOPRIVATE).
func (e Env) NoProxy(modPath string) bool {
	return module.MatchPrefixPatterns(e.orPrivate("GONOPROXY"), modPath)
}

// NoSumDB reports whether modPath must not be looked up in the checksum
// database (GOSUMDB=off, or GONOSUMDB, which defaults to GOPRIVATE).
func (e Env) NoSumDB(modPath string) bool {
	return e["GOSUMDB"] == "off" || module.MatchPrefixPatterns(e.orPrivate("GONOSUMDB"), modPath)
}

// Private reports whether modPath matches GOPRIVATE.
func (e Env) Private(modPath string) bool {
	return module.MatchPrefixPatterns(e["GOPRIVATE"], modPath)
}

func (e Env) orPrivate(key string) string {
	if v := e[key]; v != "" {
		return v
	}
	return e["GOPRIVATE"] // as cmd/go's envOr: empty means unset
}

// Proxy is one entry of a GOPROXY list.
type Proxy struct {
	// URL is the proxy's base URL, or "direct" or "off".
	URL string
	// FallBackOnError is true when the entry was followed by '|': any error
	// moves on to the next entry. With ',' only a 404 or 410 does.
	FallBackOnError bool
}

// Direct reports whether the entry is the keyword "direct".
func (p Proxy) Direct() bool { return p.URL == "direct" }

// Off reports whether the entry is the keyword "off".
func (p Proxy) Off() bool { return p.URL == "off" }

// ErrNoProxy is returned by ParseProxyList for an empty GOPROXY.
var ErrNoProxy = errors.New("GOPROXY is empty: set it (go env -w GOPROXY=...) or run where the go command is installed")

// ParseProxyList parses a GOPROXY value with the go command's rules
// (cmd/go/internal/modfetch/proxy.go): entries split on ',' (fall through
// on 404/410) or '|' (fall through on any error); "direct" and "off" end the
// list; a URL without a scheme gets https://.
func ParseProxyList(goproxy string) ([]Proxy, error) {
	if strings.TrimSpace(goproxy) == "" {
		return nil, ErrNoProxy
	}
	orig := goproxy
	var list []Proxy
	for goproxy != "" {
		var u string
		fallBack := false
		if i := strings.IndexAny(goproxy, ",|"); i >= 0 {
			u, fallBack, goproxy = goproxy[:i], goproxy[i] == '|', goproxy[i+1:]
		} else {
			u, goproxy = goproxy, ""
		}
		u = strings.TrimSpace(u)
		switch {
		case u == "":
			continue
		case u == "off" || u == "direct":
			list = append(list, Proxy{URL: u})
			return list, nil
		}
		if strings.ContainsAny(u, ".:/") && !strings.Contains(u, ":/") && !filepath.IsAbs(u) {
			u = "https://" + u
		}
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("GOPROXY entry %q: %v", u, err)
		}
		switch pu.Scheme {
		case "http", "https", "file":
		default:
			return nil, fmt.Errorf("GOPROXY entry %q: unsupported scheme %q (want http, https or file)", u, pu.Scheme)
		}
		list = append(list, Proxy{URL: strings.TrimSuffix(u, "/"), FallBackOnError: fallBack})
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("GOPROXY %q contains no entries: set it to a proxy URL or direct (go env -w GOPROXY=...)", orig)
	}
	return list, nil
}

// Proxies parses the Env's GOPROXY.
func (e Env) Proxies() ([]Proxy, error) { return ParseProxyList(e["GOPROXY"]) }

// SumDB describes the checksum database GOSUMDB names.
type SumDB struct {
	// Name is the database's name, e.g. the host in its verifier key.
	Name string
	// Key is the full verifier key.
	Key string
	// URL is the explicit URL given in GOSUMDB ("key url"), or "" when the
	// database is to be reached through the proxies' /sumdb/<name>/
	// endpoints (or https://<name> for GOPROXY=direct).
	URL string
}

// ErrSumDBOff is returned by ParseSumDB for GOSUMDB=off.
var ErrSumDBOff = errors.New("checksum database disabled by GOSUMDB=off")

// ParseSumDB parses a GOSUMDB value as the go command does: "off", a known
// database name, a verifier key, or either followed by a URL. An empty value
// means the go command's default database.
func ParseSumDB(gosumdb string) (SumDB, error) {
	gosumdb = strings.TrimSpace(gosumdb)
	if gosumdb == "off" {
		return SumDB{}, ErrSumDBOff
	}
	f := strings.Fields(gosumdb)
	if len(f) == 0 {
		f = []string{DefaultSumDBKey}
	}
	if len(f) > 2 {
		return SumDB{}, fmt.Errorf("invalid GOSUMDB %q: too many fields", gosumdb)
	}
	if defaultName := strings.SplitN(DefaultSumDBKey, "+", 2)[0]; f[0] == defaultName {
		f[0] = DefaultSumDBKey
	}
	v, err := note.NewVerifier(f[0])
	if err != nil {
		return SumDB{}, fmt.Errorf("invalid GOSUMDB %q: %v", gosumdb, err)
	}
	db := SumDB{Name: v.Name(), Key: f[0]}
	if len(f) == 2 {
		db.URL = strings.TrimSuffix(f[1], "/")
	}
	return db, nil
}

// SumDB parses the Env's GOSUMDB.
func (e Env) SumDB() (SumDB, error) { return ParseSumDB(e["GOSUMDB"]) }
