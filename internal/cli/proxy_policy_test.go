package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

func runPitstop(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const cliPolicy = `[default]
min_age = "3d"

[[rule]]
name = "fresh-code-waits"
module = "example.com/*"
action = "allow"
reason = "new versions wait three days"
`

func TestProxyPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(cliPolicy+"\n[[rule]]\nname = \"never\"\nmodule = \"example.com/x\"\naction = \"deny\"\n"), 0o644)
	code, out, errs := runPitstop(t, "proxy", "policy", "check", good)
	if code != 0 || !strings.Contains(out, "ok: 2 rules; default: allow, cooldown 72h0m0s") || !strings.Contains(out, `warning: rule "never"`) {
		t.Errorf("check of a good file: %d\n%s%s\nwant ok with 2 rules and a warning that rule \"never\" never decides", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(cliPolicy+"versions = \"v1.x\"\n"), 0o644)
	code, out, errs = runPitstop(t, "proxy", "policy", "check", bad)
	if code != 2 || out != "" || !strings.Contains(errs, bad+":9:12: ") || !strings.Contains(errs, `"v1.x"`) {
		t.Errorf("check of a bad file: %d\n%s%s\nwant exit 2 and the error at %s:9:12", code, out, errs, bad)
	}
}

func TestProxyPolicyExplainAndServe(t *testing.T) {
	now := time.Now()
	mod := func(v string, at time.Time) testupstream.Module {
		return testupstream.Module{Path: "example.com/cool", Version: v, Time: at,
			Files: map[string]string{"go.mod": "module example.com/cool\n", "a.go": "package cool\n"}}
	}
	up := testupstream.NewForTest(t, mod("v1.0.0", now.Add(-30*24*time.Hour)), mod("v1.1.0", now.Add(-time.Hour)))
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.toml")
	os.WriteFile(file, []byte(cliPolicy), 0o644)
	upFlags := []string{"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--dir", filepath.Join(dir, "store")}
	code, out, errs := runPitstop(t, append([]string{"proxy", "policy", "explain", "example.com/cool@v1.1.0", "--policy", file}, upFlags...)...)
	if code != 0 || !strings.HasPrefix(out, "example.com/cool@v1.1.0: deny\n") || !strings.Contains(out, `rule:   rule "fresh-code-waits" (`+file+":4)") ||
		!strings.Contains(out, "younger than the 3d cooldown") {
		t.Errorf("explain of the young version: %d\n%s%s\nwant deny by rule \"fresh-code-waits\" for the cooldown", code, out, errs)
	}
	code, out, errs = runPitstop(t, append([]string{"proxy", "policy", "explain", "example.com/cool@v1.0.0", "--policy", file, "--json"}, upFlags...)...)
	if code != 0 || !strings.Contains(out, `"Verdict": "allow"`) || !strings.Contains(out, `"Rule": "rule \"fresh-code-waits\"`) {
		t.Errorf("explain --json of the old version: %d\n%s%s", code, out, errs)
	}
	if code, _, errs := runPitstop(t, append([]string{"proxy", "policy", "explain", "example.com/cool@latest", "--policy", file}, upFlags...)...); code != 2 || !strings.Contains(errs, "MODULE@VERSION") {
		t.Errorf("explain of a query: %d %s; want exit 2 asking for a canonical version", code, errs)
	}

	// serve with a bad policy: exit 2 with the line and column.
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[default]\nmin_age = \"soon\"\n"), 0o644)
	if code, _, errs := runPitstop(t, append([]string{"proxy", "serve", "--listen", "127.0.0.1:0", "--policy", bad}, upFlags...)...); code != 2 || !strings.Contains(errs, bad+":2:11") {
		t.Errorf("serve --policy with a bad file: %d %s; want exit 2 naming %s:2:11", code, errs, bad)
	}
	// serve with the policy: the young version is refused, the list hides it.
	addr, stop := startServe(t, "proxy", append([]string{"--listen", "127.0.0.1:0", "--policy", file}, upFlags...)...)
	defer stop()
	for _, pw := range [][2]string{
		{"/example.com/cool/@v/list", "200 v1.0.0\n"},
		{"/example.com/cool/@v/v1.1.0.info", "403 example.com/cool@v1.1.0: refused by pitstop proxy policy"},
		{"/metrics", `200 pitstop_proxy_policy_decisions_total{decision="deny"} 1`},
	} {
		path, want := pw[0], pw[1]
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, body, _ := strings.Cut(want, " ")
		if got := resp.Status[:3]; got != code || !strings.Contains(string(b), body) {
			t.Errorf("GET %s = %s %q; want %s containing %q", path, resp.Status, b, code, body)
		}
	}
}

func TestProxyVulnDBSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vulndb")
	code, out, errs := runPitstop(t, "proxy", "vulndb", "sync", "--from", "../modproxy/testdata/vulndb", "--dir", dir)
	if code != 0 || !strings.Contains(out, "2 advisories (2 fetched), modified 2024-06-01T00:00:00Z") {
		t.Fatalf("sync: %d\n%s%s", code, out, errs)
	}
	code, out, _ = runPitstop(t, "proxy", "vulndb", "sync", "--from", "file://"+mustAbs(t, "../modproxy/testdata/vulndb"), "--dir", dir)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("second sync: %d %s; want up to date", code, out)
	}
	if code, _, errs := runPitstop(t, "proxy", "vulndb", "sync", "--dir", dir); code != 2 || !strings.Contains(errs, "--from") {
		t.Errorf("sync without --from: %d %s; want exit 2 naming --from", code, errs)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
