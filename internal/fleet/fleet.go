// Package fleet is what pitstop serve composes that is neither the proxy's
// nor the cache's: the identifying endpoint a client checks before it
// joins, the join and leave plans that point the go command at a server
// (GOPROXY first, the previous list as fallback; GOCACHEPROG), the state
// that lets leave undo a join exactly, and the DNS-SD announce and browse.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// API names the identifying endpoint's answer; a client refuses any other.
const API = "pitstop/v1"

// IdentityPath is the endpoint that says a server is pitstop.
const IdentityPath = "/.pitstop"

// CachePrefix is where serve mounts the build cache: the module proxy
// answers at the root, so GOPROXY=URL works unchanged.
const CachePrefix = "/cache"

// Identity is what GET /.pitstop answers.
type Identity struct {
	API      string   `json:"api"`
	Version  string   `json:"version"`
	Features []string `json:"features"`
}

// Has reports whether the server offers feature f ("proxy", "cache").
func (id Identity) Has(f string) bool {
	for _, g := range id.Features {
		if g == f {
			return true
		}
	}
	return false
}

// IdentityHandler answers GET /.pitstop with id.
func IdentityHandler(id Identity) http.Handler {
	body, _ := json.Marshal(id)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(append(body, '\n'))
	})
}

// ErrNotPitstop is a server that does not answer /.pitstop as pitstop.
var ErrNotPitstop = errors.New("not a pitstop server")

// ErrTokenRefused is a pitstop server that refused the token (or wants
// one that was not given).
var ErrTokenRefused = errors.New("the server refused the token")

// ErrUnreachable is a server that did not answer at all.
var ErrUnreachable = errors.New("server unreachable")

// NormalizeURL checks a server URL (http or https, a host, no query) and
// returns it without a trailing slash.
func NormalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("server URL %q: want http://HOST:PORT or https://HOST:PORT (a token goes in a file, not the URL)", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Check asks the server at base who it is, sending token when not "". It
// wraps ErrUnreachable, ErrTokenRefused or ErrNotPitstop.
func Check(ctx context.Context, client *http.Client, base, token string) (Identity, error) {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+IdentityPath, nil)
	if err != nil {
		return Identity{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusUnauthorized && strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), `realm="pitstop"`) {
		if token == "" {
			return Identity{}, fmt.Errorf("%w: %s wants a token and none was given", ErrTokenRefused, base)
		}
		return Identity{}, fmt.Errorf("%w: %s answered 401", ErrTokenRefused, base)
	}
	if resp.StatusCode != http.StatusOK {
		return Identity{}, fmt.Errorf("%w: %s%s answered %s", ErrNotPitstop, base, IdentityPath, resp.Status)
	}
	var id Identity
	if err := json.Unmarshal(body, &id); err != nil || id.API != API {
		return Identity{}, fmt.Errorf("%w: %s%s did not answer %s JSON", ErrNotPitstop, base, IdentityPath, API)
	}
	return id, nil
}
