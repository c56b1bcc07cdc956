package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
)

func TestClassifyErrno(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want syscallAnswer
	}{
		{nil, syscallAnswer{"present", ""}},
		{unix.ENOSYS, syscallAnswer{"absent", "ENOSYS"}},
		{unix.EPERM, syscallAnswer{"blocked", "EPERM"}},
		{unix.EINVAL, syscallAnswer{"present", "EINVAL"}},
		{unix.EFAULT, syscallAnswer{"present", "EFAULT"}},
		{fmt.Errorf("wrapped: %w", unix.ENOSYS), syscallAnswer{"absent", "ENOSYS"}},
	} {
		if got := classifyErrno(tt.err); got != tt.want {
			t.Errorf("classifyErrno(%v) = %+v, want %+v", tt.err, got, tt.want)
		}
	}
}

// TestSyscallProbesLive runs the real probes: each must give an answer
// the check understands (whatever this kernel, seccomp filter or emulator
// says).
func TestSyscallProbesLive(t *testing.T) {
	for name, fn := range map[string]func() (syscallAnswer, error){"clone3": probeClone3, "statx": probeStatx, "io_uring": probeIOUring} {
		v, err := fn()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if v.State != "present" && v.State != "absent" && v.State != "blocked" {
			t.Errorf("%s = %+v", name, v)
		}
		t.Logf("%s: %+v", name, v)
	}
	nf, err := probeNofile()
	if _, perr := strconv.ParseUint(nf.Soft, 10, 64); err != nil || perr != nil && nf.Soft != "unlimited" || nf.Hard == "" {
		t.Errorf("nofile = %+v, %v", nf, err)
	}
	// statx has been in every kernel Go supports since 4.11; the test
	// machine has it.
	if v, _ := probeStatx(); v.State != "present" {
		t.Errorf("statx = %+v on this machine", v)
	}
}

func TestKernelChecksOnRecordedProbes(t *testing.T) {
	env := handIn(testEnv(t))
	env.replayProbes(map[string]ProbeResult{
		ProbeClone3:       rec(syscallAnswer{"absent", "ENOSYS"}),
		ProbeStatx:        rec(syscallAnswer{"blocked", "EPERM"}),
		ProbeIOUringSetup: rec(syscallAnswer{"blocked", "EPERM"}),
		ProbeNofile:       rec(nofileLimits{Soft: "1024", Hard: "4096"}),
	})
	checks, _ := Select(All(), []string{"kernel"})
	rep := Run(context.Background(), env, checks)
	assertFindings(t, rep, []expect{
		{"kernel.clone3", Warn, []string{"missing (ENOSYS)"}, "upgrade the kernel"},
		{"kernel.statx", Warn, []string{"seccomp"}, "seccomp"},
		{"kernel.io_uring", OK, []string{"disabled (EPERM"}, ""},
		{"kernel.nofile", Warn, []string{"hard limit 4096"}, "sudo pitstop tune apply go-server --persist && sudo prlimit --pid $$ --nofile=:1048576"},
		{"kernel.somaxconn", Skip, []string{"somaxconn missing"}, ""},
	})

	// The same answer under a kernel that has clone3 means something hides it.
	dir := env.Root.Dir()
	os.MkdirAll(dir+"/proc/sys/kernel", 0o755)
	os.WriteFile(dir+"/proc/sys/kernel/osrelease", []byte("6.12.25+rpt-rpi-2712\n"), 0o644)
	rep = Run(context.Background(), env, checks)
	assertFindings(t, rep, []expect{
		{"kernel.clone3", OK, []string{"hidden (ENOSYS) although kernel 6.12.25+rpt-rpi-2712 has it"}, ""},
	})
}

// TestKernelSysctlsInNetNamespace sets per-network-namespace sysctls in a
// fresh namespace (unshare -n) and runs the live checks on them.
func TestKernelSysctlsInNetNamespace(t *testing.T) {
	if os.Getenv("PITSTOP_DOCTOR_IN_NETNS") == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root: sets sysctls in a private network namespace")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("needs unshare(1) from util-linux")
		}
		canReexec(t)
		cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^TestKernelSysctlsInNetNamespace$", "-test.v")
		cmd.Env = append(os.Environ(), "PITSTOP_DOCTOR_IN_NETNS=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in the namespace:\n%s", out)
		if err != nil {
			t.Fatalf("namespace run: %v", err)
		}
		if strings.Contains(string(out), "--- SKIP:") {
			t.Skip("the namespace run skipped: see its output above")
		}
		if !strings.Contains(string(out), "--- PASS: TestKernelSysctlsInNetNamespace") {
			t.Fatal("the namespace run did not pass")
		}
		return
	}
	r := host.Live()
	for k, v := range map[string]string{
		"net.core.somaxconn":                 "128",
		"net.ipv4.tcp_slow_start_after_idle": "0",
		"net.ipv4.ip_local_port_range":       "40000 50000",
	} {
		if err := r.SetSysctl(k, v); err != nil {
			t.Skipf("cannot set %s in this namespace: %v", k, err)
		}
	}
	env := handIn(&Env{Root: r, Go: goenv.Env{}, Getenv: os.Getenv})
	checks, _ := Select(All(), []string{"kernel.somaxconn", "kernel.tcp_slow_start_after_idle", "kernel.ip_local_port_range"})
	rep := Run(context.Background(), env, checks)
	assertFindings(t, rep, []expect{
		{"kernel.somaxconn", Warn, []string{"128: below 4096"}, "sudo pitstop tune apply go-server --persist"},
		{"kernel.tcp_slow_start_after_idle", OK, []string{"0:"}, ""},
		{"kernel.ip_local_port_range", Warn, []string{"40000-50000: only 10001 ephemeral ports"}, "pitstop tune apply go-server"},
	})
}

// TestKernelChecksTuning: the profile named in findings and fixes, and its
// values, are the ones handed in (Env.Tuning), not the doctor's own; without
// one the fixes say what to raise by hand.
func TestKernelChecksTuning(t *testing.T) {
	env := testEnv(t)
	for k, v := range map[string]string{
		"net/core/somaxconn":                 "4096\n",
		"net/ipv4/tcp_max_syn_backlog":       "512\n",
		"net/ipv4/tcp_slow_start_after_idle": "1\n",
		"net/ipv4/ip_local_port_range":       "32768\t60999\n",
	} {
		p := env.Root.Path("/proc/sys/" + k)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(v), 0o644)
	}
	checks, _ := Select(All(), []string{"kernel.somaxconn", "kernel.tcp_max_syn_backlog", "kernel.tcp_slow_start_after_idle", "kernel.ip_local_port_range"})

	env.Tuning = Tuning{Profile: "lan-server", Values: map[string]string{
		"net.core.somaxconn": "16384", "net.ipv4.ip_local_port_range": "20000 60999"}}
	assertFindings(t, Run(context.Background(), env, checks), []expect{
		{"kernel.somaxconn", OK, []string{"4096 (recommended ≥ 4096; the lan-server profile sets 16384)"}, ""},
		{"kernel.tcp_max_syn_backlog", Warn, []string{"512: below 1024"}, "pitstop tune apply lan-server"},
		{"kernel.tcp_slow_start_after_idle", Warn, []string{"1:"}, "pitstop tune apply lan-server"},
		{"kernel.ip_local_port_range", OK, []string{"28232 ephemeral ports (recommended ≥ 28232; the lan-server profile gives 41000)"}, ""},
	})

	env.Tuning = Tuning{}
	rep := Run(context.Background(), env, checks)
	assertFindings(t, rep, []expect{
		{"kernel.somaxconn", OK, []string{"4096 (recommended ≥ 4096)"}, ""},
		{"kernel.tcp_max_syn_backlog", Warn, []string{"512: below 1024"}, "sudo sysctl -w net.ipv4.tcp_max_syn_backlog=1024"},
		{"kernel.tcp_slow_start_after_idle", Warn, []string{"1:"}, "sudo sysctl -w net.ipv4.tcp_slow_start_after_idle=0"},
		{"kernel.ip_local_port_range", OK, []string{"28232 ephemeral ports (recommended ≥ 28232)"}, ""},
	})
	for _, r := range rep.Results {
		if strings.Contains(r.Finding+r.Fix, "profile") || strings.Contains(r.Fix, "pitstop tune") {
			t.Errorf("%s names a profile none was handed in: %q / %q", r.ID, r.Finding, r.Fix)
		}
	}
}
