package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		rng, mod string
		in, out  []string
	}{
		{"", "m", []string{"v0.0.1", "v9.9.9"}, nil},
		{">=v1.2.0 <v2", "m", []string{"v1.2.0", "v1.9.9", "v2.0.0-rc.1"}, []string{"v1.1.9", "v2.0.0", "v3.0.0"}},
		{"v1.4.*", "m", []string{"v1.4.0", "v1.4.12", "v1.4.2-rc.1"}, []string{"v1.40.0", "v1.5.0", "v1.3.9"}},
		{"v1.*", "m", []string{"v1.0.0", "v1.99.0"}, []string{"v2.0.0", "v10.0.0"}},
		{"v1.2.3", "m", []string{"v1.2.3"}, []string{"v1.2.4"}},
		{"v1.4.* || >=v1.6.0", "m", []string{"v1.4.1", "v1.6.0", "v2.0.0"}, []string{"v1.5.0"}},
		{"go1.22.*", "golang.org/toolchain", []string{"v0.0.1-go1.22.5.linux-arm64", "v0.0.1-go1.22rc1.linux-amd64"}, []string{"v0.0.1-go1.23.0.linux-arm64", "v0.0.1-go1.21.0.linux-arm64"}},
		{"<go1.24.0", "golang.org/toolchain", []string{"v0.0.1-go1.23.4.linux-arm64", "v0.0.1-go1.24rc2.linux-arm64"}, []string{"v0.0.1-go1.24.0.linux-arm64"}},
	} {
		r, err := ParseRange(tc.rng)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tc.rng, err)
		}
		for _, v := range tc.in {
			if !r.Contains(tc.mod, v) {
				t.Errorf("%q does not contain %s; want it to", tc.rng, v)
			}
		}
		for _, v := range tc.out {
			if r.Contains(tc.mod, v) {
				t.Errorf("%q contains %s; want it not to", tc.rng, v)
			}
		}
	}
	for _, bad := range []string{">=", "v1.2", "1.2.3", ">=v1.*", "v1.2.3.*", "||", "v1 ||", "go1.x", "v1.2.3-rc.*"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) succeeded; want an error", bad)
		}
	}
}

const example = `# a fleet's policy
vulndb = "/var/lib/pitstop/vulndb"

[default]
min_age = "3d"
retracted = "hide"
vulns = "deny"

[[rule]]
name = "ours"
modules = ["example.com/ours/*", "example.com/tools"]
action = "allow"
min_age = "0"

[[rule]]
name = "no-v2"
module = "example.com/lib"
versions = ">=v2"
action = "deny"
reason = "v2 is not reviewed"

[[rule]]
name = "yaml-pin"
module = "example.com/yaml"
action = "pin"
pin = "v1.4.2"

[[rule]]
name = "accepted-risk"
module = "example.com/legacy"
action = "allow"
vulns = "flag"
ignore = ["GO-2024-0002"]

[[rule]]
name = "go-1.22-only"
module = "golang.org/toolchain"
versions = "go1.22.*"
action = "allow"

[[rule]]
name = "other-toolchains"
module = "golang.org/toolchain"
action = "deny"
reason = "the classroom uses Go 1.22"

[audit]
file = "/var/log/pitstop/policy.jsonl"
max_size = "10MiB"
keep = 5
`

func TestDecide(t *testing.T) {
	p, err := Parse("policy.toml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	old, young := now.Add(-10*24*time.Hour), now.Add(-2*time.Hour)
	for _, tc := range []struct {
		s       Subject
		verdict Verdict
		rule    string
		reason  string
	}{
		{Subject{Module: "example.com/ours/a", Version: "v1.0.0", Time: young}, VerdictAllow, `rule "ours" (policy.toml:9)`, "allowed"},
		{Subject{Module: "example.com/tools", Version: "v1.0.0", Time: young}, VerdictAllow, `rule "ours"`, ""},
		{Subject{Module: "example.com/lib", Version: "v2.1.0", Time: old}, VerdictDeny, `rule "no-v2" (policy.toml:15)`, "v2 is not reviewed"},
		{Subject{Module: "example.com/lib", Version: "v1.9.0", Time: young}, VerdictDeny, "default (policy.toml:4)", "younger than the 3d cooldown"},
		{Subject{Module: "example.com/lib", Version: "v1.9.0", Time: old}, VerdictAllow, "default", "older than the 3d cooldown"},
		{Subject{Module: "example.com/lib", Version: "v1.9.0"}, VerdictDeny, "default", "publication time is unknown"},
		{Subject{Module: "example.com/lib", Version: "v1.8.0", Time: old, Retracted: true}, VerdictHide, "default", "retracted"},
		{Subject{Module: "example.com/lib", Version: "v1.8.0", Time: old, Advisories: []Advisory{{"GO-2024-0001", "bad"}}}, VerdictDeny, "default", "affected by GO-2024-0001: bad"},
		{Subject{Module: "example.com/yaml", Version: "v1.4.3", Time: old}, VerdictDeny, `rule "yaml-pin"`, "pinned to v1.4.2"},
		{Subject{Module: "example.com/yaml", Version: "v1.4.2", Time: young}, VerdictAllow, `rule "yaml-pin"`, "pinned version"},
		{Subject{Module: "example.com/legacy", Version: "v0.1.0", Time: old, Advisories: []Advisory{{"GO-2024-0001", ""}, {"GO-2024-0002", ""}}}, VerdictFlag, `rule "accepted-risk"`, "flagged: affected by GO-2024-0001"},
		{Subject{Module: "example.com/legacy", Version: "v0.1.0", Time: old, Advisories: []Advisory{{"GO-2024-0002", ""}}}, VerdictAllow, `rule "accepted-risk"`, ""},
		{Subject{Module: "golang.org/toolchain", Version: "v0.0.1-go1.22.5.linux-arm64", Time: old}, VerdictAllow, `rule "go-1.22-only"`, ""},
		{Subject{Module: "golang.org/toolchain", Version: "v0.0.1-go1.22.9.linux-arm64", Time: young}, VerdictDeny, `rule "go-1.22-only"`, "cooldown"},
		{Subject{Module: "golang.org/toolchain", Version: "v0.0.1-go1.23.0.linux-arm64", Time: old}, VerdictDeny, `rule "other-toolchains"`, "the classroom uses Go 1.22"},
	} {
		d := p.Decide(tc.s, now)
		if d.Verdict != tc.verdict || !strings.HasPrefix(d.Rule, tc.rule) || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("Decide(%s@%s) = %+v; want %s by %s, reason containing %q", tc.s.Module, tc.s.Version, d, tc.verdict, tc.rule, tc.reason)
		}
	}
	if p.Audit.Keep != 5 || p.Audit.MaxSize != 10<<20 || p.VulnDB != "/var/lib/pitstop/vulndb" {
		t.Errorf("audit/vulndb = %+v %q", p.Audit, p.VulnDB)
	}
}

func TestParseErrorsHaveLineAndColumn(t *testing.T) {
	for _, tc := range []struct {
		text      string
		line, col int
		msg       string
	}{
		{"[default]\nmin_age = 3d\n", 2, 0, ""}, // TOML syntax: the decoder's position
		{"[[rule]]\nmodule = \"a/*\"\naction = \"allow\"\n\n[[rule]]\nmodule = \"b\"\nversions = \">=1.2\"\naction = \"deny\"\n\n[[rule]]\nmodule = \"c\"\nversions = \"v1.*\"\naction = \"deny\"\n", 7, 12, "semantic version"},
		{"[[rule]]\nmodule = \"a\"\naction = \"block\"\n", 3, 10, `action "block"`},
		{"[default]\nmin_age = \"soon\"\n", 2, 11, "not a duration"},
		{"[[rule]]\nmodule = \"a\"\naction = \"allow\"\ncolour = \"red\"\n", 4, 10, `unknown key "rule.colour"`},
		{"[[rule]]\nmodule = \"a\"\n", 1, 1, "no action"},
		{"[[rule]]\nmodule = \"a[\"\naction = \"deny\"\n", 2, 10, "module pattern"},
		{"[[rule]]\nmodule = \"a\"\naction = \"pin\"\npin = \"v1\"\n", 4, 7, "canonical"},
		{"[default]\nmodule = \"x\"\n", 2, 10, "move module to a [[rule]]"},
		{"[audit]\nmax_size = \"lots\"\n", 2, 12, "not a size"},
	} {
		_, err := Parse("p.toml", []byte(tc.text))
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v; want a *policy.Error", tc.text, err)
			continue
		}
		if pe.Line != tc.line || tc.col != 0 && pe.Col != tc.col || !strings.Contains(pe.Msg, tc.msg) {
			t.Errorf("Parse(%q) = %v; want line %d col %d, message containing %q", tc.text, err, tc.line, tc.col, tc.msg)
		}
	}
}

func TestAuditRotatesAndRecent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.toml")
	os.WriteFile(file, []byte("[audit]\nfile = \"audit.jsonl\"\nmax_size = \"1KiB\"\nkeep = 2\n"), 0o644)
	s, err := Open(file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 40; i++ {
		v := VerdictAllow
		if i%2 == 1 {
			v = VerdictDeny
		}
		s.Record(Record{Client: "10.0.0.7", Module: "example.com/m", Version: "v1.0." + string(rune('0'+i%10)), Decision: v, Rule: "default"})
	}
	for _, name := range []string{"audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() > 1024 || fi.Size() == 0 {
			t.Errorf("%s: %v; want a file of at most 1 KiB", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.jsonl.3")); err == nil {
		t.Errorf("audit.jsonl.3 exists; keep = 2")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Client != "10.0.0.7" || r.Module != "example.com/m" || r.Rule != "default" || r.Time.IsZero() {
			t.Errorf("audit line %q: %+v, %v", l, r, err)
		}
	}
	rec := s.Recent(true)
	if len(rec) != 20 || rec[0].Decision != VerdictDeny {
		t.Errorf("Recent(true) has %d records; want the 20 denials", len(rec))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("[default]\naction = \"deny\"\n"))
	f.Add([]byte("[[rule]]\nmodule = \"*\"\nversions = \"v1.* || >=v3 <v4\"\naction = \"allow\"\nmin_age = \"1w2d3h\"\n"))
	f.Add([]byte("[[rule]]\nmodule = \"golang.org/toolchain\"\nversions = \">=go1.22rc1\"\naction = \"deny\"\n"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.toml", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Line < 0 || pe.Col < 0 || pe.Msg == "" {
				t.Fatalf("Parse error %v is not a positioned *Error", err)
			}
			return
		}
		for _, s := range []Subject{
			{Module: "example.com/m", Version: "v1.2.3", Time: now},
			{Module: "golang.org/toolchain", Version: "v0.0.1-go1.22.5.linux-arm64", Retracted: true},
			{Module: "x", Version: "v0.0.0-20240101000000-abcdefabcdef", Advisories: []Advisory{{ID: "GO-1"}}},
		} {
			d := p.Decide(s, now)
			if d.Verdict == "" || d.Rule == "" {
				t.Fatalf("Decide(%+v) = %+v: no verdict or rule", s, d)
			}
		}
	})
}

// TestDocsExample: the example in docs/policy.md parses and decides as the
// text around it says.
func TestDocsExample(t *testing.T) {
	b, err := os.ReadFile("../../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```toml\n")
	text, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/policy.md has no ```toml example")
	}
	p, err := Parse("/etc/pitstop/policy.toml", []byte(text))
	if err != nil {
		t.Fatalf("the example in docs/policy.md: %v", err)
	}
	if len(p.Rules) != 8 || len(p.Shadowed()) != 0 {
		t.Errorf("example: %d rules, shadowed %v; the docs say 8 and none", len(p.Rules), p.Shadowed())
	}
	now := time.Now()
	for _, tc := range []struct {
		mod, v  string
		age     time.Duration
		verdict Verdict
		rule    string
	}{
		{"golang.org/x/net", "v0.40.0", 5 * 24 * time.Hour, VerdictDeny, `rule "fresh-code-waits" (/etc/pitstop/policy.toml:21)`},
		{"gopkg.in/yaml.v3", "v3.1.0", 100 * 24 * time.Hour, VerdictDeny, `rule "yaml-review"`},
		{"google.golang.org/protobuf", "v1.36.12", time.Hour, VerdictAllow, `rule "protobuf-pin"`},
		{"golang.org/toolchain", "v0.0.1-go1.26.2.linux-arm64", 20 * 24 * time.Hour, VerdictAllow, `rule "go-1.26"`},
		{"golang.org/toolchain", "v0.0.1-go1.26.1.linux-arm64", 20 * 24 * time.Hour, VerdictDeny, `rule "other-toolchains"`},
		{"github.com/some/lib", "v1.0.0", time.Hour, VerdictDeny, "default (/etc/pitstop/policy.toml:7)"},
	} {
		d := p.Decide(Subject{Module: tc.mod, Version: tc.v, Time: now.Add(-tc.age)}, now)
		if d.Verdict != tc.verdict || !strings.HasPrefix(d.Rule, tc.rule) {
			t.Errorf("example: %s@%s = %+v; want %s by %s", tc.mod, tc.v, d, tc.verdict, tc.rule)
		}
	}
	// The documented check error: "v3.x" at line 31, column 12.
	bad := strings.Replace(text, `versions = ">=v3.1.0"`, `versions = "v3.x"`, 1)
	_, err = Parse("/etc/pitstop/policy.toml", []byte(bad))
	if err == nil || err.Error() != `/etc/pitstop/policy.toml:31:12: version range "v3.x": "v3.x" is not a semantic version (v1.2.3, v1.2, v1)` {
		t.Errorf("the docs' check error is now: %v", err)
	}
}
