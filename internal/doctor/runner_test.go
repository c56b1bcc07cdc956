package doctor

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

func testEnv(t *testing.T) *Env {
	return &Env{Root: host.At(t.TempDir()), Go: goenv.Env{}, Getenv: func(string) string { return "" }, replay: true}
}

// goServer stands in for what the CLI hands in from
// tune.Recommended("go-server") (internal/cli checks the real wiring).
var goServer = Tuning{Profile: "go-server", Values: map[string]string{
	"net.core.somaxconn": "8192", "net.ipv4.tcp_max_syn_backlog": "8192", "net.ipv4.tcp_slow_start_after_idle": "0",
	"net.ipv4.ip_local_port_range": "10240 65535", "limit:nofile": "1024:1048576"}}

// ramdiskBySource stands in for ramdisk.Active, which the CLI hands in:
// an overlay mounted with pitstop ramdisk's source name.
func ramdiskBySource(root *host.Root, p string) bool {
	s, err := root.StorageOf(p)
	return err == nil && s.Mount.Source == "pitstop-ramdisk"
}

// handIn gives env what the CLI hands to the doctor.
func handIn(env *Env) *Env {
	env.Tuning, env.RamdiskActive = goServer, ramdiskBySource
	return env
}

func TestRunBadChecks(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	checks := []Check{
		{ID: "t.ok", Section: "t", Title: "fine", Run: func(ctx context.Context, env *Env) Result {
			return Result{Status: OK, Finding: "fine"}
		}},
		{ID: "t.panic", Section: "t", Run: func(ctx context.Context, env *Env) Result {
			panic("boom")
		}},
		{ID: "t.hang", Section: "t", Timeout: 50 * time.Millisecond, Run: func(ctx context.Context, env *Env) Result {
			<-block // ignores ctx, as a buggy check might
			return Result{Status: OK}
		}},
		{ID: "t.empty", Section: "t", Run: func(ctx context.Context, env *Env) Result { return Result{} }},
		{ID: "t.warn", Section: "u", Run: func(ctx context.Context, env *Env) Result {
			return Result{Status: Warn, Finding: "hmm", Fix: "do this"}
		}},
	}
	rep := Run(context.Background(), testEnv(t), checks)
	if len(rep.Results) != len(checks) {
		t.Fatalf("%d results for %d checks", len(rep.Results), len(checks))
	}
	for i, c := range checks {
		if rep.Results[i].ID != c.ID || rep.Results[i].Section != c.Section {
			t.Errorf("result %d is %s/%s, want %s/%s", i, rep.Results[i].Section, rep.Results[i].ID, c.Section, c.ID)
		}
	}
	want := map[string]struct {
		status Status
		text   string
	}{
		"t.ok":    {OK, "fine"},
		"t.panic": {Fail, "check crashed: boom"},
		"t.hang":  {Fail, "timed out after 50ms"},
		"t.empty": {Fail, "no status"},
		"t.warn":  {Warn, "hmm"},
	}
	for id, w := range want {
		r, ok := rep.Find(id)
		if !ok || r.Status != w.status || !strings.Contains(r.Finding, w.text) {
			t.Errorf("%s = %s %q; want %s containing %q", id, r.Status, r.Finding, w.status, w.text)
		}
	}
	if r, _ := rep.Find("t.panic"); r.Fix == "" || len(r.Details) == 0 {
		t.Errorf("panic result has no fix or stack: %+v", r)
	}
	if rep.ExitCode() != 2 || rep.Count(Fail) != 3 || rep.Count(Warn) != 1 {
		t.Errorf("exit %d, %d fail, %d warn", rep.ExitCode(), rep.Count(Fail), rep.Count(Warn))
	}
}

func TestExitCode(t *testing.T) {
	for _, tt := range []struct {
		statuses []Status
		want     int
	}{
		{nil, 0},
		{[]Status{OK, Skip}, 0},
		{[]Status{OK, Warn, Skip}, 1},
		{[]Status{Warn, Fail}, 2},
	} {
		rep := &Report{}
		for _, s := range tt.statuses {
			rep.Results = append(rep.Results, Result{Status: s})
		}
		if got := rep.ExitCode(); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.statuses, got, tt.want)
		}
	}
}

func TestSelect(t *testing.T) {
	all := All()
	ids := map[string]bool{}
	for _, c := range all {
		if ids[c.ID] {
			t.Errorf("duplicate check ID %s", c.ID)
		}
		ids[c.ID] = true
		if !strings.HasPrefix(c.ID, c.Section+".") || c.Title == "" || c.Run == nil {
			t.Errorf("check %s (section %s) malformed", c.ID, c.Section)
		}
	}
	for _, id := range []string{"board.model", "board.pagesize", "board.throttle", "board.userland", "storage.gomodcache", "storage.gocache", "kernel.clone3", "kernel.io_uring", "kernel.nofile"} {
		if !ids[id] {
			t.Errorf("check %s missing", id)
		}
	}
	got, err := Select(all, []string{"kernel.statx", "board"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 2 || got[0].ID != "board.model" || got[len(got)-1].ID != "kernel.statx" {
		t.Errorf("Select(kernel.statx, board) = %v", got)
	}
	for _, c := range got {
		if c.Section != "board" && c.ID != "kernel.statx" {
			t.Errorf("Select returned %s", c.ID)
		}
	}
	// (The CLI adds where to find the IDs: see internal/cli's doctor_usage.txtar.)
	if _, err := Select(all, []string{"board.model", "board.nope", "zzz"}); err == nil ||
		!strings.Contains(err.Error(), `"board.nope", "zzz"`) {
		t.Errorf("unknown IDs: %v", err)
	}
}

func TestWriteList(t *testing.T) {
	var b bytes.Buffer
	if err := WriteList(&b, All()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != len(All()) {
		t.Errorf("--list printed %d lines for %d checks", n, len(All()))
	}
	if !strings.Contains(b.String(), "board.throttle") {
		t.Errorf("--list lacks board.throttle:\n%s", b.String())
	}
}
