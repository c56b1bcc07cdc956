// Package policy is the module proxy's dependency gate: a TOML policy file
// of rules, matched by module path pattern and version range, that allow,
// deny, pin or hold back (minimum age, "cooldown") module and toolchain
// versions, hide retracted versions and refuse or flag versions named by a
// Go vulnerability database (internal/modproxy/vulndb). Decide is pure:
// the caller hands in what it knows of a version (its .info time, whether
// it is retracted, the advisories that affect it).
//
// The file format is documented in docs/policy.md. Rules are tried in file
// order and the first whose module pattern and version range match
// decides; no match falls to [default].
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/pitstop-go/pitstop/internal/units"
)

// DefaultFile is where the proxy looks for a policy when none is named.
const DefaultFile = "/etc/pitstop/policy.toml"

// MaxFileSize bounds a policy file.
const MaxFileSize = 1 << 20

// Action is what a rule does with the versions it matches.
type Action string

// The actions.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
	Pin   Action = "pin"
)

// Retracted is what happens to versions their author retracted.
type Retracted string

// The ways to treat retracted versions.
const (
	RetractedHide Retracted = "hide" // left out of lists and @latest, fetchable by name
	RetractedShow Retracted = "show" // treated like any other version
	RetractedDeny Retracted = "deny" // hidden and refused
)

// Vulns is what happens to versions a vulnerability advisory names.
type Vulns string

// The ways to treat affected versions.
const (
	VulnsDeny   Vulns = "deny"   // hidden and refused, naming the advisories
	VulnsFlag   Vulns = "flag"   // served, the decision and audit name the advisories
	VulnsIgnore Vulns = "ignore" // not looked up
)

// Rule is one [[rule]] (or the [default], which has no Modules and
// Versions). Zero MinAge, Retracted and Vulns in a rule inherit the
// default's.
type Rule struct {
	Name     string
	Modules  []string // path patterns, GOPRIVATE style
	Versions Range
	Action   Action
	Pin      string // with Action Pin: the one version allowed
	Reason   string
	// MinAge is the cooldown: versions younger than this (by their .info
	// Time) are hidden and refused. Negative means "unset" in a rule
	// (inherit the default's); 0 disables.
	MinAge    time.Duration
	Retracted Retracted
	Vulns     Vulns
	Ignore    []string // advisory IDs not applied
	Line      int      // where the rule starts in the file

	where string // Where's answer, set by Parse
}

// Audit configures the audit log.
type Audit struct {
	File    string // "" means no audit log
	MaxSize int64  // rotate when the file grows past this; 0 means 10 MiB
	Keep    int    // rotated files kept; 0 means 3
}

// Policy is a parsed policy file.
type Policy struct {
	File    string // the file's name, for messages
	Default Rule
	Rules   []Rule
	// VulnDB is the directory of the vulnerability database mirror, ""
	// for none (relative names are relative to the policy file's
	// directory, resolved by Load).
	VulnDB string
	Audit  Audit
}

// file is the TOML shape.
type file struct {
	VulnDB  string     `toml:"vulndb"`
	Default fileRule   `toml:"default"`
	Rule    []fileRule `toml:"rule"`
	Audit   struct {
		File    string `toml:"file"`
		MaxSize string `toml:"max_size"`
		Keep    *int   `toml:"keep"`
	} `toml:"audit"`
}

type fileRule struct {
	Name      string   `toml:"name"`
	Module    string   `toml:"module"`
	Modules   []string `toml:"modules"`
	Versions  string   `toml:"versions"`
	Action    string   `toml:"action"`
	Pin       string   `toml:"pin"`
	Reason    string   `toml:"reason"`
	MinAge    *string  `toml:"min_age"`
	Retracted string   `toml:"retracted"`
	Vulns     string   `toml:"vulns"`
	Ignore    []string `toml:"ignore"`
}

// Error is a mistake in a policy file, with where it is.
type Error struct {
	File      string
	Line, Col int // 1-based; 0 when unknown
	Msg       string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Parse reads a policy file's content; name is used in errors. Every
// mistake is an *Error with the line and column.
func Parse(name string, data []byte) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("the policy file is larger than %d bytes", MaxFileSize)}
	}
	var f file
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: name, Line: pe.Position.Line, Col: pe.Position.Col, Msg: pe.Message}
		}
		return nil, &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	loc := locator{src: data}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		line, col := loc.key(k)
		return nil, &Error{File: name, Line: line, Col: col, Msg: fmt.Sprintf("unknown key %q (see docs/policy.md for the keys a policy has)", k.String())}
	}
	p := &Policy{File: name, VulnDB: f.VulnDB}
	bad := func(table string, idx int, key, format string, args ...any) error {
		line, col := loc.find(table, idx, key)
		return &Error{File: name, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
	}
	p.Default, err = f.Default.rule("default", -1, bad)
	if err != nil {
		return nil, err
	}
	if p.Default.Action == "" {
		p.Default.Action = Allow
	}
	if p.Default.Action == Pin {
		return nil, bad("default", -1, "action", "the default cannot pin: pin a module in a [[rule]]")
	}
	if p.Default.MinAge < 0 {
		p.Default.MinAge = 0
	}
	if p.Default.Retracted == "" {
		p.Default.Retracted = RetractedHide
	}
	if p.Default.Vulns == "" {
		p.Default.Vulns = VulnsDeny
	}
	p.Default.Name = "default"
	p.Default.Line, _ = loc.find("default", -1, "")
	for i, fr := range f.Rule {
		r, err := fr.rule("rule", i, bad)
		if err != nil {
			return nil, err
		}
		if len(r.Modules) == 0 {
			return nil, bad("rule", i, "", "rule %d has no module pattern: set module = \"example.com/*\" (or modules = [...])", i+1)
		}
		if r.Action == "" {
			return nil, bad("rule", i, "", "rule %d has no action: set action = \"allow\", \"deny\" or \"pin\"", i+1)
		}
		r.Line, _ = loc.find("rule", i, "")
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule %d", i+1)
		}
		p.Rules = append(p.Rules, r)
	}
	p.Default.where = p.Where(&p.Default)
	for i := range p.Rules {
		p.Rules[i].where = p.Where(&p.Rules[i])
	}
	p.Audit.File = f.Audit.File
	if f.Audit.MaxSize != "" {
		n, err := units.ParseSize(f.Audit.MaxSize)
		if err != nil || n <= 0 {
			return nil, bad("audit", -1, "max_size", "max_size %q is not a size (10MiB, 500KB)", f.Audit.MaxSize)
		}
		p.Audit.MaxSize = n
	}
	if f.Audit.Keep != nil {
		if *f.Audit.Keep < 0 || *f.Audit.Keep > 100 {
			return nil, bad("audit", -1, "keep", "keep = %d: keep between 0 and 100 rotated files", *f.Audit.Keep)
		}
		p.Audit.Keep = *f.Audit.Keep
	}
	return p, nil
}

type badFunc func(table string, idx int, key, format string, args ...any) error

func (fr fileRule) rule(table string, idx int, bad badFunc) (Rule, error) {
	r := Rule{Name: fr.Name, Reason: fr.Reason, Ignore: fr.Ignore, MinAge: -1}
	isDefault := idx < 0
	if fr.Module != "" {
		r.Modules = append(r.Modules, fr.Module)
	}
	r.Modules = append(r.Modules, fr.Modules...)
	if isDefault && (len(r.Modules) > 0 || fr.Versions != "") {
		key := "module"
		if fr.Versions != "" {
			key = "versions"
		}
		return r, bad(table, idx, key, "the default applies to every module and version: move %s to a [[rule]]", key)
	}
	for _, pat := range r.Modules {
		if err := checkPattern(pat); err != nil {
			key := "module"
			if fr.Module != pat {
				key = "modules"
			}
			return r, bad(table, idx, key, "%v", err)
		}
	}
	var err error
	if r.Versions, err = ParseRange(fr.Versions); err != nil {
		return r, bad(table, idx, "versions", "%v", err)
	}
	switch a := Action(fr.Action); a {
	case "", Allow, Deny, Pin:
		r.Action = a
	default:
		return r, bad(table, idx, "action", "action %q: use \"allow\", \"deny\" or \"pin\"", fr.Action)
	}
	if r.Action == Pin {
		if fr.Pin == "" || !semver.IsValid(fr.Pin) || semver.Canonical(fr.Pin) != fr.Pin {
			return r, bad(table, idx, "pin", "action \"pin\" needs pin = \"v1.2.3\", a canonical version (got %q)", fr.Pin)
		}
		if !r.Versions.Any() {
			return r, bad(table, idx, "versions", "a pin rule matches every version of its modules: drop versions")
		}
		r.Pin = fr.Pin
	} else if fr.Pin != "" {
		return r, bad(table, idx, "pin", "pin is only for action = \"pin\"")
	}
	if fr.MinAge != nil {
		d, err := parseAge(*fr.MinAge)
		if err != nil {
			return r, bad(table, idx, "min_age", "%v", err)
		}
		r.MinAge = d
	}
	switch v := Retracted(fr.Retracted); v {
	case "", RetractedHide, RetractedShow, RetractedDeny:
		r.Retracted = v
	default:
		return r, bad(table, idx, "retracted", "retracted %q: use \"hide\", \"show\" or \"deny\"", fr.Retracted)
	}
	switch v := Vulns(fr.Vulns); v {
	case "", VulnsDeny, VulnsFlag, VulnsIgnore:
		r.Vulns = v
	default:
		return r, bad(table, idx, "vulns", "vulns %q: use \"deny\", \"flag\" or \"ignore\"", fr.Vulns)
	}
	for _, id := range fr.Ignore {
		if id == "" || strings.ContainsAny(id, " \t/") {
			return r, bad(table, idx, "ignore", "ignore %q is not an advisory ID (GO-2024-0001)", id)
		}
	}
	return r, nil
}

// checkPattern accepts GOPRIVATE-style patterns: path.Match globs matched
// against the module path and its prefixes.
func checkPattern(pat string) error {
	if pat == "" || strings.ContainsAny(pat, " \t,") {
		return fmt.Errorf("module pattern %q: one path pattern per string, no spaces or commas (example.com/*, golang.org/x/*)", pat)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("module pattern %q: %v (path.Match syntax: *, ?, [a-z])", pat, err)
	}
	return nil
}

// parseAge reads a duration with day and week units: "72h", "3d", "1w",
// "1d12h", "0".
func parseAge(s string) (time.Duration, error) {
	orig := s
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		i := strings.IndexAny(s, "dw")
		if i < 0 {
			d, err := time.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("min_age %q is not a duration (72h, 3d, 1w, 90m, 0)", orig)
			}
			total += d
			break
		}
		var n int
		if _, err := fmt.Sscanf(s[:i], "%d", &n); err != nil || fmt.Sprint(n) != s[:i] || n < 0 {
			return 0, fmt.Errorf("min_age %q is not a duration (72h, 3d, 1w, 90m, 0)", orig)
		}
		unit := 24 * time.Hour
		if s[i] == 'w' {
			unit *= 7
		}
		total += time.Duration(n) * unit
		s = s[i+1:]
	}
	if total < 0 {
		return 0, fmt.Errorf("min_age %q is negative", orig)
	}
	return total, nil
}

// Matches reports whether the rule's patterns and range hold module@version.
func (r *Rule) Matches(mod, version string) bool {
	return module.MatchPrefixPatterns(strings.Join(r.Modules, ","), mod) && r.Versions.Contains(mod, version)
}

// Where names the rule for messages: `rule "cooldown" (policy.toml:12)`.
func (p *Policy) Where(r *Rule) string {
	if r.where != "" {
		return r.where
	}
	if r == &p.Default {
		return fmt.Sprintf("default (%s:%d)", p.File, r.Line)
	}
	return fmt.Sprintf("rule %q (%s:%d)", r.Name, p.File, r.Line)
}

// Match returns the rule that decides module@version: the first matching
// rule, else the default.
func (p *Policy) Match(mod, version string) *Rule {
	for i := range p.Rules {
		if p.Rules[i].Matches(mod, version) {
			return &p.Rules[i]
		}
	}
	return &p.Default
}

// effective fills a rule's unset settings from the default.
func (p *Policy) effective(r *Rule) Rule {
	e := *r
	if e.MinAge < 0 {
		e.MinAge = p.Default.MinAge
	}
	if e.Retracted == "" {
		e.Retracted = p.Default.Retracted
	}
	if e.Vulns == "" {
		e.Vulns = p.Default.Vulns
	}
	return e
}

// Needs says which facts Decide needs for module@version: the .info time
// (a cooldown applies), retractions, advisories.
func (p *Policy) Needs(mod, version string) (needTime, needRetracted, needVulns bool) {
	r := p.Match(mod, version)
	e := p.effective(r)
	switch {
	case e.Action == Deny:
		return false, false, false
	case e.Action == Pin && version != e.Pin:
		return false, false, false
	}
	return e.MinAge > 0 && e.Action != Pin, e.Retracted != RetractedShow, e.Vulns != VulnsIgnore && p.VulnDB != ""
}

// Subject is what the caller knows of a version.
type Subject struct {
	Module, Version string
	// Time is the version's .info Time; zero when unknown (a cooldown
	// then refuses the version).
	Time time.Time
	// Retracted is true when the module's latest go.mod retracts it.
	Retracted bool
	// Advisories affecting the version (from the vulnerability database).
	Advisories []Advisory
}

// Advisory is a vulnerability advisory affecting a version.
type Advisory struct {
	ID, Summary string
}

// Verdict is a decision's outcome.
type Verdict string

// The verdicts, also the "decision" label of the metrics and the audit
// log's "decision" field.
const (
	VerdictAllow Verdict = "allow" // served and listed
	VerdictFlag  Verdict = "flag"  // served and listed; advisories noted
	VerdictHide  Verdict = "hide"  // served by name, left out of lists (retracted)
	VerdictDeny  Verdict = "deny"  // refused and left out of lists
)

// Decision is the policy's answer for one version.
type Decision struct {
	Verdict Verdict
	// Rule names the deciding rule: `rule "cooldown" (policy.toml:12)`
	// or `default (policy.toml:3)`.
	Rule string
	// Reason says why, for people: the rule's reason, or what the
	// version fell foul of.
	Reason string
	// Advisories are the IDs of the advisories that denied or flagged it.
	Advisories []string
	// Until, for a version held back by a cooldown, is when it becomes
	// allowed.
	Until time.Time
}

// Served reports whether a direct request for the version is answered.
func (d Decision) Served() bool { return d.Verdict != VerdictDeny }

// Listed reports whether the version appears in lists and @latest.
func (d Decision) Listed() bool { return d.Verdict == VerdictAllow || d.Verdict == VerdictFlag }

// Message is the one line a refused client sees.
func (d Decision) Message(mod, version string) string {
	return fmt.Sprintf("%s@%s: refused by pitstop proxy policy, %s: %s", mod, version, d.Rule, d.Reason)
}

// Decide decides s at time now.
func (p *Policy) Decide(s Subject, now time.Time) Decision {
	r := p.Match(s.Module, s.Version)
	e := p.effective(r)
	d := Decision{Rule: p.Where(r)}
	deny := func(reason string) Decision {
		d.Verdict, d.Reason = VerdictDeny, reason
		return d
	}
	switch e.Action {
	case Deny:
		if e.Reason == "" {
			return deny("denied by policy")
		}
		return deny(e.Reason)
	case Pin:
		if s.Version != e.Pin {
			msg := fmt.Sprintf("%s is pinned to %s", s.Module, e.Pin)
			if e.Reason != "" {
				msg += " (" + e.Reason + ")"
			}
			return deny(msg)
		}
	}
	var ids []string
	var sums []string
	for _, a := range s.Advisories {
		if slices.Contains(e.Ignore, a.ID) {
			continue
		}
		ids = append(ids, a.ID)
		if a.Summary != "" {
			sums = append(sums, a.ID+": "+a.Summary)
		} else {
			sums = append(sums, a.ID)
		}
	}
	if len(ids) > 0 && e.Vulns != VulnsIgnore {
		d.Advisories = ids
		if e.Vulns == VulnsDeny {
			return deny("affected by " + strings.Join(sums, "; "))
		}
	}
	if s.Retracted {
		switch e.Retracted {
		case RetractedDeny:
			return deny("retracted by its author")
		case RetractedHide:
			d.Verdict, d.Reason = VerdictHide, "retracted by its author: hidden from lists, served by name"
			return d
		}
	}
	if e.MinAge > 0 && e.Action != Pin {
		if s.Time.IsZero() {
			return deny(fmt.Sprintf("its publication time is unknown and the cooldown is %s", fmtAge(e.MinAge)))
		}
		if age := now.Sub(s.Time); age < e.MinAge {
			d.Until = s.Time.Add(e.MinAge).UTC()
			return deny(fmt.Sprintf("published %s (%s ago), younger than the %s cooldown; allowed from %s",
				s.Time.UTC().Format(time.RFC3339), fmtAge(age.Round(time.Minute)), fmtAge(e.MinAge), d.Until.Format(time.RFC3339)))
		}
	}
	d.Verdict = VerdictAllow
	if len(d.Advisories) > 0 {
		d.Verdict = VerdictFlag
		d.Reason = "served, flagged: affected by " + strings.Join(sums, "; ")
		return d
	}
	switch {
	case e.Action == Pin:
		d.Reason = "the pinned version"
	case e.Reason != "":
		d.Reason = e.Reason
	case e.MinAge > 0:
		d.Reason = fmt.Sprintf("allowed: older than the %s cooldown", fmtAge(e.MinAge))
	default:
		d.Reason = "allowed"
	}
	return d
}

// fmtAge prints a duration in days when it is whole days ("3d"), else as
// time.Duration does with trailing zero units trimmed.
func fmtAge(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if s == "" {
		return "0s"
	}
	return s
}

// Shadowed returns warnings for rules that can never decide: an earlier
// rule matches every version of every module they name.
func (p *Policy) Shadowed() []string {
	var out []string
	for j := range p.Rules {
		for i := 0; i < j; i++ {
			if p.Rules[i].Versions.Any() && covers(p.Rules[i].Modules, p.Rules[j].Modules) {
				out = append(out, fmt.Sprintf("%s never decides: %s comes first and matches every version of its modules", p.Where(&p.Rules[j]), p.Where(&p.Rules[i])))
				break
			}
		}
	}
	return out
}

// covers reports whether every pattern of b is matched by a: a pattern
// without glob characters is a path a matches; one with them must appear
// in a as written.
func covers(a, b []string) bool {
	for _, pat := range b {
		if strings.ContainsAny(pat, "*?[\\") {
			if !slices.Contains(a, pat) && !slices.Contains(a, "*") {
				return false
			}
		} else if !module.MatchPrefixPatterns(strings.Join(a, ","), pat) {
			return false
		}
	}
	return true
}
