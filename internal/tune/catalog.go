package tune

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed profiles/*.conf
var embedded embed.FS

// DefaultProfileDir holds the administrator's profiles, NAME.conf each.
const DefaultProfileDir = "/etc/pitstop/tune.d"

// Catalog is the set of known profiles: the embedded ones and, over them,
// the administrator's (a user profile with an embedded one's name replaces
// it).
type Catalog struct {
	profiles map[string]*Profile
}

// Embedded returns the catalog of the profiles built into pitstop.
func Embedded() *Catalog {
	c := &Catalog{profiles: map[string]*Profile{}}
	ents, _ := fs.ReadDir(embedded, "profiles")
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".conf")
		b, _ := fs.ReadFile(embedded, path.Join("profiles", e.Name()))
		p, err := Parse(name, b)
		if err != nil {
			panic("embedded profile: " + err.Error()) // caught by the tests
		}
		p.Source = "embedded"
		c.profiles[name] = p
	}
	return c
}

// LoadCatalog returns the embedded profiles and those in dir/*.conf
// ("" means DefaultProfileDir; a missing directory holds none). A file
// that does not parse is an error naming it.
func LoadCatalog(dir string) (*Catalog, error) {
	if dir == "" {
		dir = DefaultProfileDir
	}
	c := Embedded()
	files, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".conf")
		p, err := Parse(name, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		p.Source = f
		c.profiles[name] = p
	}
	return c, nil
}

// Names returns the profile names, sorted.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.profiles))
	for n := range c.profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Profile returns the named profile as written (without its includes).
func (c *Catalog) Profile(name string) (*Profile, error) {
	p, ok := c.profiles[name]
	if !ok {
		return nil, &UnknownProfileError{Name: name, Known: c.Names()}
	}
	return p, nil
}

// UnknownProfileError is returned for a profile name the catalog lacks.
type UnknownProfileError struct {
	Name  string
	Known []string
}

func (e *UnknownProfileError) Error() string {
	return fmt.Sprintf("unknown profile %q: known profiles are %s (or add %s/%s.conf)",
		e.Name, strings.Join(e.Known, ", "), DefaultProfileDir, e.Name)
}

// Resolve returns the named profile's settings with its includes expanded:
// included profiles first, in order, then the profile's own settings; a
// later setting of the same key replaces the earlier one in place, and a
// value of "-" drops it. An include cycle is an error that names it.
func (c *Catalog) Resolve(name string) ([]Setting, error) {
	var out []Setting
	index := map[string]int{}
	var walk func(name string, stack []string) error
	walk = func(name string, stack []string) error {
		for i, s := range stack {
			if s == name {
				return fmt.Errorf("include cycle: %s", strings.Join(append(stack[i:], name), " -> "))
			}
		}
		p, err := c.Profile(name)
		if err != nil {
			if len(stack) > 0 {
				return fmt.Errorf("profile %s includes %w", stack[len(stack)-1], err)
			}
			return err
		}
		stack = append(stack, name)
		for _, inc := range p.Includes {
			if err := walk(inc, stack); err != nil {
				return err
			}
		}
		for _, s := range p.Settings {
			id := string(s.Kind) + ":" + s.Key
			if i, ok := index[id]; ok {
				out[i] = s
				continue
			}
			index[id] = len(out)
			out = append(out, s)
		}
		return nil
	}
	if err := walk(name, nil); err != nil {
		return nil, err
	}
	kept := out[:0]
	for _, s := range out {
		if s.Value != "-" {
			kept = append(kept, s)
		}
	}
	return kept, nil
}

// Recommended returns the settings of an embedded profile (includes
// expanded), keyed by sysctl key or, for limits, "limit:KEY" (limit:nofile),
// for callers that compare a machine with a profile; use
// Setting.Satisfied to compare a current value. It returns nil for a name
// that is not embedded.
func Recommended(profile string) map[string]Setting {
	ss, err := Embedded().Resolve(profile)
	if err != nil {
		return nil
	}
	out := make(map[string]Setting, len(ss))
	for _, s := range ss {
		k := s.Key
		if s.Kind == Limit {
			k = "limit:" + k
		}
		out[k] = s
	}
	return out
}
