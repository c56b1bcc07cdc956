package tune

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
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

	if err := tu.Apply("go-pi", true); err != nil {
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
	if !strings.Contains(out.String(), "set net.core.somaxconn = 8192 (was 4096)") {
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
	err = tu.Apply("go-server", false)
	var ae *AppliedError
	if !errors.As(err, &ae) || ae.Profile != "go-pi" {
		t.Errorf("second apply = %v, want AppliedError", err)
	}

	out.Reset()
	if _, err := tu.Status(); err != nil || !strings.Contains(out.String(), "applied go-pi") {
		t.Errorf("status: %v\n%s", err, out)
	}

	out.Reset()
	if err := tu.Revert(); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	after := m.snapshot(t)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("after revert %s = %q, want %q", p, after[p], v)
		}
	}
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
	if err := tu.Revert(); err != nil || !strings.Contains(out.String(), "nothing to revert") {
		t.Errorf("second revert: %v %s", err, out)
	}
}

func TestApplyDryRunFake(t *testing.T) {
	m := newFake(t, piDefaults)
	before := m.snapshot(t)
	tu, out := m.tuner(t)
	tu.DryRun = true
	if err := tu.Apply("go-pi", true); err != nil {
		t.Fatal(err)
	}
	if len(m.writes) != 0 {
		t.Errorf("dry run wrote %v", m.writes)
	}
	after := m.snapshot(t)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("dry run changed %s", p)
		}
	}
	for _, d := range []string{tu.StateDir, tu.SysctlDir, tu.SystemdDir, tu.LimitsDir} {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dry run created %s", d)
		}
	}
	for _, want := range []string{"would set net.core.somaxconn = 8192 (was 4096)", "would write " + filepath.Join(tu.SysctlDir, "60-pitstop-go-pi.conf"),
		"would run: systemctl daemon-reload", "dry run: nothing changed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
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
	err := tu.Apply("go-server", true)
	if err == nil || !strings.Contains(err.Error(), "injected failure") || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("apply = %v, want the injected failure, rolled back", err)
	}
	if n < 4 {
		t.Fatalf("the failure came before any write (%d writes)", n)
	}
	after := m.snapshot(t)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("after rollback %s = %q, want %q", p, after[p], v)
		}
	}
	if _, err := os.Stat(tu.statePath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state left after rollback: %v", err)
	}
	if ents, _ := os.ReadDir(tu.SysctlDir); len(ents) != 0 {
		t.Errorf("files left after rollback: %v", ents)
	}
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
		err := tu.Apply(name, true)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("apply %s = %v, want one line containing %q", name, err, want)
		}
	}
	if len(m.writes) != 0 {
		t.Errorf("bad input wrote %v", m.writes)
	}
	after := m.snapshot(t)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("bad input changed %s", p)
		}
	}
}

func TestApplyNotRoot(t *testing.T) {
	d := t.TempDir()
	tu := &Tuner{ProfileDir: d, StateDir: d, SysctlDir: d, Euid: func() int { return 1000 }}
	if err := tu.Apply("go-server", false); !errors.Is(err, ErrNotRoot) {
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
	if err := tu.Apply("go-server", true); err == nil || !strings.Contains(err.Error(), p+" exists already") {
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
	if err := other.Apply("go-server", false); err == nil || !strings.Contains(err.Error(), "another pitstop tune apply or revert is running") {
		t.Errorf("apply while locked = %v", err)
	}
	if len(m.writes) != 0 {
		t.Errorf("wrote %v while locked", m.writes)
	}
}
