package tune

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// fakeMachine is a root directory whose proc/sys holds plain files, with
// the kernel's coupling of vm.dirty_bytes and vm.dirty_ratio emulated.
type fakeMachine struct {
	dir    string
	writes []string
}

func newFake(t *testing.T, values map[string]string) *fakeMachine {
	t.Helper()
	m := &fakeMachine{dir: t.TempDir()}
	for k, v := range values {
		p := filepath.Join(m.dir, host.SysctlPath(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *fakeMachine) path(k string) string { return filepath.Join(m.dir, host.SysctlPath(k)) }

func (m *fakeMachine) write(k, v string) error {
	if err := writeExisting(m.path(k), v); err != nil {
		return err
	}
	m.writes = append(m.writes, k+"="+v)
	if p, ok := linked[k]; ok && strings.TrimSpace(v) != "0" {
		return writeExisting(m.path(p), "0")
	}
	return nil
}

func (m *fakeMachine) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(m.dir, "proc/sys"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = fold(string(b)) // the kernel prints tabs, plain files keep what was written
		}
		return nil
	})
	return out
}

// same fails for every sysctl whose value is not what want says (a
// snapshot).
func (m *fakeMachine) same(t *testing.T, what string, want map[string]string) {
	t.Helper()
	now := m.snapshot(t)
	for p, v := range want {
		if now[p] != v {
			t.Errorf("%s: %s = %q, want %q", what, p, now[p], v)
		}
	}
}

func (m *fakeMachine) tuner(t *testing.T) (*Tuner, *bytes.Buffer) {
	var out bytes.Buffer
	d := t.TempDir()
	return &Tuner{
		Root:        host.At(m.dir),
		ProfileDir:  filepath.Join(d, "tune.d"),
		StateDir:    filepath.Join(d, "state"),
		SysctlDir:   filepath.Join(d, "sysctl.d"),
		SystemdDir:  filepath.Join(d, "systemd"),
		LimitsDir:   filepath.Join(d, "limits.d"),
		Out:         &out,
		WriteSysctl: m.write,
		Systemctl:   func(args ...string) error { return nil },
	}, &out
}

var piDefaults = map[string]string{
	"net.core.somaxconn":                  "4096",
	"net.ipv4.tcp_max_syn_backlog":        "512",
	"net.ipv4.tcp_slow_start_after_idle":  "1",
	"net.ipv4.ip_local_port_range":        "32768\t60999",
	"net.ipv4.ip_unprivileged_port_start": "1024",
	"net.ipv4.tcp_fin_timeout":            "60",
	"net.core.rmem_max":                   "212992",
	"net.core.wmem_max":                   "212992",
	"net.ipv4.tcp_rmem":                   "4096\t131072\t6291456",
	"net.ipv4.tcp_wmem":                   "4096\t16384\t4194304",
	"fs.nr_open":                          "1048576",
	"vm.dirty_background_bytes":           "0",
	"vm.dirty_background_ratio":           "10",
	"vm.dirty_bytes":                      "0",
	"vm.dirty_ratio":                      "20",
	"vm.dirty_expire_centisecs":           "3000",
	"vm.swappiness":                       "60",
	"vm.vfs_cache_pressure":               "100",
}

func TestApplyRevertFake(t *testing.T) {
	m := newFake(t, piDefaults)
	before := m.snapshot(t)
	tu, out := m.tuner(t)

	if _, err := tu.Apply(t.Context(), "go-pi", true); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for k, want := range map[string]string{
		"net.core.somaxconn":        "8192",
		"net.ipv4.tcp_rmem":         "4096 131072 16777216",
		"net.ipv4.tcp_fin_timeout":  "15",
		"vm.dirty_bytes":            "67108864",
		"vm.dirty_ratio":            "0", // zeroed by the "kernel"
		"vm.dirty_background_bytes": "16777216",
		"vm.swappiness":             "150",
	} {
		if got, _ := tu.Get(k); got != want {
			t.Errorf("after apply %s = %q, want %q", k, got, want)
		}
	}
	sysctlConf := filepath.Join(tu.SysctlDir, "60-pitstop-go-pi.conf")
	b, err := os.ReadFile(sysctlConf)
	if err != nil || !strings.Contains(string(b), "\nnet.ipv4.tcp_slow_start_after_idle = 0\n") || strings.Contains(string(b), "\nvm.dirty_ratio =") {
		t.Errorf("sysctl.d file: %v\n%s", err, b)
	}
	for _, f := range []string{
		filepath.Join(tu.SystemdDir, "system.conf.d/60-pitstop-go-pi.conf"),
		filepath.Join(tu.SystemdDir, "user.conf.d/60-pitstop-go-pi.conf"),
	} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "[Manager]\n") || !strings.Contains(string(b), "DefaultLimitNOFILE=1024:1048576\n") {
			t.Errorf("%s: %v\n%s", f, err, b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(tu.LimitsDir, "60-pitstop-go-pi.conf")); err != nil || !strings.Contains(string(b), "*    hard nofile 1048576\n") || !strings.Contains(string(b), "root hard nofile 1048576\n") {
		t.Errorf("limits.d: %v\n%s", err, b)
	}
	if !strings.Contains(out.String(), "done: set net.core.somaxconn: 4096 → 8192\n") {
		t.Errorf("apply output:\n%s", out)
	}

	// show marks nothing left to change; the limit now reads from the drop-in.
	reps, err := tu.Show("go-pi")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps[0].Rows {
		if r.Differs {
			t.Errorf("after apply, show marks %s (current %q, profile %q)", r.Key, r.Current, r.Profile)
		}
	}

	// A second apply refuses and changes nothing.
	_, err = tu.Apply(t.Context(), "go-server", false)
	var ae *AppliedError
	if !errors.As(err, &ae) || ae.Profile != "go-pi" {
		t.Errorf("second apply = %v, want AppliedError", err)
	}

	out.Reset()
	if _, err := tu.Status(); err != nil || !strings.Contains(out.String(), "applied go-pi") {
		t.Errorf("status: %v\n%s", err, out)
	}

	out.Reset()
	if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	m.same(t, "after revert", before)
	for _, w := range m.writes {
		if w == "vm.dirty_bytes=0" || w == "vm.dirty_background_bytes=0" {
			t.Errorf("revert wrote %s, which the kernel refuses; the ratio must be restored instead", w)
		}
	}
	for _, f := range []string{sysctlConf, filepath.Join(tu.LimitsDir, "60-pitstop-go-pi.conf"),
		filepath.Join(tu.SystemdDir, "system.conf.d/60-pitstop-go-pi.conf"), tu.statePath()} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after revert: %v", f, err)
		}
	}
	out.Reset()
	if _, err := tu.Revert(t.Context()); err != nil || !strings.Contains(out.String(), "nothing to revert") {
		t.Errorf("second revert: %v %s", err, out)
	}
}

func TestApplyDryRunFake(t *testing.T) {
	values := maps.Clone(piDefaults)
	values["net.ipv4.tcp_rmem"] = "4096\t131072\t33554432" // go-pi only raises it
	m := newFake(t, values)
	before := m.snapshot(t)
	tu, out := m.tuner(t)
	var systemctl []string
	tu.Systemctl = func(args ...string) error { systemctl = append(systemctl, strings.Join(args, " ")); return nil }
	p, err := tu.PlanApply("go-pi", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.writes) != 0 || len(systemctl) != 0 || out.Len() != 0 {
		t.Errorf("planning wrote %v, ran systemctl %v, printed %q", m.writes, systemctl, out)
	}
	m.same(t, "after the dry run", before)
	for _, d := range []string{tu.StateDir, tu.SysctlDir, tu.SystemdDir, tu.LimitsDir} {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dry run created %s", d)
		}
	}
	out.Reset()
	p.Write(out)
	for _, want := range []string{"set net.core.somaxconn: 4096 → 8192\n", "write " + filepath.Join(tu.SysctlDir, "60-pitstop-go-pi.conf") + "\n",
		"write " + filepath.Join(tu.SystemdDir, "system.conf.d/60-pitstop-go-pi.conf") + " (then systemctl daemon-reload)\n",
		"keep net.ipv4.tcp_rmem: 4096 131072 33554432\n",
		"set vm.dirty_ratio: 20 → 0 (the kernel zeroes it when vm.dirty_bytes is written)\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if first := p.Steps[0]; first.Action != "write" || first.Target != tu.statePath() {
		t.Errorf("the first step is %s, want the state record", first)
	}
}

// TestPlanIsRunFake: the plan a dry run shows is the plan the real run
// runs, for apply and for revert.
func TestPlanIsRunFake(t *testing.T) {
	m := newFake(t, piDefaults)
	tu, out := m.tuner(t)
	dry, err := tu.PlanApply("go-pi", true)
	if err != nil {
		t.Fatal(err)
	}
	ran, err := tu.Apply(t.Context(), "go-pi", true)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	samePlan(t, "apply", dry, ran)
	m.write("net.core.somaxconn", "2000") // changed behind pitstop's back
	if dry, err = tu.PlanRevert(); err != nil {
		t.Fatal(err)
	}
	if ran, err = tu.Revert(t.Context()); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	samePlan(t, "revert", dry, ran)
	if !slices.ContainsFunc(ran.Steps, func(s plan.Step) bool { return s.String() == "set net.core.somaxconn: 2000 → 4096" }) {
		t.Errorf("revert plan:\n%s", planText(ran))
	}
}

// samePlan fails unless a and b have the same JSON form.
func samePlan(t *testing.T, what string, a, b *plan.Plan) {
	t.Helper()
	var ja, jb bytes.Buffer
	if err := a.JSON(&ja); err != nil {
		t.Fatal(err)
	}
	if err := b.JSON(&jb); err != nil {
		t.Fatal(err)
	}
	if ja.String() != jb.String() {
		t.Errorf("%s: the dry run planned\n%s\nthe real run ran\n%s", what, ja.String(), jb.String())
	}
	if len(a.Steps) < 3 {
		t.Errorf("%s: only %d steps:\n%s", what, len(a.Steps), ja.String())
	}
}

func planText(p *plan.Plan) string {
	var b bytes.Buffer
	p.Write(&b)
	return b.String()
}

func TestApplyRollsBackFake(t *testing.T) {
	m := newFake(t, piDefaults)
	before := m.snapshot(t)
	tu, _ := m.tuner(t)
	n := 0
	tu.WriteSysctl = func(k, v string) error {
		n++
		if k == "net.ipv4.tcp_fin_timeout" && v == "15" {
			return fmt.Errorf("injected failure writing %s", k)
		}
		return m.write(k, v)
	}
	_, err := tu.Apply(t.Context(), "go-server", true)
	if err == nil || !strings.Contains(err.Error(), "injected failure") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("apply = %v, want the injected failure, rolled back", err)
	}
	if n < 4 {
		t.Fatalf("the failure came before any write (%d writes)", n)
	}
	m.same(t, "after rollback", before)
	if _, err := os.Stat(tu.statePath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state left after rollback: %v", err)
	}
	if ents, _ := os.ReadDir(tu.SysctlDir); len(ents) != 0 {
		t.Errorf("files left after rollback: %v", ents)
	}
}

// TestApplyRollbackFailsFake: when putting a value back fails too, the
// error says which, and the state stays for revert, which then finishes.
func TestApplyRollbackFailsFake(t *testing.T) {
	m := newFake(t, piDefaults)
	before := m.snapshot(t)
	tu, _ := m.tuner(t)
	stuck := true
	tu.WriteSysctl = func(k, v string) error {
		switch {
		case k == "net.ipv4.tcp_fin_timeout" && v == "15":
			return fmt.Errorf("injected failure writing %s", k)
		case k == "net.core.somaxconn" && v == "4096" && stuck:
			return fmt.Errorf("injected failure restoring %s", k)
		}
		return m.write(k, v)
	}
	_, err := tu.Apply(t.Context(), "go-server", true)
	if err == nil || !strings.Contains(err.Error(), "injected failure writing net.ipv4.tcp_fin_timeout; rolling back failed too: ") ||
		!strings.Contains(err.Error(), "injected failure restoring net.core.somaxconn") ||
		!strings.Contains(err.Error(), "net.core.somaxconn is 8192, want 4096") ||
		!strings.Contains(err.Error(), "state kept in "+tu.statePath()) {
		t.Fatalf("apply = %v", err)
	}
	t.Logf("apply: %v", err)
	if got, _ := tu.Get("net.ipv4.tcp_slow_start_after_idle"); got != "1" {
		t.Errorf("tcp_slow_start_after_idle = %s, want it put back to 1", got)
	}
	if _, err := tu.LoadState(); err != nil {
		t.Fatalf("state not kept: %v", err)
	}
	stuck = false
	if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatal(err)
	}
	m.same(t, "after revert", before)
}

// TestRevertRollsBackFake: a revert that fails half-way puts back what it
// restored and keeps the state; run again, it finishes.
func TestRevertRollsBackFake(t *testing.T) {
	m := newFake(t, piDefaults)
	before := m.snapshot(t)
	tu, out := m.tuner(t)
	if _, err := tu.Apply(t.Context(), "go-server", true); err != nil {
		t.Fatal(err)
	}
	applied := m.snapshot(t)
	fail := true
	tu.WriteSysctl = func(k, v string) error {
		if k == "net.ipv4.tcp_slow_start_after_idle" && v == "1" && fail {
			return fmt.Errorf("injected failure restoring %s", k)
		}
		return m.write(k, v)
	}
	_, err := tu.Revert(t.Context())
	if err == nil || !strings.Contains(err.Error(), "revert of go-server failed: net.ipv4.tcp_slow_start_after_idle = 1: injected failure restoring net.ipv4.tcp_slow_start_after_idle; put back what it restored (state kept in ") {
		t.Fatalf("revert = %v\n%s", err, out)
	}
	m.same(t, "after a failed revert", applied)
	if _, err := os.Stat(filepath.Join(tu.SysctlDir, "60-pitstop-go-server.conf")); err != nil {
		t.Errorf("persisted file not kept: %v", err)
	}
	fail = false
	if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatal(err)
	}
	m.same(t, "after revert", before)
}

func TestApplyRefusesBadInput(t *testing.T) {
	m := newFake(t, piDefaults)
	tu, _ := m.tuner(t)
	os.MkdirAll(tu.ProfileDir, 0o755)
	for n, s := range map[string]string{
		"unknown-key": "[sysctl]\nnet.core.somaxconn = 100\nnet.core.no_such_key = 1\n",
		"range":       "[sysctl]\nnet.core.somaxconn = 100\nvm.swappiness = 500\n",
		"both":        "[sysctl]\nvm.dirty_bytes = 67108864\nvm.dirty_ratio = 5\n",
		"nr-open":     "[limits]\nnofile = 1024:2097152\n",
	} {
		os.WriteFile(filepath.Join(tu.ProfileDir, n+".conf"), []byte(s), 0o644)
	}
	before := m.snapshot(t)
	for name, want := range map[string]string{
		"unknown-key": "unknown sysctl net.core.no_such_key",
		"range":       "vm.swappiness = \"500\": 500 is out of range 0..200",
		"both":        "sets both vm.dirty_bytes and vm.dirty_ratio",
		"nr-open":     "above fs.nr_open (1048576)",
		"nope":        `unknown profile "nope"`,
	} {
		_, err := tu.Apply(t.Context(), name, true)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("apply %s = %v, want one line containing %q", name, err, want)
		}
	}
	if len(m.writes) != 0 {
		t.Errorf("bad input wrote %v", m.writes)
	}
	m.same(t, "after bad input", before)
}

func TestApplyNotRoot(t *testing.T) {
	d := t.TempDir()
	tu := &Tuner{ProfileDir: d, StateDir: d, SysctlDir: d, Euid: func() int { return 1000 }}
	if _, err := tu.Apply(t.Context(), "go-server", false); !errors.Is(err, ErrNotRoot) {
		t.Errorf("apply as uid 1000 = %v, want ErrNotRoot", err)
	}
	if ents, _ := os.ReadDir(d); len(ents) != 0 {
		t.Errorf("not-root apply wrote %v", ents)
	}
}

func TestApplyRefusesForeignFile(t *testing.T) {
	m := newFake(t, piDefaults)
	tu, _ := m.tuner(t)
	os.MkdirAll(tu.SysctlDir, 0o755)
	p := filepath.Join(tu.SysctlDir, "60-pitstop-go-server.conf")
	os.WriteFile(p, []byte("mine\n"), 0o644)
	if _, err := tu.Apply(t.Context(), "go-server", true); err == nil || !strings.Contains(err.Error(), p+" exists already") {
		t.Errorf("apply over a foreign file = %v", err)
	}
	if len(m.writes) != 0 {
		t.Errorf("wrote %v", m.writes)
	}
}

func TestApplyLocked(t *testing.T) {
	m := newFake(t, piDefaults)
	tu, _ := m.tuner(t)
	unlock, err := tu.lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	other := *tu
	if _, err := other.Apply(t.Context(), "go-server", false); err == nil || !strings.Contains(err.Error(), "another pitstop tune apply or revert is running") {
		t.Errorf("apply while locked = %v", err)
	}
	if len(m.writes) != 0 {
		t.Errorf("wrote %v while locked", m.writes)
	}
}
