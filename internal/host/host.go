// Package host is the machine as data: a root filesystem (the live "/" or a
// capture of one) and, on top of it, mountinfo, sysctls, memory, the board,
// storage and thermal facts, the userland's architecture (ELF headers), and
// a Go installed by the distribution. Everything that reads /proc, /sys or
// /etc goes through a Root, so that tests can point it at a captured tree
// under testdata/ and a user can send a capture with a bug report.
//
// It also holds the one architecture table (Arches): GOARCH and GOARM,
// kernel machine names, ELF machine and float ABI, Debian's triplet and
// architecture, the golang.org/toolchain platform and the dynamic loaders,
// with a lookup by each.
package host

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Root is a root filesystem to read the machine's facts from.
// The zero value is not usable; use Live or At.
type Root struct {
	dir  string
	live bool

	mu      sync.Mutex
	seen    map[string]bool   // absolute paths read, for capture
	content map[string][]byte // what ReadFile returned, for capture
}

// Live returns the running machine's root, "/".
func Live() *Root { return &Root{dir: "/", live: true, seen: map[string]bool{}} }

// At returns a root read from dir, a captured tree that mirrors "/".
func At(dir string) *Root { return &Root{dir: dir, seen: map[string]bool{}} }

// IsLive reports whether r is the running machine (probes that need the
// live kernel, such as syscalls or running commands, are allowed).
func (r *Root) IsLive() bool { return r.live }

// Dir returns the directory that stands for "/".
func (r *Root) Dir() string { return r.dir }

// Path maps an absolute path on the machine to the path to open here.
func (r *Root) Path(p string) string {
	if r.live {
		return p
	}
	return filepath.Join(r.dir, filepath.FromSlash(p))
}

func (r *Root) note(p string) {
	r.mu.Lock()
	r.seen[p] = true
	r.mu.Unlock()
}

// Seen returns, sorted, every path read through r so far.
func (r *Root) Seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.seen))
	for p := range r.seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ReadFile reads the file at absolute path p. The bytes read are kept
// (Content), so that a capture holds what the reader saw, not a later
// reading of a changing file such as /proc/meminfo.
func (r *Root) ReadFile(p string) ([]byte, error) {
	r.note(p)
	b, err := os.ReadFile(r.Path(p))
	if err == nil {
		r.mu.Lock()
		if r.content == nil {
			r.content = map[string][]byte{}
		}
		r.content[p] = b
		r.mu.Unlock()
	}
	return b, err
}

// Content returns the bytes ReadFile last returned for p.
func (r *Root) Content(p string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.content[p]
	return b, ok
}

// ReadString reads p and trims surrounding white space and NUL bytes
// (device-tree strings end in NUL).
func (r *Root) ReadString(p string) (string, error) {
	b, err := r.ReadFile(p)
	if err != nil {
		return "", err
	}
	return strings.Trim(string(b), " \t\r\n\x00"), nil
}

// Readlink reads the symbolic link at p. In a capture, links are stored as
// links, so the answer is the same as on the machine.
func (r *Root) Readlink(p string) (string, error) {
	r.note(p)
	return os.Readlink(r.Path(p))
}

// Glob is filepath.Glob on the machine's paths. The matches count as read
// (Seen), so that a capture holds them.
func (r *Root) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(r.Path(pattern))
	if err != nil {
		return m, err
	}
	for i, p := range m {
		if !r.live {
			rel, _ := filepath.Rel(r.dir, p)
			m[i] = "/" + filepath.ToSlash(rel)
		}
		r.note(m[i])
	}
	return m, nil
}

// ReadDir lists the directory at p.
func (r *Root) ReadDir(p string) ([]fs.DirEntry, error) {
	r.note(p)
	return os.ReadDir(r.Path(p))
}
