package doctor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Probe names of the kernel section. syscall.* record a syscallAnswer,
// rlimit.nofile a nofileLimits.
const (
	ProbeClone3       = "syscall.clone3"
	ProbeStatx        = "syscall.statx"
	ProbeIOUringSetup = "syscall.io_uring_setup"
	ProbeNofile       = "rlimit.nofile"
)

// Tuning is a profile of kernel settings, handed to the kernel checks by
// their caller (the CLI takes it from internal/tune): the checks judge by
// their own thresholds and name the profile's values and command.
type Tuning struct {
	// Profile names the profile; the fixes apply it
	// ("sudo pitstop tune apply <Profile> --persist"). "" names none: the fixes say what
	// to raise by hand.
	Profile string
	// Values maps a sysctl key ("net.core.somaxconn") or "limit:nofile" to
	// the value the profile sets, without ">=": "8192", "10240 65535",
	// "1024:1048576". A key without a value goes unmentioned.
	Values map[string]string
}

// fix is the fix for a setting below what the checks recommend: applying
// the profile, as root and persisted (so that the limits are written too
// and the sysctls survive a reboot), or manual without one.
func (t Tuning) fix(manual string) string {
	if t.Profile == "" {
		return manual
	}
	return "sudo pitstop tune apply " + t.Profile + " --persist"
}

// nofileFix is the fix for a low hard open-files limit: the profile's
// persisted limits reach new logins and services only, so the fix also
// raises this shell's hard limit (prlimit on $$, the shell that runs it),
// to the profile's value.
func (t Tuning) nofileFix(manual string) string {
	_, hard, ok := strings.Cut(t.Values["limit:nofile"], ":")
	if t.Profile == "" || !ok || hard == "" {
		return manual
	}
	return t.fix(manual) + " && sudo prlimit --pid $$ --nofile=:" + hard
}

// sets is what the profile sets key to, for a finding:
// "; the go-server profile sets 8192", or "".
func (t Tuning) sets(key string) string {
	v := t.Values[key]
	if t.Profile == "" || v == "" {
		return ""
	}
	return fmt.Sprintf("; the %s profile sets %s", t.Profile, v)
}

// portRange parses "lo hi" (net.ipv4.ip_local_port_range).
func portRange(v string) (lo, hi int, ok bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, err1 == nil && err2 == nil && lo <= hi
}

func kernelChecks() []Check {
	return []Check{
		{ID: "kernel.clone3", Section: "kernel", Title: "clone3 system call", Run: syscallCheck(ProbeClone3, "clone3", probeClone3)},
		{ID: "kernel.statx", Section: "kernel", Title: "statx system call", Run: syscallCheck(ProbeStatx, "statx", probeStatx)},
		{ID: "kernel.io_uring", Section: "kernel", Title: "io_uring", Run: syscallCheck(ProbeIOUringSetup, "io_uring", probeIOUring)},
		{ID: "kernel.somaxconn", Section: "kernel", Title: "net.core.somaxconn (listen backlog)", Run: sysctlAtLeast("net.core.somaxconn", 4096,
			"caps every listen() backlog; Go reads it once per process, so running servers keep the old value until restarted",
			"below 4096 (the default since Linux 5.4), bursts of connections are refused")},
		{ID: "kernel.tcp_max_syn_backlog", Section: "kernel", Title: "net.ipv4.tcp_max_syn_backlog", Run: sysctlAtLeast("net.ipv4.tcp_max_syn_backlog", 1024,
			"the queue of half-open connections; past it the kernel falls back to SYN cookies or drops SYNs",
			"below 1024, a burst of new connections overflows the SYN queue")},
		{ID: "kernel.tcp_slow_start_after_idle", Section: "kernel", Title: "net.ipv4.tcp_slow_start_after_idle", Run: checkSlowStart},
		{ID: "kernel.ip_local_port_range", Section: "kernel", Title: "net.ipv4.ip_local_port_range (ephemeral ports)", Run: checkPortRange},
		{ID: "kernel.nofile", Section: "kernel", Title: "Open-files limit (RLIMIT_NOFILE)", Run: checkNofile},
	}
}

// syscallAnswer is what probing a system call found.
type syscallAnswer struct {
	// State is "present", "absent" (ENOSYS) or "blocked" (EPERM: seccomp or
	// a sysctl).
	State string `json:"state"`
	// Errno is the error the call returned ("EINVAL"), "" for none.
	Errno string `json:"errno,omitempty"`
}

// classifyErrno turns a probing system call's errno into the recorded
// answer: ENOSYS means the kernel lacks the call, EPERM that a seccomp
// filter or a sysctl refuses it; any other error (EINVAL, EFAULT from the
// deliberately bad arguments) proves the call exists.
func classifyErrno(err error) syscallAnswer {
	var en syscall.Errno
	if err == nil {
		return syscallAnswer{State: "present"}
	}
	if !errors.As(err, &en) {
		return syscallAnswer{State: "present", Errno: err.Error()}
	}
	switch en {
	case unix.ENOSYS:
		return syscallAnswer{State: "absent", Errno: "ENOSYS"}
	case unix.EPERM, unix.EACCES:
		return syscallAnswer{State: "blocked", Errno: unix.ErrnoName(en)}
	}
	return syscallAnswer{State: "present", Errno: unix.ErrnoName(en)}
}

// probeClone3 calls clone3 with a NULL argument and size 0: a kernel that
// has it answers EINVAL without creating anything.
func probeClone3() (syscallAnswer, error) {
	_, _, e := unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	if e == 0 {
		return syscallAnswer{State: "present"}, nil
	}
	return classifyErrno(e), nil
}

func probeStatx() (syscallAnswer, error) {
	var st unix.Statx_t
	return classifyErrno(unix.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_BASIC_STATS, &st)), nil
}

// probeIOUring calls io_uring_setup(0, NULL): EINVAL (zero entries) or
// EFAULT (NULL params) when the kernel has io_uring, ENOSYS when not, EPERM
// when kernel.io_uring_disabled or seccomp forbids it.
func probeIOUring() (syscallAnswer, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_IO_URING_SETUP, 0, 0, 0)
	if e == 0 {
		unix.Close(int(fd))
		return syscallAnswer{State: "present"}, nil
	}
	return classifyErrno(e), nil
}

func syscallCheck(probe, name string, fn func() (syscallAnswer, error)) func(context.Context, *Env) Result {
	return func(ctx context.Context, env *Env) Result {
		v, err := Probe(env, probe, fn)
		if err != nil {
			return probeSkip(err)
		}
		state, errno := v.State, v.Errno
		r := Result{Status: OK}
		if errno != "" {
			r.Details = append(r.Details, "probe answered "+errno)
		}
		switch name + ":" + state {
		case "clone3:present":
			r.Finding = "available (os/exec starts processes with clone3 and pidfds)"
		case "clone3:absent":
			if rel, ok := kernelAtLeast(env, 5, 3); ok {
				r.Finding = "hidden (ENOSYS) although kernel " + rel + " has it: an emulator (qemu-user) or a container's seccomp profile; Go falls back to clone"
				break
			}
			r.Status = Warn
			r.Finding = "missing (ENOSYS): the kernel predates 5.3; Go falls back to clone, without pidfds"
			r.Fix = "upgrade the kernel (sudo apt full-upgrade && sudo reboot)"
		case "clone3:blocked":
			r.Status = Warn
			r.Finding = "blocked by a seccomp filter (" + errno + "): sandboxes should answer ENOSYS so programs fall back"
			r.Fix = "update the container runtime or its seccomp profile (it must return ENOSYS for clone3)"
		case "statx:present":
			r.Finding = "available (os.Stat uses it where the C library would)"
		case "statx:absent":
			if rel, ok := kernelAtLeast(env, 4, 11); ok {
				r.Finding = "hidden (ENOSYS) although kernel " + rel + " has it: an emulator or a seccomp profile; Go falls back to fstatat"
				break
			}
			r.Status = Warn
			r.Finding = "missing (ENOSYS): the kernel predates 4.11"
			r.Fix = "upgrade the kernel (sudo apt full-upgrade && sudo reboot)"
		case "statx:blocked":
			r.Status = Warn
			r.Finding = "blocked by a seccomp filter (" + errno + ")"
			r.Fix = "update the container runtime or its seccomp profile"
		case "io_uring:present":
			r.Finding = "available (the Go runtime does not use it; some libraries can)"
		case "io_uring:absent":
			r.Finding = "not in this kernel (ENOSYS); the Go runtime does not need it"
		case "io_uring:blocked":
			r.Finding = "disabled (" + errno + ": kernel.io_uring_disabled or seccomp); the Go runtime does not need it"
			if v, err := env.Root.Sysctl("kernel.io_uring_disabled"); err == nil {
				r.Details = append(r.Details, "kernel.io_uring_disabled = "+v)
			}
		default:
			r.Status = Skip
			r.Finding = fmt.Sprintf("recorded answer %q not understood", state)
		}
		return r
	}
}

// kernelAtLeast reports whether the machine's kernel release is at least
// major.minor, and the release; ok is false when it is older or unknown.
func kernelAtLeast(env *Env, major, minor int) (string, bool) {
	rel, err := env.Root.KernelRelease()
	if err != nil {
		return "", false
	}
	var ma, mi int
	if n, _ := fmt.Sscanf(rel, "%d.%d", &ma, &mi); n != 2 {
		return rel, false
	}
	return rel, ma > major || ma == major && mi >= minor
}

// sysctlInt reads an integer sysctl, or returns a skip result.
func sysctlInt(env *Env, key string) (int64, *Result) {
	v, err := env.Root.Sysctl(key)
	if err != nil {
		return 0, &Result{Status: Skip, Finding: "cannot read " + key + ": " + env.errText(err)}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &Result{Status: Skip, Finding: fmt.Sprintf("%s = %q is not a number", key, v)}
	}
	return n, nil
}

// sysctlAtLeast checks an integer sysctl against the least value the
// checks recommend: detail says what it does, low (with the value) what
// goes wrong below min.
func sysctlAtLeast(key string, min int64, detail, low string) func(context.Context, *Env) Result {
	return func(ctx context.Context, env *Env) Result {
		n, skip := sysctlInt(env, key)
		if skip != nil {
			return *skip
		}
		r := Result{Status: OK, Finding: fmt.Sprintf("%d (recommended ≥ %d%s)", n, min, env.Tuning.sets(key)), Details: []string{detail}}
		if n < min {
			r.Status = Warn
			r.Finding = fmt.Sprintf("%d: %s", n, low)
			r.Fix = env.Tuning.fix(fmt.Sprintf("sudo sysctl -w %s=%d", key, min))
		}
		return r
	}
}

func checkSlowStart(ctx context.Context, env *Env) Result {
	n, skip := sysctlInt(env, "net.ipv4.tcp_slow_start_after_idle")
	if skip != nil {
		return *skip
	}
	if n == 0 {
		return Result{Status: OK, Finding: "0: idle keep-alive and HTTP/2 connections keep their congestion window"}
	}
	return Result{Status: Warn, Finding: fmt.Sprintf("%d: idle keep-alive and HTTP/2 connections restart in slow start (recommended 0)", n),
		Fix: env.Tuning.fix("sudo sysctl -w net.ipv4.tcp_slow_start_after_idle=0")}
}

func checkPortRange(ctx context.Context, env *Env) Result {
	v, err := env.Root.Sysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read net.ipv4.ip_local_port_range: " + env.errText(err)}
	}
	lo, hi, ok := portRange(v)
	if !ok {
		return Result{Status: Skip, Finding: fmt.Sprintf("net.ipv4.ip_local_port_range = %q not understood", v)}
	}
	n := hi - lo + 1
	gives := ""
	if plo, phi, ok := portRange(env.Tuning.Values["net.ipv4.ip_local_port_range"]); ok && env.Tuning.Profile != "" {
		gives = fmt.Sprintf("; the %s profile gives %d", env.Tuning.Profile, phi-plo+1)
	}
	r := Result{Status: OK, Finding: fmt.Sprintf("%d-%d: %d ephemeral ports (recommended ≥ 28232%s)", lo, hi, n, gives),
		Details: []string{"every outgoing connection holds a port per destination through TIME_WAIT's 60 s"}}
	if n < 28232 {
		r.Status = Warn
		r.Finding = fmt.Sprintf("%d-%d: only %d ephemeral ports, fewer than the default 28232", lo, hi, n)
		r.Fix = env.Tuning.fix(`sudo sysctl -w net.ipv4.ip_local_port_range="32768 60999"`)
	}
	return r
}

// nofileLimits is RLIMIT_NOFILE: each limit a decimal number or
// "unlimited" (RLIM_INFINITY).
type nofileLimits struct {
	Soft string `json:"soft"`
	Hard string `json:"hard"`
}

func probeNofile() (nofileLimits, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return nofileLimits{}, err
	}
	f := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	return nofileLimits{Soft: f(uint64(rl.Cur)), Hard: f(uint64(rl.Max))}, nil
}

func checkNofile(ctx context.Context, env *Env) Result {
	v, err := Probe(env, ProbeNofile, probeNofile)
	if err != nil {
		return probeSkip(err)
	}
	hard := v.Hard
	r := Result{Status: OK, Finding: fmt.Sprintf("hard limit %s (recommended ≥ 65536; Go raises its soft limit to the hard one)", hard)}
	if hard != "unlimited" {
		n, err := strconv.ParseUint(hard, 10, 64)
		if err != nil {
			return Result{Status: Skip, Finding: fmt.Sprintf("recorded hard limit %q not understood", hard)}
		}
		if n < 65536 {
			r.Status = Warn
			r.Finding = fmt.Sprintf("hard limit %d: a Go server runs out of file descriptors past that many connections", n)
			if env.Tuning.Profile != "" {
				r.Finding += " (the fix persists the limit for new logins and services, and raises this shell's)"
			}
			r.Fix = env.Tuning.nofileFix("raise the hard open-files limit to at least 65536 (DefaultLimitNOFILE= in /etc/systemd/system.conf, or LimitNOFILE= in the service's unit)")
		}
	}
	return r
}
