package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

var metricNameRE = regexp.MustCompile(`\b(pitstop|process|go)_[a-z0-9_]+\b`)

// contribExprs returns the PromQL expressions of the Grafana dashboard and
// the Prometheus alert rules under contrib/.
func contribExprs(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	b, err := os.ReadFile("../../contrib/grafana/pitstop.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("contrib/grafana/pitstop.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out["grafana: "+p.Title] = append(out["grafana: "+p.Title], tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			out["grafana variable"] = append(out["grafana variable"], q)
		}
	}
	b, err = os.ReadFile("../../contrib/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	alert := ""
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if a, ok := strings.CutPrefix(l, "- alert: "); ok {
			alert = a
		}
		if e, ok := strings.CutPrefix(l, "expr: "); ok {
			out["alert "+alert] = append(out["alert "+alert], e)
		}
	}
	return out
}

// TestContribMetricsExist: every metric the Grafana dashboard and the
// alert rules under contrib/ use is in the /metrics output of proxy serve
// or cache serve after some traffic (a miss, hits, an upstream fetch, a
// build-cache lookup), so neither drifts from the code.
func TestContribMetricsExist(t *testing.T) {
	const mod = "example.com/metricsmod"
	up := testupstream.NewForTest(t, testupstream.Module{Path: mod, Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module " + mod + "\n\ngo 1.21\n", "a.go": "package metricsmod\n"}})
	proxy, _ := startServe(t, "proxy", "--listen", "127.0.0.1:0", "--dir", t.TempDir(), "--upstream", up.URL, "--gosumdb", up.GOSUMDB)
	cache, _ := startServe(t, "cache", "--listen", "127.0.0.1:0", "--dir", t.TempDir())
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for range 2 {
		for _, ext := range []string{"info", "mod"} {
			get("http://" + proxy + testupstream.FilePath(mod, "v1.0.0", ext))
		}
		get("http://" + proxy + testupstream.ZipPath(mod, "v1.0.0"))
		get("http://" + cache + "/v1/get/" + strings.Repeat("ab", 32))
	}
	// The cache's status page counts the lookups (two misses) in its part.
	var st service.Status
	if err := json.Unmarshal([]byte(get("http://"+cache+"/api/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Parts) != 1 || st.Parts[0].Name != "build cache" || st.Parts[0].Windows[2].Requests != 2 || st.Parts[0].Windows[2].Hits != 0 || st.Parts[0].Store == nil {
		t.Errorf("cache serve /api/status parts = %+v; want the build cache with 2 lookups, no hit, and its store", st.Parts)
	}
	exposed := get("http://"+proxy+"/metrics") + get("http://"+cache+"/metrics")
	have := map[string]bool{}
	for _, n := range metricNameRE.FindAllString(exposed, -1) {
		have[n] = true
	}
	used := map[string]bool{}
	for where, exprs := range contribExprs(t) {
		for _, e := range exprs {
			for _, n := range metricNameRE.FindAllString(e, -1) {
				used[n] = true
				if !have[n] {
					t.Errorf("%s uses %s, which neither server exposes", where, n)
				}
			}
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 15 {
		t.Errorf("only %d metric names found in contrib/: %v", len(names), names)
	}
	t.Logf("%d metric names checked: %s", len(names), strings.Join(names, " "))
}
