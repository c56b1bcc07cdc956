package tune

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p, err := Parse("demo", []byte(`# a comment
[main]
summary = a demo
include = a, b c

[sysctl]
# reason: first reason
net.core.somaxconn = >=8192
net.ipv4.tcp_rmem =   4096	131072   16777216 ; inline reason
; a plain comment does not carry a reason
vm.swappiness = 10

[limits]
nofile = 1024:1048576 ; limits reason
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Summary != "a demo" || strings.Join(p.Includes, ",") != "a,b,c" {
		t.Errorf("main: %+v", p)
	}
	want := []Setting{
		{Kind: Sysctl, Key: "net.core.somaxconn", Value: "8192", AtLeast: true, Reason: "first reason", Profile: "demo"},
		{Kind: Sysctl, Key: "net.ipv4.tcp_rmem", Value: "4096 131072 16777216", Reason: "inline reason", Profile: "demo"},
		{Kind: Sysctl, Key: "vm.swappiness", Value: "10", Profile: "demo"},
		{Kind: Limit, Key: "nofile", Value: "1024:1048576", Reason: "limits reason", Profile: "demo"},
	}
	if len(p.Settings) != len(want) {
		t.Fatalf("got %d settings, want %d: %+v", len(p.Settings), len(want), p.Settings)
	}
	for i := range want {
		if p.Settings[i] != want[i] {
			t.Errorf("setting %d = %+v, want %+v", i, p.Settings[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"x", "net.core.somaxconn = 1", "outside any section"},
		{"x", "[tuning]\n", "unknown section [tuning]"},
		{"x", "[sysctl\n", "unterminated section"},
		{"x", "[sysctl]\nnet.core.somaxconn\n", "want key = value"},
		{"x", "[sysctl]\nnet.core.somaxconn =\n", "has no value"},
		{"x", "[sysctl]\nnet/core/somaxconn = 1\n", "invalid sysctl key"},
		{"x", "[sysctl]\nsomaxconn = 1\n", "invalid sysctl key"},
		{"x", "[sysctl]\nnet.core.somaxconn = 1\nnet.core.somaxconn = 2\n", "set twice"},
		{"x", "[sysctl]\nnet.core.somaxconn = >=lots\n", ">= needs numbers"},
		{"x", "[limits]\nnproc = 10\n", "unknown limit"},
		{"x", "[limits]\nnofile = 10:5\n", "soft limit is above"},
		{"x", "[limits]\nnofile = many\n", "want a number"},
		{"x", "[main]\nowner = me\n", "unknown key"},
		{"x", "[main]\ninclude = ../etc\n", "invalid profile name"},
		{"../x", "", "invalid profile name"},
	} {
		_, err := Parse(tt.name, []byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tt.text, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}

func TestEmbeddedProfiles(t *testing.T) {
	c := Embedded()
	for _, n := range []string{"go-server", "go-build", "go-pi"} {
		ss, err := c.Resolve(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if len(ss) == 0 {
			t.Errorf("%s has no settings", n)
		}
		for _, s := range ss {
			if len(s.Reason) < 20 {
				t.Errorf("%s: %s has no real reason: %q", n, s.Key, s.Reason)
			}
		}
	}
	server := Recommended("go-server")
	for _, k := range []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_slow_start_after_idle",
		"net.ipv4.ip_local_port_range", "net.ipv4.tcp_fin_timeout", "net.core.rmem_max", "net.core.wmem_max",
		"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "limit:nofile"} {
		if _, ok := server[k]; !ok {
			t.Errorf("go-server lacks %s", k)
		}
	}
	if s := server["net.ipv4.tcp_slow_start_after_idle"]; s.Value != "0" {
		t.Errorf("tcp_slow_start_after_idle = %q, want 0", s.Value)
	}
	if r := server["net.core.somaxconn"].Reason; !strings.Contains(r, "4096 since Linux 5.4") || !strings.Contains(r, "once per process") {
		t.Errorf("somaxconn reason misses the facts: %q", r)
	}
	if p, _ := c.Profile("go-build"); !strings.HasSuffix(p.Summary, "; swap to zram before dropping caches") {
		t.Errorf("a ';' in [main] cut the summary: %q", p.Summary)
	}
	build := Recommended("go-build")
	for _, k := range []string{"vm.dirty_background_bytes", "vm.dirty_bytes", "vm.dirty_expire_centisecs", "vm.swappiness", "vm.vfs_cache_pressure"} {
		if _, ok := build[k]; !ok {
			t.Errorf("go-build lacks %s", k)
		}
	}
	if !strings.Contains(build["vm.swappiness"].Reason, "zram") || !strings.Contains(build["vm.dirty_bytes"].Reason, "SD card") {
		t.Error("go-build reasons must cite zram and SD cards")
	}
	pi := Recommended("go-pi")
	if len(pi) != len(server)+len(build) || pi["vm.swappiness"].Profile != "go-build" {
		t.Errorf("go-pi = %d settings, want go-server's %d + go-build's %d", len(pi), len(server), len(build))
	}
	if Recommended("no-such") != nil {
		t.Error("Recommended of an unknown profile is not nil")
	}
	// Every embedded value passes pitstop's own range checks.
	for _, n := range c.Names() {
		ss, _ := c.Resolve(n)
		for _, s := range ss {
			if s.Kind != Sysctl {
				continue
			}
			cur := strings.Repeat("1 ", len(strings.Fields(s.Value)))
			if err := checkValue(s.Key, s.Value, cur, func(string) (string, error) { return "1024", nil }); err != nil {
				t.Errorf("%s: %v", n, err)
			}
		}
	}
}

func writeProfiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n+".conf"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolveIncludes(t *testing.T) {
	dir := writeProfiles(t, map[string]string{
		"mine":   "[main]\ninclude = go-server\n[sysctl]\nnet.core.somaxconn = 1024 ; my reason\nnet.ipv4.tcp_syn_retries = 3 ; mine\nnet.core.rmem_max = -\n[limits]\nnofile = -\n",
		"loop-a": "[main]\ninclude = loop-b\n",
		"loop-b": "[main]\ninclude = loop-c\n",
		"loop-c": "[main]\ninclude = loop-a\n",
		"self":   "[main]\ninclude = self\n",
		"orphan": "[main]\ninclude = nowhere\n",
	})
	c, err := LoadCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := c.Resolve("mine")
	if err != nil {
		t.Fatal(err)
	}
	if ss[0].Key != "net.core.somaxconn" || ss[0].Value != "1024" || ss[0].AtLeast || ss[0].Profile != "mine" {
		t.Errorf("override in place failed: %+v", ss[0])
	}
	if last := ss[len(ss)-1]; last.Key != "net.ipv4.tcp_syn_retries" {
		t.Errorf("own new key not last: %+v", last)
	}
	for _, s := range ss {
		if s.Key == "net.core.rmem_max" || s.Key == "nofile" {
			t.Errorf("%s not dropped by '-': %+v", s.Key, s)
		}
	}
	if len(ss) != len(Recommended("go-server"))-1 {
		t.Errorf("got %d settings, want go-server's less two plus one", len(ss))
	}
	if ss[1].Profile != "go-server" {
		t.Errorf("included setting from %q", ss[1].Profile)
	}
	_, err = c.Resolve("loop-a")
	if err == nil || err.Error() != "include cycle: loop-a -> loop-b -> loop-c -> loop-a" {
		t.Errorf("cycle: %v", err)
	}
	if _, err := c.Resolve("self"); err == nil || !strings.Contains(err.Error(), "include cycle: self -> self") {
		t.Errorf("self include: %v", err)
	}
	_, err = c.Resolve("orphan")
	var up *UnknownProfileError
	if !errors.As(err, &up) || !strings.Contains(err.Error(), `profile orphan includes unknown profile "nowhere"`) {
		t.Errorf("unknown include: %v", err)
	}
	if _, err := c.Resolve("nope"); !errors.As(err, &up) {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestLoadCatalogBadFile(t *testing.T) {
	dir := writeProfiles(t, map[string]string{"broken": "[sysctl]\nnot a line\n"})
	_, err := LoadCatalog(dir)
	if err == nil || !strings.Contains(err.Error(), "broken.conf") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("LoadCatalog = %v, want an error naming the file and line", err)
	}
	if _, err := LoadCatalog(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	ents, _ := embedded.ReadDir("profiles")
	for _, e := range ents {
		b, _ := embedded.ReadFile("profiles/" + e.Name())
		f.Add(b)
	}
	f.Add([]byte("[sysctl]\nnet.core.somaxconn = >=1 ; r\n[limits]\nnofile = 1:2\n"))
	f.Add([]byte("[main]\ninclude=a,b\n[sysctl]\n# reason: x\na.b=\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz", b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		for _, s := range p.Settings {
			if s.Value == "" || s.Value != fold(s.Value) {
				t.Errorf("bad value %q", s.Value)
			}
			if s.Kind == Sysctl && !sysctlKeyRE.MatchString(s.Key) {
				t.Errorf("bad key %q", s.Key)
			}
		}
		for _, inc := range p.Includes {
			if !ValidName(inc) {
				t.Errorf("bad include %q", inc)
			}
		}
	})
}
