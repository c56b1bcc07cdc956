package modproxy

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// gated starts a proxy in front of up with the policy text written to a
// file beside a copy of testdata/vulndb.
func gated(t *testing.T, up *testupstream.Server, text string) (*proxy, *policy.Source, string) {
	t.Helper()
	src, file := openPolicy(t, text)
	p := startProxy(t, up, "", func(h *Handler, _ goenv.Env) { h.Policy = src })
	return p, src, file
}

// openPolicy opens the policy text written to a file beside a copy of
// testdata/vulndb.
func openPolicy(t *testing.T, text string) (*policy.Source, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "vulndb"), os.DirFS("testdata/vulndb")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := policy.Open(file, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, file
}

// goGet runs go get in a fresh module and returns the version of mod it
// required, or the go command's output on failure.
func goGet(t *testing.T, p *proxy, up *testupstream.Server, query, mod string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n"), 0o644)
	out, err := goCmd(t, dir, p.URL, up.GOSUMDB, nil, "get", mod+"@"+query)
	if err != nil {
		return "", out, err
	}
	gm, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, l := range strings.Split(string(gm), "\n") {
		if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "require")); len(f) >= 2 && f[0] == mod {
			return f[1], out, nil
		}
	}
	t.Fatalf("go get %s@%s succeeded but go.mod does not require it:\n%s\n%s", mod, query, gm, out)
	return "", "", nil
}

func timed(path, vers string, at time.Time) testupstream.Module {
	mod := m(path, vers, "go.mod", "module "+path+"\n\ngo 1.21\n", "x.go", "package x\n\nconst V = \""+vers+"\"\n")
	mod.Time = at
	return mod
}

func TestPolicyCooldownWithGoGet(t *testing.T) {
	needGo(t)
	now := time.Now()
	up := testupstream.NewForTest(t,
		timed("example.com/cool", "v1.0.0", now.Add(-30*24*time.Hour)),
		timed("example.com/cool", "v1.1.0", now.Add(-time.Hour)),
		timed("example.com/allnew", "v0.1.0", now.Add(-time.Minute)),
	)
	p, _, _ := gated(t, up, `
[default]
min_age = "3d"

[[rule]]
name = "fresh-code-waits"
module = "example.com/*"
action = "allow"
reason = "new versions wait three days"
`)
	v, out, err := goGet(t, p, up, "latest", "example.com/cool")
	if err != nil || v != "v1.0.0" {
		t.Fatalf("go get example.com/cool@latest = %q, %v; want v1.0.0 (v1.1.0 is an hour old)\n%s", v, err, out)
	}
	_, out, err = goGet(t, p, up, "v1.1.0", "example.com/cool")
	if err == nil {
		t.Fatalf("go get example.com/cool@v1.1.0 succeeded; want the cooldown to refuse it\n%s", out)
	}
	t.Logf("go get of the young version says:\n%s", out)
	for _, want := range []string{"403", `rule "fresh-code-waits"`, "younger than the 3d cooldown"} {
		if !strings.Contains(out, want) {
			t.Errorf("go get output lacks %q:\n%s", want, out)
		}
	}
	if code, body := get(t, p.URL+"/example.com/cool/@v/list"); code != 200 || body != "v1.0.0\n" {
		t.Errorf("list = %d %q; want only v1.0.0", code, body)
	}
	if code, body := get(t, p.URL+"/example.com/cool/@latest"); code != 200 || !strings.Contains(body, `"v1.0.0"`) {
		t.Errorf("@latest = %d %q; want v1.0.0", code, body)
	}
	if code, body := get(t, p.URL+"/example.com/cool/@v/v1.1.0.zip"); code != 403 || !strings.Contains(body, "cooldown") {
		t.Errorf("zip of the young version = %d %q; want 403 naming the cooldown", code, body)
	}
	// A query the proxy resolves from the list picks from what the policy lists.
	if code, body := get(t, p.URL+"/example.com/cool/@v/v1.info"); code != 200 || !strings.Contains(body, `"v1.0.0"`) {
		t.Errorf("query v1 = %d %q; want v1.0.0", code, body)
	}
	// A module whose every version is too young: @latest says why.
	_, out, err = goGet(t, p, up, "latest", "example.com/allnew")
	if err == nil || !strings.Contains(out, "no version is allowed") || !strings.Contains(out, "cooldown") {
		t.Errorf("go get example.com/allnew@latest: err %v; want a refusal naming the cooldown\n%s", err, out)
	}
	recs := p.H.Policy.Recent(true)
	if len(recs) == 0 || recs[0].Module != "example.com/allnew" || recs[0].Version != "v0.1.0" || recs[0].Decision != policy.VerdictDeny {
		t.Errorf("recent refusals = %+v; want example.com/allnew@v0.1.0 first", recs)
	}
}

func TestPolicyAllowlist(t *testing.T) {
	needGo(t)
	now := time.Now()
	up := testupstream.NewForTest(t,
		timed("example.com/trusted", "v1.0.0", now.Add(-48*time.Hour)),
		timed("example.com/trusted", "v1.2.0", now.Add(-time.Minute)),
		timed("example.com/stranger", "v1.0.0", now.Add(-400*24*time.Hour)),
	)
	p, _, _ := gated(t, up, `
[default]
action = "deny"
reason = "not on the fleet's allowlist: ask the platform team"

[[rule]]
name = "our-own-modules"
module = "example.com/trusted"
action = "allow"
min_age = "0"
`)
	v, out, err := goGet(t, p, up, "latest", "example.com/trusted")
	if err != nil || v != "v1.2.0" {
		t.Fatalf("go get example.com/trusted@latest = %q, %v; want v1.2.0 (allowlisted, no cooldown)\n%s", v, err, out)
	}
	_, out, err = goGet(t, p, up, "v1.0.0", "example.com/stranger")
	if err == nil || !strings.Contains(out, "not on the fleet's allowlist") || !strings.Contains(out, "default (") {
		t.Fatalf("go get example.com/stranger@v1.0.0: err %v; want a refusal by the default with its reason\n%s", err, out)
	}
}

func TestPolicyVulnerabilityDatabase(t *testing.T) {
	needGo(t)
	old := time.Now().Add(-100 * 24 * time.Hour)
	up := testupstream.NewForTest(t,
		timed("example.com/vuln", "v1.1.0", old),
		timed("example.com/vuln", "v1.2.0", old.Add(time.Hour)),
		timed("example.com/vuln", "v1.3.1", old.Add(2*time.Hour)),
		timed("example.com/other", "v0.1.0", old),
	)
	p, _, _ := gated(t, up, `
vulndb = "vulndb"

[default]
vulns = "deny"

[[rule]]
name = "legacy-accepted"
module = "example.com/other"
action = "allow"
vulns = "flag"
`)
	_, out, err := goGet(t, p, up, "v1.1.0", "example.com/vuln")
	if err == nil || !strings.Contains(out, "GO-2024-9001") {
		t.Fatalf("go get example.com/vuln@v1.1.0: err %v; want a refusal naming GO-2024-9001\n%s", err, out)
	}
	// v1.3.1 is affected again (introduced 1.3.0, fixed 1.3.2): latest is v1.2.0.
	v, out, err := goGet(t, p, up, "latest", "example.com/vuln")
	if err != nil || v != "v1.2.0" {
		t.Fatalf("go get example.com/vuln@latest = %q, %v; want v1.2.0\n%s", v, err, out)
	}
	// Flagged: served, with the advisory named.
	v, out, err = goGet(t, p, up, "v0.1.0", "example.com/other")
	if err != nil || v != "v0.1.0" {
		t.Fatalf("go get example.com/other@v0.1.0 = %q, %v; want it served (flag only)\n%s", v, err, out)
	}
	resp, err := http.Get(p.URL + "/example.com/other/@v/v0.1.0.info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(AdvisoriesHeader) != "GO-2024-9002" {
		t.Errorf("flagged .info: %d %s=%q; want 200 naming GO-2024-9002", resp.StatusCode, AdvisoriesHeader, resp.Header.Get(AdvisoriesHeader))
	}
}

func TestPolicyHidesRetracted(t *testing.T) {
	needGo(t)
	old := time.Now().Add(-100 * 24 * time.Hour)
	retracting := timed("example.com/ret", "v1.2.0", old.Add(2*time.Hour))
	retracting.Files["go.mod"] = "module example.com/ret\n\ngo 1.21\n\nretract v1.1.0 // broke everything\n"
	up := testupstream.NewForTest(t,
		timed("example.com/ret", "v1.0.0", old),
		timed("example.com/ret", "v1.1.0", old.Add(time.Hour)),
		retracting,
	)
	p, _, _ := gated(t, up, "[default]\n")
	if code, body := get(t, p.URL+"/example.com/ret/@v/list"); code != 200 || strings.Contains(body, "v1.1.0") || !strings.Contains(body, "v1.2.0") {
		t.Errorf("list = %d %q; want v1.0.0 and v1.2.0 without the retracted v1.1.0", code, body)
	}
	// -retracted makes the go command show retracted versions it is
	// given: the proxy must not give it v1.1.0.
	out, err := goCmd(t, t.TempDir(), p.URL, up.GOSUMDB, nil, "list", "-m", "-retracted", "-versions", "example.com/ret")
	if err != nil || strings.TrimSpace(out) != "example.com/ret v1.0.0 v1.2.0" {
		t.Errorf("go list -m -retracted -versions = %q, %v; want v1.0.0 v1.2.0", out, err)
	}
	// Hidden, not refused: asked for by name it is served.
	v, out, err := goGet(t, p, up, "v1.1.0", "example.com/ret")
	if err != nil || v != "v1.1.0" {
		t.Errorf("go get example.com/ret@v1.1.0 = %q, %v; want it served by name\n%s", v, err, out)
	}
	// retracted = "show" lists it.
	p2, _, _ := gated(t, up, "[default]\nretracted = \"show\"\n")
	if code, body := get(t, p2.URL+"/example.com/ret/@v/list"); code != 200 || !strings.Contains(body, "v1.1.0") {
		t.Errorf(`with retracted = "show", list = %d %q; want v1.1.0 in it`, code, body)
	}
}

func TestPolicyExplainNamesRule(t *testing.T) {
	now := time.Now()
	up := testupstream.NewForTest(t,
		timed("example.com/cool", "v1.0.0", now.Add(-30*24*time.Hour)),
		timed("example.com/cool", "v1.1.0", now.Add(-time.Hour)),
	)
	p, _, file := gated(t, up, `[default]
min_age = "3d"

[[rule]]
name = "pinned-cool"
module = "example.com/cool"
action = "pin"
pin = "v1.0.0"
reason = "v1.1 changes the wire format"
`)
	d, err := p.H.Explain(context.Background(), "example.com/cool", "v1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	want := `rule "pinned-cool" (` + file + `:4)`
	if d.Verdict != policy.VerdictDeny || d.Rule != want || !strings.Contains(d.Reason, "pinned to v1.0.0") {
		t.Errorf("explain v1.1.0 = %+v; want deny by %s, pinned", d, want)
	}
	d, err = p.H.Explain(context.Background(), "example.com/cool", "v1.0.0")
	if err != nil || d.Verdict != policy.VerdictAllow || d.Rule != want {
		t.Errorf("explain v1.0.0 = %+v, %v; want allow by %s", d, err, want)
	}
}

func TestPolicyBadReloadKeepsOldPolicy(t *testing.T) {
	now := time.Now()
	up := testupstream.NewForTest(t, timed("example.com/cool", "v1.0.0", now.Add(-time.Hour)))
	p, src, file := gated(t, up, "[default]\nmin_age = \"3d\"\n")
	zip := p.URL + "/example.com/cool/@v/v1.0.0.zip"
	if code, _ := get(t, zip); code != 403 {
		t.Fatalf("before reload: zip = %d; want 403 (cooldown)", code)
	}
	os.WriteFile(file, []byte("[default]\nmin_age = \"0\"\n\n[[rule]]\nmodule = \"example.com/*\"\naction = \"allow\"\nversions = \">=v1.2.0 <\"\n"), 0o644)
	err := src.Reload()
	var pe *policy.Error
	if err == nil || !asPolicyError(err, &pe) || pe.Line != 7 || pe.Col != 12 {
		t.Fatalf("reload of a bad file: %v; want a policy error at line 7, column 12", err)
	}
	if code, body := get(t, zip); code != 403 || !strings.Contains(body, "cooldown") {
		t.Errorf("after a bad reload: zip = %d %q; want the old policy's 403", code, body)
	}
	// The watcher sees a fixed file and reloads it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Watch(ctx, 10*time.Millisecond)
	os.WriteFile(file, []byte("[default]\nmin_age = \"0\"\n"), 0o644)
	future := time.Now().Add(time.Second)
	os.Chtimes(file, future, future)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if code, _ := get(t, zip); code == 200 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the watcher did not load the fixed policy within a minute")
}

func asPolicyError(err error, pe **policy.Error) bool {
	e, ok := err.(*policy.Error)
	*pe = e
	return ok
}

func TestPolicyServesCachedVersionsWhenUpstreamIsDown(t *testing.T) {
	old := time.Now().Add(-30 * 24 * time.Hour)
	up := testupstream.NewForTest(t, timed("example.com/cool", "v1.0.0", old))
	file := filepath.Join(t.TempDir(), "policy.toml")
	os.WriteFile(file, []byte("[default]\nmin_age = \"3d\"\n"), 0o644)
	src, err := policy.Open(file, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, up, "", func(h *Handler, _ goenv.Env) { h.Policy = src; h.ListTTL = time.Millisecond })
	zip := p.URL + testupstream.ZipPath("example.com/cool", "v1.0.0")
	if code, _ := get(t, zip); code != 200 {
		t.Fatalf("zip with the upstream up: %d", code)
	}
	up.Stop()
	time.Sleep(5 * time.Millisecond) // the list is stale now
	if code, body := get(t, zip); code != 200 {
		t.Errorf("cached zip with the upstream down: %d %q; want 200 (decided from the stored .info and list)", code, body)
	}
	if code, body := get(t, p.URL+"/example.com/cool/@v/list"); code != 200 || body != "v1.0.0\n" {
		t.Errorf("list with the upstream down: %d %q; want the stale list", code, body)
	}
}

func TestPolicyToolchains(t *testing.T) {
	old := time.Now().Add(-60 * 24 * time.Hour)
	tc := func(v string) testupstream.Module {
		return testupstream.Module{Path: "golang.org/toolchain", Version: v, Time: old,
			Files: map[string]string{"bin/go": "#!/bin/sh\n", "VERSION": "x\n"}}
	}
	up := testupstream.NewForTest(t, tc("v0.0.1-go1.22.5.linux-arm64"), tc("v0.0.1-go1.23.0.linux-arm64"), tc("v0.0.1-go1.23rc1.linux-arm64"))
	p, _, _ := gated(t, up, `
[[rule]]
name = "classroom-go"
module = "golang.org/toolchain"
versions = "go1.22.*"
action = "allow"

[[rule]]
name = "other-go"
module = "golang.org/toolchain"
action = "deny"
reason = "the classroom uses Go 1.22"
`)
	if code, body := get(t, p.URL+"/golang.org/toolchain/@v/list"); code != 200 || body != "v0.0.1-go1.22.5.linux-arm64\n" {
		t.Errorf("toolchain list = %d %q; want only go1.22.5", code, body)
	}
	if code, body := get(t, p.URL+testupstream.ZipPath("golang.org/toolchain", "v0.0.1-go1.23.0.linux-arm64")); code != 403 ||
		!strings.Contains(body, `rule "other-go"`) || !strings.Contains(body, "the classroom uses Go 1.22") {
		t.Errorf("go1.23.0 zip = %d %q; want 403 by rule other-go", code, body)
	}
	if code, _ := get(t, p.URL+testupstream.ZipPath("golang.org/toolchain", "v0.0.1-go1.22.5.linux-arm64")); code != 200 {
		t.Errorf("go1.22.5 zip = %d; want 200", code)
	}
}
