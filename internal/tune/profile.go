package tune

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind says what a setting changes.
type Kind string

// The kinds of setting.
const (
	// Sysctl is a kernel parameter under /proc/sys, named with dots
	// (net.core.somaxconn).
	Sysctl Kind = "sysctl"
	// Limit is a resource limit that systemd and PAM hand to new services
	// and sessions (nofile); it is only written with --persist.
	Limit Kind = "limit"
)

// Setting is one value a profile sets.
type Setting struct {
	Kind Kind   `json:"kind"`
	Key  string `json:"key"`
	// Value is the value with runs of white space folded to one space
	// ("4096 131072 16777216"), without the ">=" of an AtLeast setting.
	Value string `json:"value"`
	// AtLeast marks a ">=" value: applied only where the current value is
	// lower (field by field for multi-number values); a higher current
	// value is left alone.
	AtLeast bool   `json:"at_least,omitempty"`
	Reason  string `json:"reason"`
	// Profile is the profile the setting comes from (an included one, after
	// Catalog.Resolve).
	Profile string `json:"profile"`
}

// String renders the setting as a profile line's value part.
func (s Setting) String() string {
	if s.AtLeast {
		return ">=" + s.Value
	}
	return s.Value
}

// Profile is one parsed profile file.
type Profile struct {
	Name     string
	Summary  string
	Includes []string
	// Source is "embedded" or the file the profile was read from.
	Source string
	// Settings are the profile's own settings, in file order.
	Settings []Setting
}

var (
	nameRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	sysctlKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)
)

// knownLimits are the keys of a [limits] section.
var knownLimits = map[string]bool{"nofile": true}

// ValidName reports whether name may name a profile (it becomes part of
// file names such as 60-pitstop-NAME.conf).
func ValidName(name string) bool {
	return nameRE.MatchString(name) && !strings.Contains(name, "..")
}

// Parse reads a profile in pitstop's INI format (tuned's, reduced):
//
//	[main]
//	summary = one line
//	include = other-profile, another
//	[sysctl]
//	# reason: why the next setting is there
//	net.core.somaxconn = >=8192
//	net.ipv4.tcp_fin_timeout = 15 ; or the reason after a semicolon
//	[limits]
//	nofile = 1024:1048576
//
// Lines starting with # or ; are comments; a "# reason:" comment gives the
// reason of the next setting. A value starting with ">=" only raises; the
// value "-" drops a key that an included profile sets.
func Parse(name string, data []byte) (*Profile, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("invalid profile name %q: use letters, digits, '-', '_' and '.'", name)
	}
	p := &Profile{Name: name}
	section := ""
	reason := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	n := 0
	errf := func(format string, args ...any) error {
		return fmt.Errorf("profile %s line %d: %s", name, n, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "":
			continue
		case line[0] == '#' || line[0] == ';':
			c := strings.TrimSpace(line[1:])
			if r, ok := strings.CutPrefix(c, "reason:"); ok {
				reason = strings.TrimSpace(r)
			}
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, errf("unterminated section header %q", line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			switch section {
			case "main", "sysctl", "limits":
			default:
				return nil, errf("unknown section [%s]: pitstop knows [main], [sysctl] and [limits]", section)
			}
			reason = ""
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, errf("want key = value, got %q", line)
		}
		k = strings.TrimSpace(k)
		inlineReason := ""
		if before, after, ok := strings.Cut(v, ";"); ok && section != "main" {
			v, inlineReason = before, strings.TrimSpace(after)
		}
		v = strings.Join(strings.Fields(v), " ")
		switch section {
		case "":
			return nil, errf("%s is outside any section: start with [main], [sysctl] or [limits]", k)
		case "main":
			switch k {
			case "summary":
				p.Summary = v
			case "include":
				for _, inc := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
					if !ValidName(inc) {
						return nil, errf("invalid profile name %q in include", inc)
					}
					p.Includes = append(p.Includes, inc)
				}
			default:
				return nil, errf("unknown key %q in [main]: pitstop knows summary and include", k)
			}
			continue
		}
		s := Setting{Kind: Sysctl, Key: k, Profile: name, Reason: reason}
		if inlineReason != "" {
			s.Reason = inlineReason
		}
		reason = ""
		if rest, ok := strings.CutPrefix(v, ">="); ok {
			s.AtLeast = true
			v = strings.TrimSpace(rest)
		}
		s.Value = v
		if v == "" {
			return nil, errf("%s has no value", k)
		}
		drop := v == "-" // drops the key an included profile sets
		if section == "limits" {
			s.Kind = Limit
			if !knownLimits[k] {
				return nil, errf("unknown limit %q: pitstop knows nofile", k)
			}
			if s.AtLeast {
				return nil, errf("%s: >= is for sysctls only", k)
			}
			if !drop {
				if _, _, err := ParseNofile(v); err != nil {
					return nil, errf("%v", err)
				}
			}
		} else {
			if !sysctlKeyRE.MatchString(k) {
				return nil, errf("invalid sysctl key %q: write it with dots, e.g. net.core.somaxconn", k)
			}
			if s.AtLeast {
				if _, err := numbers(v); err != nil {
					return nil, errf("%s: >= needs numbers, got %q", k, v)
				}
			}
		}
		id := string(s.Kind) + ":" + k
		if seen[id] {
			return nil, errf("%s is set twice", k)
		}
		seen[id] = true
		p.Settings = append(p.Settings, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}

// ParseNofile reads a nofile limit, "N" (soft and hard) or "SOFT:HARD".
func ParseNofile(v string) (soft, hard uint64, err error) {
	a, b, two := strings.Cut(v, ":")
	soft, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	hard, err2 := soft, error(nil)
	if two {
		hard, err2 = strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	}
	if err1 != nil || err2 != nil || soft == 0 {
		return 0, 0, fmt.Errorf("nofile %q: want a number or soft:hard, e.g. 1024:1048576", v)
	}
	if soft > hard {
		return 0, 0, fmt.Errorf("nofile %q: the soft limit is above the hard limit", v)
	}
	return soft, hard, nil
}

// numbers parses a value of white-space separated integers.
func numbers(v string) ([]int64, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil, fmt.Errorf("no number in %q", v)
	}
	out := make([]int64, len(f))
	for i, s := range f {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
