package tune

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// The tests in this file write the real /proc/sys, but only inside network
// namespaces they create: TestNetns re-executes the test binary under
// `unshare -n` with envScenario naming what the child does. Only net.*
// sysctls the namespace owns are touched (vm.* and fs.* are global).

const envScenario = "PITSTOP_TUNE_NETNS_SCENARIO"

var scenarios = map[string]func(t *testing.T){
	"apply-revert":  scenarioApplyRevert,
	"dry-run":       scenarioDryRun,
	"plan-is-run":   scenarioPlanIsRun,
	"kernel-einval": scenarioKernelEINVAL,
	"injected":      scenarioInjected,
	"listeners":     scenarioListeners,
	"read-only":     scenarioReadOnly,
}

func TestNetns(t *testing.T) {
	if sc := os.Getenv(envScenario); sc != "" {
		f, ok := scenarios[sc]
		if !ok {
			t.Fatalf("unknown scenario %q", sc)
		}
		if _, err := os.ReadFile("/proc/self/ns/net"); err == nil {
			// Refuse to run a scenario outside a fresh namespace.
			self, _ := os.Readlink("/proc/self/ns/net")
			init, _ := os.Readlink("/proc/1/ns/net")
			if self == init {
				t.Fatalf("scenario %s must run in its own network namespace (pid 1 shares %s)", sc, self)
			}
		}
		f(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (unshare -n) to write their private net.* sysctls")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare (util-linux) to create network namespaces")
	}
	hostKeys := netKeys(Recommended("go-server"))
	hostBefore := readRaw(t, hostKeys)
	for _, sc := range sortedKeys(scenarios) {
		t.Run(sc, func(t *testing.T) {
			args := []string{"-n"}
			if sc == "read-only" {
				args = append(args, "-m", "--propagation", "private")
			}
			args = append(args, os.Args[0], "-test.run=^TestNetns$", "-test.v", "-test.count=1")
			cmd := exec.Command(unshare, args...)
			cmd.Env = append(os.Environ(), envScenario+"="+sc)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee) && (ee.ExitCode() == 126 || ee.ExitCode() == 127):
				t.Skipf("cannot run the test binary under unshare here (no binfmt for %s?): %s", filepath.Base(os.Args[0]), bytes.TrimSpace(out))
			case err != nil && bytes.Contains(out, []byte("unshare failed")):
				t.Skipf("cannot create a namespace here: %s", bytes.TrimSpace(out))
			case bytes.Contains(out, []byte("--- SKIP: TestNetns")):
				t.Skipf("skipped inside the namespace:\n%s", out)
			case err != nil:
				t.Fatalf("scenario %s in a new network namespace: %v\n%s", sc, err, out)
			case !bytes.Contains(out, []byte("--- PASS: TestNetns")):
				t.Fatalf("scenario %s did not report a pass:\n%s", sc, out)
			}
			if testing.Verbose() {
				t.Logf("inside the namespace:\n%s", out)
			}
		})
	}
	hostAfter := readRaw(t, hostKeys)
	for k, v := range hostBefore {
		if hostAfter[k] != v {
			t.Errorf("the host's %s changed from %q to %q: a namespaced test leaked", k, v, hostAfter[k])
		}
	}
}

// netKeys returns the net.* sysctl keys of ss.
func netKeys(ss map[string]Setting) []string {
	var out []string
	for k, s := range ss {
		if s.Kind == Sysctl && strings.HasPrefix(k, "net.") {
			out = append(out, k)
		}
	}
	return out
}

func readRaw(t *testing.T, keys []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		b, err := os.ReadFile(host.SysctlPath(k))
		if err != nil {
			continue // absent on this kernel or in this namespace
		}
		out[k] = string(b)
	}
	return out
}

// snapshotNet reads every readable file directly in /proc/sys/net/core and
// /proc/sys/net/ipv4, byte for byte.
func snapshotNet(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range []string{"/proc/sys/net/core", "/proc/sys/net/ipv4"} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err == nil {
				out[filepath.Join(d, e.Name())] = string(b)
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("only %d sysctls readable under /proc/sys/net", len(out))
	}
	return out
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	n := 0
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s: %s is %q, was %q", what, p, after[p], v)
		}
		n++
	}
	t.Logf("%s: compared %d sysctls under /proc/sys/net/{core,ipv4}", what, n)
}

// nsTuner is a Tuner on the live /proc/sys with every file it writes in
// temp dirs, and a profile dir holding the given profiles.
func nsTuner(t *testing.T, profiles map[string]string) (*Tuner, *bytes.Buffer) {
	t.Helper()
	d := t.TempDir()
	var out bytes.Buffer
	tu := &Tuner{
		ProfileDir: writeProfiles(t, profiles),
		StateDir:   filepath.Join(d, "state"),
		SysctlDir:  filepath.Join(d, "sysctl.d"),
		SystemdDir: filepath.Join(d, "systemd"),
		LimitsDir:  filepath.Join(d, "limits.d"),
		Systemctl:  func(...string) error { return nil },
		Out:        &out,
	}
	return tu, &out
}

// nsGoServer renders a profile that includes go-server and drops ("-")
// what this namespace may not write: fs.* and vm.* (global), limits, and
// net.* keys the kernel keeps read-only outside the host's namespace
// (net.core.rmem_max on recent kernels).
func nsGoServer(t *testing.T) (string, []Setting) {
	t.Helper()
	ss, err := Embedded().Resolve("go-server")
	if err != nil {
		t.Fatal(err)
	}
	var sysctls, limits strings.Builder
	var kept []Setting
	for _, s := range ss {
		if s.Kind == Limit {
			fmt.Fprintf(&limits, "%s = -\n", s.Key)
			t.Logf("left out limit %s: not namespaced", s.Key)
			continue
		}
		if !strings.HasPrefix(s.Key, "net.") {
			fmt.Fprintf(&sysctls, "%s = -\n", s.Key)
			t.Logf("left out %s: global to the host", s.Key)
			continue
		}
		fi, err := os.Stat(host.SysctlPath(s.Key))
		if err != nil || fi.Mode().Perm()&0o200 == 0 {
			fmt.Fprintf(&sysctls, "%s = -\n", s.Key)
			t.Logf("left out %s: absent or read-only in a child network namespace on this kernel", s.Key)
			continue
		}
		kept = append(kept, s)
	}
	if len(kept) < 5 {
		t.Fatalf("only %d of go-server's settings are writable in a network namespace", len(kept))
	}
	return "[main]\nsummary = go-server as far as this network namespace owns it\ninclude = go-server\n[sysctl]\n" +
		sysctls.String() + "[limits]\n" + limits.String(), kept
}

func mustSet(t *testing.T, key, value string) {
	t.Helper()
	if err := host.Live().SetSysctl(key, value); err != nil {
		t.Fatal(err)
	}
}

func scenarioApplyRevert(t *testing.T) {
	// Non-default prior values: revert must bring back these, not defaults.
	mustSet(t, "net.core.somaxconn", "1234")
	mustSet(t, "net.ipv4.tcp_fin_timeout", "33")
	mustSet(t, "net.ipv4.ip_local_port_range", "20000 50001")
	prof, kept := nsGoServer(t)
	tu, out := nsTuner(t, map[string]string{"ns-go-server": prof})
	before := snapshotNet(t)

	// go-server itself: its fs.*/vm.* keys are fine to read here, but a
	// net.* key the namespace cannot own stops it before any change.
	if _, err := tu.Apply(t.Context(), "go-server", false); err != nil {
		if !strings.Contains(err.Error(), "net.core.rmem_max") || strings.Contains(err.Error(), "\n") {
			t.Errorf("apply go-server in a namespace: %v", err)
		}
		t.Logf("apply go-server: %v", err)
		sameSnapshot(t, "after a refused go-server", before, snapshotNet(t))
	} else if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatal(err)
	}
	out.Reset()

	if _, err := tu.Apply(t.Context(), "ns-go-server", true); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	t.Logf("apply printed:\n%s", out)
	for _, s := range kept {
		b, err := os.ReadFile(host.SysctlPath(s.Key))
		if err != nil {
			t.Fatal(err)
		}
		want := fold(s.Target(fold(before[host.SysctlPath(s.Key)])))
		if got := fold(string(b)); got != want {
			t.Errorf("after apply /proc/sys says %s = %q, want %q", s.Key, got, want)
		}
		if !s.Satisfied(string(b)) {
			t.Errorf("%s = %q does not satisfy %s", s.Key, b, s)
		}
	}
	if got, _ := tu.Get("net.core.somaxconn"); got != "8192" {
		t.Errorf("somaxconn = %s, want 8192", got)
	}
	// Literal values of the go-server profile, independent of Target
	// (the check above computes its expectation with the code under test).
	for key, want := range map[string]string{
		"net.ipv4.tcp_fin_timeout":           "15",
		"net.ipv4.ip_local_port_range":       "10240 65535",
		"net.ipv4.tcp_slow_start_after_idle": "0",
		"net.ipv4.tcp_max_syn_backlog":       "8192",
	} {
		if !slices.ContainsFunc(kept, func(s Setting) bool { return s.Key == key }) {
			continue // not writable in this kernel's network namespaces
		}
		if got, _ := tu.Get(key); fold(got) != want {
			t.Errorf("after apply %s = %q, want go-server's %q", key, got, want)
		}
	}
	conf, err := os.ReadFile(filepath.Join(tu.SysctlDir, "60-pitstop-ns-go-server.conf"))
	if err != nil || !bytes.Contains(conf, []byte("\nnet.ipv4.tcp_slow_start_after_idle = 0\n")) {
		t.Errorf("persisted file: %v\n%s", err, conf)
	}
	st, err := tu.LoadState()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Settings {
		if r.Key == "net.core.somaxconn" && (r.Previous != "1234" || r.Applied != "8192") {
			t.Errorf("state records %+v", r)
		}
	}

	out.Reset()
	if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	t.Logf("revert printed:\n%s", out)
	sameSnapshot(t, "after revert", before, snapshotNet(t))
	if got, _ := tu.Get("net.ipv4.ip_local_port_range"); got != "20000 50001" {
		t.Errorf("ip_local_port_range = %q after revert, want the prior 20000 50001", got)
	}
	if _, err := os.Stat(filepath.Join(tu.SysctlDir, "60-pitstop-ns-go-server.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("persisted file survives revert: %v", err)
	}
	if _, err := tu.LoadState(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state survives revert: %v", err)
	}
}

func scenarioDryRun(t *testing.T) {
	prof, _ := nsGoServer(t)
	tu, out := nsTuner(t, map[string]string{"ns-go-server": prof})
	before := snapshotNet(t)
	p, err := tu.PlanApply("ns-go-server", true)
	if err != nil {
		t.Fatalf("apply --dry-run: %v\n%s", err, out)
	}
	sameSnapshot(t, "after apply --dry-run", before, snapshotNet(t))
	p.Write(out)
	if !strings.Contains(out.String(), "set net.core.somaxconn: 4096 → 8192\n") {
		t.Errorf("dry run output:\n%s", out)
	}
	for _, d := range []string{tu.StateDir, tu.SysctlDir} {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dry run created %s", d)
		}
	}
}

// The plan a dry run shows is the plan the real run runs, on the real
// /proc/sys: apply with persist, then revert of values changed since.
func scenarioPlanIsRun(t *testing.T) {
	mustSet(t, "net.ipv4.tcp_fin_timeout", "33")
	prof, _ := nsGoServer(t)
	tu, out := nsTuner(t, map[string]string{"ns-go-server": prof})
	before := snapshotNet(t)
	dry, err := tu.PlanApply("ns-go-server", true)
	if err != nil {
		t.Fatal(err)
	}
	sameSnapshot(t, "after planning apply", before, snapshotNet(t))
	ran, err := tu.Apply(t.Context(), "ns-go-server", true)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	samePlan(t, "apply", dry, ran)
	if !slices.ContainsFunc(ran.Steps, func(s plan.Step) bool { return s.String() == "set net.ipv4.tcp_fin_timeout: 33 → 15" }) {
		t.Errorf("apply plan:\n%s", planText(ran))
	}
	t.Logf("apply plan:\n%s", planText(ran))

	mustSet(t, "net.core.somaxconn", "2000") // changed behind pitstop's back
	if dry, err = tu.PlanRevert(); err != nil {
		t.Fatal(err)
	}
	if ran, err = tu.Revert(t.Context()); err != nil {
		t.Fatalf("revert: %v\n%s", err, out)
	}
	samePlan(t, "revert", dry, ran)
	if !slices.Contains(ran.Notes, "net.core.somaxconn was changed since apply (now 2000, pitstop set 8192)") {
		t.Errorf("revert plan:\n%s", planText(ran))
	}
	t.Logf("revert plan:\n%s", planText(ran))
	sameSnapshot(t, "after revert", before, snapshotNet(t))
}

// A value the kernel itself refuses (tcp_syn_retries is at most 127, and
// pitstop has no range for it) after three good ones: all roll back.
func scenarioKernelEINVAL(t *testing.T) {
	tu, out := nsTuner(t, map[string]string{"bad-late": `[sysctl]
net.core.somaxconn = 8192 ; a
net.ipv4.tcp_slow_start_after_idle = 0 ; b
net.ipv4.tcp_fin_timeout = 15 ; c
net.ipv4.tcp_syn_retries = 300 ; the kernel refuses this
`})
	var writes []string
	tu.WriteSysctl = func(k, v string) error {
		writes = append(writes, k)
		return host.Live().SetSysctl(k, v)
	}
	before := snapshotNet(t)
	_, err := tu.Apply(t.Context(), "bad-late", false)
	if err == nil || !strings.Contains(err.Error(), "net.ipv4.tcp_syn_retries = 300: the kernel refused it (invalid argument); rolled back") {
		t.Fatalf("apply = %v, want the kernel's refusal and a rollback\n%s", err, out)
	}
	if !errors.Is(err, unix.EINVAL) {
		t.Errorf("error does not wrap EINVAL: %v", err)
	}
	if len(writes) < 4 {
		t.Fatalf("only %d writes before the failure: %v", len(writes), writes)
	}
	t.Logf("writes: %v; error: %v", writes, err)
	sameSnapshot(t, "after a refused write", before, snapshotNet(t))
	if _, err := tu.LoadState(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state left after rollback: %v", err)
	}
}

// An injected failure on the third write of go-server's net.* settings.
func scenarioInjected(t *testing.T) {
	prof, _ := nsGoServer(t)
	tu, out := nsTuner(t, map[string]string{"ns-go-server": prof})
	n := 0
	tu.WriteSysctl = func(k, v string) error {
		n++
		if n == 3 {
			return fmt.Errorf("injected failure")
		}
		return host.Live().SetSysctl(k, v)
	}
	before := snapshotNet(t)
	_, err := tu.Apply(t.Context(), "ns-go-server", true)
	if err == nil || !strings.Contains(err.Error(), "injected failure; rolled back: nothing changed") {
		t.Fatalf("apply = %v\n%s", err, out)
	}
	sameSnapshot(t, "after an injected failure", before, snapshotNet(t))
	if ents, _ := os.ReadDir(tu.SysctlDir); len(ents) != 0 {
		t.Errorf("persisted files left: %v", ents)
	}
}

func scenarioListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	tu, out := nsTuner(t, map[string]string{"backlog": "[sysctl]\nnet.core.somaxconn = 8192 ; r\n"})
	if _, err := tu.Apply(t.Context(), "backlog", false); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`(?m)^note: net\.core\.somaxconn changes: restart these to see it .*\n  pid %d \(.+\) listening on port %d$`, os.Getpid(), port)
	if !regexp.MustCompile(want).MatchString(out.String()) {
		t.Errorf("apply output does not name this process:\n%s", out)
	}
	if _, err := tu.Revert(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func scenarioReadOnly(t *testing.T) {
	// What a container runtime does: /proc/sys bind-mounted read-only.
	if err := unix.Mount("/proc/sys", "/proc/sys", "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Skipf("cannot bind-mount /proc/sys here: %v", err)
	}
	if err := unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount /proc/sys read-only here: %v", err)
	}
	tu, _ := nsTuner(t, map[string]string{"backlog": "[sysctl]\nnet.core.somaxconn = 8192 ; r\n"})
	before := snapshotNet(t)
	_, err := tu.Apply(t.Context(), "backlog", false)
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("apply on a read-only /proc/sys = %v, want ErrReadOnly", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("not one line: %q", err)
	}
	// Past the up-front check, the write itself fails with EROFS.
	tu.WriteSysctl = nil
	if err := tu.set("net.core.somaxconn", "8192"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write on a read-only /proc/sys = %v, want ErrReadOnly", err)
	}
	sameSnapshot(t, "read-only", before, snapshotNet(t))
}
