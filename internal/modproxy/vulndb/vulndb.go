// Package vulndb reads a local mirror of a Go vulnerability database in
// the layout the public database serves (https://go.dev/security/vuln/database):
//
//	index/db.json       {"modified": "2024-05-01T00:00:00Z"}
//	index/modules.json  [{"path": "example.com/m", "vulns": [{"id": "GO-2024-0001", "modified": "...", "fixed": "1.2.3"}]}]
//	index/vulns.json    [{"id": "GO-2024-0001", "modified": "...", "aliases": ["CVE-..."]}]
//	ID/GO-2024-0001.json  one OSV record
//
// and answers which advisories affect a module version, from the OSV
// records' SEMVER ranges. Sync keeps such a mirror fresh from a URL.
package vulndb

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/semver"
)

// Limits on what is read from a mirror (or fetched by Sync).
const (
	MaxIndexSize = 64 << 20
	MaxEntrySize = 4 << 20
)

// ModuleEntry is one element of index/modules.json.
type ModuleEntry struct {
	Path  string       `json:"path"`
	Vulns []ModuleVuln `json:"vulns"`
}

// ModuleVuln is one advisory of a module in index/modules.json.
type ModuleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

// VulnEntry is one element of index/vulns.json.
type VulnEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// DBMeta is index/db.json.
type DBMeta struct {
	Modified time.Time `json:"modified"`
}

// Entry is the part of an OSV record this package uses.
type Entry struct {
	ID       string     `json:"id"`
	Modified time.Time  `json:"modified"`
	Summary  string     `json:"summary,omitempty"`
	Details  string     `json:"details,omitempty"`
	Aliases  []string   `json:"aliases,omitempty"`
	Affected []Affected `json:"affected"`
}

// Affected is one OSV "affected" element.
type Affected struct {
	Package struct {
		Name      string `json:"name"`
		Ecosystem string `json:"ecosystem"`
	} `json:"package"`
	Ranges []OSVRange `json:"ranges,omitempty"`
}

// OSVRange is an OSV range; the Go database uses type SEMVER with versions
// written without the leading "v".
type OSVRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

// Advisory is an advisory that affects a version.
type Advisory struct {
	ID      string
	Summary string
}

// DB is a mirror directory. Its zero value is not usable: use Open. It
// re-reads the index when index/db.json changes (Sync replaces the
// directory), and is safe for concurrent use.
type DB struct {
	dir string

	mu      sync.Mutex
	stamp   time.Time // index/db.json's mtime when loaded
	modules map[string][]string
	entries map[string]*Entry
	loadErr error
	checked time.Time // when index/db.json was last looked at
}

// Open reads the mirror in dir; it fails when dir has no index.
func Open(dir string) (*DB, error) {
	d := &DB{dir: dir}
	if err := d.refresh(); err != nil {
		return nil, err
	}
	return d, nil
}

// Dir returns the mirror's directory.
func (d *DB) Dir() string { return d.dir }

// Modified returns index/db.json's modified time of the loaded index.
func (d *DB) Modified() time.Time {
	b, err := readLimit(filepath.Join(d.dir, "index", "db.json"), MaxEntrySize)
	if err != nil {
		return time.Time{}
	}
	var m DBMeta
	json.Unmarshal(b, &m)
	return m.Modified
}

// RecheckInterval is how often the DB looks at index/db.json for a new
// copy (one stat).
const RecheckInterval = time.Second

// refresh reloads the index when db.json changed, looking at most every
// RecheckInterval. A failed reload keeps what was loaded.
func (d *DB) refresh() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.modules != nil && now.Sub(d.checked) < RecheckInterval {
		return nil
	}
	d.checked = now
	fi, err := os.Stat(filepath.Join(d.dir, "index", "db.json"))
	if err != nil {
		d.loadErr = fmt.Errorf("vulnerability database %s: %w", d.dir, err)
		if d.modules == nil {
			return d.loadErr
		}
		return nil
	}
	if d.modules != nil && fi.ModTime().Equal(d.stamp) {
		return nil
	}
	b, err := readLimit(filepath.Join(d.dir, "index", "modules.json"), MaxIndexSize)
	var mods []ModuleEntry
	if err == nil {
		err = json.Unmarshal(b, &mods)
	}
	if err != nil {
		d.loadErr = fmt.Errorf("vulnerability database %s: index/modules.json: %v", d.dir, err)
		if d.modules == nil {
			return d.loadErr
		}
		return nil
	}
	m := make(map[string][]string, len(mods))
	for _, e := range mods {
		for _, v := range e.Vulns {
			m[e.Path] = append(m[e.Path], v.ID)
		}
	}
	d.modules, d.entries, d.stamp, d.loadErr = m, map[string]*Entry{}, fi.ModTime(), nil
	return nil
}

// entry loads ID/<id>.json (d.mu held).
func (d *DB) entry(id string) (*Entry, error) {
	if e, ok := d.entries[id]; ok {
		return e, nil
	}
	if !validID(id) {
		return nil, fmt.Errorf("vulnerability database %s: invalid advisory ID %q in the index", d.dir, id)
	}
	b, err := readLimit(filepath.Join(d.dir, "ID", id+".json"), MaxEntrySize)
	if err != nil {
		return nil, fmt.Errorf("vulnerability database %s: %v", d.dir, err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("vulnerability database %s: ID/%s.json: %v", d.dir, id, err)
	}
	d.entries[id] = &e
	return &e, nil
}

// validID accepts advisory IDs that are safe as file names.
func validID(id string) bool {
	if id == "" || len(id) > 64 || id[0] == '.' {
		return false
	}
	for _, c := range id {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Affecting returns the advisories that affect module at version, sorted
// by ID. An advisory whose record cannot be read is an error (the caller
// decides whether that refuses the version).
func (d *DB) Affecting(module, version string) ([]Advisory, error) {
	if err := d.refresh(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Advisory
	for _, id := range d.modules[module] {
		e, err := d.entry(id)
		if err != nil {
			return nil, err
		}
		if e.affects(module, version) {
			out = append(out, Advisory{ID: e.ID, Summary: e.Summary})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// affects reports whether the record's SEMVER ranges for module hold
// version. An affected element without ranges affects every version.
func (e *Entry) affects(module, version string) bool {
	for _, a := range e.Affected {
		if a.Package.Name != module {
			continue
		}
		if len(a.Ranges) == 0 {
			return true
		}
		for _, r := range a.Ranges {
			if r.Type == "SEMVER" && inRange(r, version) {
				return true
			}
		}
	}
	return false
}

// inRange walks the events in order: introduced opens an interval, fixed
// closes it (OSV's algorithm for sorted SEMVER events).
func inRange(r OSVRange, version string) bool {
	affected := false
	for _, ev := range r.Events {
		switch {
		case ev.Introduced != "":
			if ev.Introduced == "0" || semver.Compare(version, "v"+ev.Introduced) >= 0 {
				affected = true
			}
		case ev.Fixed != "":
			if semver.Compare(version, "v"+ev.Fixed) >= 0 {
				affected = false
			}
		}
	}
	return affected
}

func readLimit(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", strings.TrimPrefix(name, "./"), limit)
	}
	return b, nil
}
