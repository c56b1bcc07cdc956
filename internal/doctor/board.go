package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/units"
)

// Probe names of the board section (recorded in captures).
const (
	ProbeUnameMachine = "uname.machine"          // `uname -m`, e.g. aarch64
	ProbePageSize     = "pagesize"               // bytes, e.g. 16384
	ProbeVcgencmd     = "vcgencmd.get_throttled" // `vcgencmd get_throttled` output
)

// boardChecks returns the board section's checks.
func boardChecks() []Check {
	c := func(id, title string, run func(context.Context, *Env) Result) Check {
		return Check{ID: "board." + id, Section: "board", Title: title, Run: run}
	}
	return []Check{
		c("model", "Board model (device tree)", checkModel),
		c("ram", "Memory", checkRAM),
		c("kernel", "Kernel release and architecture", checkKernel),
		c("pagesize", "Memory page size", checkPageSize),
		c("userland", "Userland matches the kernel (64-bit kernel, 32-bit userland)", checkUserland),
		c("temperature", "CPU temperature", checkTemperature),
		c("throttle", "Throttling and under-voltage, now and since boot", checkThrottle),
		c("cpufreq", "CPU frequency governor and maximum", checkCPUFreq),
	}
}

// piModel returns the board's model when it is a Raspberry Pi, or a skip
// result saying why not.
func piModel(env *Env) (string, *Result) {
	m, err := env.Root.Model()
	if err != nil {
		return "", &Result{Status: Skip, Finding: "not a Raspberry Pi (no device-tree model)"}
	}
	if !host.IsRaspberryPi(m) {
		return "", &Result{Status: Skip, Finding: fmt.Sprintf("not a Raspberry Pi (%s)", m)}
	}
	return m, nil
}

func checkModel(ctx context.Context, env *Env) Result {
	m, skip := piModel(env)
	if skip != nil {
		return *skip
	}
	r := Result{Status: OK, Finding: m}
	if rev := cpuinfoRevision(env); rev != "" {
		r.Finding += " (revision " + rev + ")"
	}
	return r
}

func cpuinfoRevision(env *Env) string {
	b, err := env.Root.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == "Revision" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func checkRAM(ctx context.Context, env *Env) Result {
	mi, err := env.Root.MemInfo()
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read /proc/meminfo: " + env.errText(err)}
	}
	total, avail := mi["MemTotal"], mi["MemAvailable"]
	if total == 0 {
		return Result{Status: Skip, Finding: "/proc/meminfo has no MemTotal"}
	}
	r := Result{Status: OK, Finding: fmt.Sprintf("%s total, %s available", units.HumanSize(total), units.HumanSize(avail))}
	if sw := mi["SwapTotal"]; sw > 0 {
		r.Details = append(r.Details, fmt.Sprintf("swap %s, %s free", units.HumanSize(sw), units.HumanSize(mi["SwapFree"])))
	}
	if total < 1<<30 {
		r.Status = Warn
		r.Finding += "; under 1 GiB: building large Go programs runs out of memory"
		r.Fix = "build elsewhere and copy the binary (GOOS=linux GOARCH=arm64 go build), or add swap (sudo dphys-swapfile setup)"
	}
	return r
}

func unameMachine(env *Env) (string, error) {
	return Probe(env, ProbeUnameMachine, func() (string, error) {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return "", err
		}
		return unix.ByteSliceToString(u.Machine[:]), nil
	})
}

func checkKernel(ctx context.Context, env *Env) Result {
	rel, err := env.Root.KernelRelease()
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read /proc/sys/kernel/osrelease: " + env.errText(err)}
	}
	r := Result{Status: OK, Finding: rel}
	if m, err := unameMachine(env); err == nil {
		r.Finding += " " + m
	}
	switch {
	case strings.HasSuffix(rel, "-rpi-2712"):
		r.Details = append(r.Details, "Raspberry Pi 5 kernel with 16 KiB pages (kernel_2712.img)")
	case strings.HasSuffix(rel, "-rpi-v8"):
		r.Details = append(r.Details, "Raspberry Pi 64-bit kernel with 4 KiB pages (kernel8.img)")
	}
	return r
}

func checkPageSize(ctx context.Context, env *Env) Result {
	n, err := Probe(env, ProbePageSize, func() (int, error) { return os.Getpagesize(), nil })
	if err != nil {
		return probeSkip(err)
	}
	if n <= 0 {
		return Result{Status: Fail, Finding: fmt.Sprintf("recorded page size %d is not positive", n)}
	}
	r := Result{Status: OK, Finding: fmt.Sprintf("%d KiB", n/1024)}
	if n > 4096 {
		r.Finding += ": Go is fine; C libraries built for 4 KiB pages (jemalloc with lg-page=12) abort"
		r.Details = append(r.Details,
			"a Pi 5 boots kernel_2712.img (16 KiB pages) by default;",
			"kernel=kernel8.img in /boot/firmware/config.txt switches to 4 KiB pages if a cgo dependency needs them")
	}
	return r
}

func checkUserland(ctx context.Context, env *Env) Result {
	u, p, err := env.Root.Userland()
	if err != nil {
		return Result{Status: Skip, Finding: "cannot read the userland's ELF header: " + env.errText(err)}
	}
	ul := fmt.Sprintf("%s userland (%s)", u, p)
	m, err := unameMachine(env)
	if err != nil {
		return Result{Status: OK, Finding: ul + "; kernel architecture unknown (" + env.errText(err) + ")"}
	}
	kernel, _ := host.ArchByUname(m)
	ka, ua := kernel.GOARCH, u.GOARCH()
	r := Result{Status: OK, Finding: fmt.Sprintf("%s, kernel %s", ul, m)}
	if ka == "arm64" && ua == "arm" {
		r.Status = Warn
		r.Finding = fmt.Sprintf("64-bit kernel (%s) with 32-bit userland (%s is ELF32 arm): arm64 Go binaries and tarballs do not run here", m, p)
		r.Fix = "use the linux-armv6l Go download and GOARCH=arm (pitstop go picks it), or install a 64-bit OS"
	} else if ka == "amd64" && ua == "386" {
		r.Status = Warn
		r.Finding = fmt.Sprintf("64-bit kernel (%s) with 32-bit userland (%s is ELF32 386)", m, p)
		r.Fix = "use the linux-386 Go download and GOARCH=386"
	}
	return r
}

func checkTemperature(ctx context.Context, env *Env) Result {
	if _, skip := piModel(env); skip != nil {
		return *skip
	}
	t, err := env.Root.CPUTemp()
	if err != nil {
		return Result{Status: Skip, Finding: env.errText(err)}
	}
	r := Result{Status: OK, Finding: fmt.Sprintf("%.1f °C (%s)", t.C, t.Type)}
	switch {
	case t.C >= 85:
		r.Status = Fail
		r.Finding += ": at the hard limit, the firmware throttles hard"
		r.Fix = "fit a cooler (Pi 5: the Active Cooler) and keep the case ventilated"
	case t.C >= 80:
		r.Status = Warn
		r.Finding += ": at the soft limit, builds are slowed down"
		r.Fix = "fit a cooler (Pi 5: the Active Cooler) and keep the case ventilated"
	}
	return r
}

func readThrottle(ctx context.Context, env *Env) (host.Throttle, string, error) {
	t, p, err := env.Root.ThrottleSysfs()
	if err == nil {
		return t, p, nil
	}
	out, perr := Probe(env, ProbeVcgencmd, func() (string, error) {
		path, err := exec.LookPath("vcgencmd")
		if err != nil {
			return "", err
		}
		b, err := exec.CommandContext(ctx, path, "get_throttled").Output()
		return strings.TrimSpace(string(b)), err
	})
	if perr != nil {
		if errors.Is(perr, ErrNoLiveHost) {
			return 0, "", perr
		}
		return 0, "", fmt.Errorf("%v; vcgencmd: %v", err, perr)
	}
	t, err = host.ParseThrottle(out)
	return t, "vcgencmd get_throttled", err
}

func checkThrottle(ctx context.Context, env *Env) Result {
	if _, skip := piModel(env); skip != nil {
		return *skip
	}
	t, src, err := readThrottle(ctx, env)
	if err != nil {
		if errors.Is(err, ErrNoLiveHost) {
			return probeSkip(err)
		}
		return Result{Status: Skip, Finding: "throttle state unreadable: " + env.errText(err)}
	}
	now, since := t.Now(), t.Occurred()
	r := Result{Status: OK, Details: []string{"read from " + src}}
	switch {
	case len(now) == 0 && len(since) == 0:
		r.Finding = fmt.Sprintf("no throttling or under-voltage since boot (%s)", t)
		return r
	case len(now) == 0:
		r.Status = Warn
		r.Finding = fmt.Sprintf("none now; since boot: %s (%s)", strings.Join(since, ", "), t)
	default:
		r.Status = Fail
		r.Finding = fmt.Sprintf("now: %s; since boot: %s (%s)", strings.Join(now, ", "), strings.Join(since, ", "), t)
	}
	switch {
	case t.Has(host.UnderVoltage) || t.HasOccurred(host.UnderVoltage):
		r.Fix = "use the official power supply (Pi 5: 27 W USB-C 5 V/5 A; Pi 4: 15 W 5 V/3 A) and a short, thick cable"
	default:
		r.Fix = "fit a cooler (Pi 5: the Active Cooler) and keep the case ventilated"
	}
	return r
}

func checkCPUFreq(ctx context.Context, env *Env) Result {
	if _, skip := piModel(env); skip != nil {
		return *skip
	}
	f, err := env.Root.CPUFreq(0)
	if err != nil {
		return Result{Status: Skip, Finding: "no cpufreq for cpu0: " + env.errText(err)}
	}
	ghz := func(khz int64) string { return fmt.Sprintf("%.2f GHz", float64(khz)/1e6) }
	r := Result{Status: OK, Finding: fmt.Sprintf("governor %s, max %s", f.Governor, ghz(f.MaxKHz))}
	if f.CurKHz > 0 {
		r.Finding += ", now " + ghz(f.CurKHz)
	}
	if f.HWMaxKHz > 0 && f.MaxKHz > 0 && f.MaxKHz < f.HWMaxKHz {
		r.Status = Warn
		r.Finding += fmt.Sprintf("; capped below the hardware's %s", ghz(f.HWMaxKHz))
		r.Fix = fmt.Sprintf("echo %d | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_max_freq", f.HWMaxKHz)
	}
	if f.Governor == "powersave" {
		r.Status = Warn
		r.Finding += "; powersave keeps the CPU at its lowest speed"
		r.Fix = "echo ondemand | sudo tee /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"
	}
	return r
}

// probeSkip turns a probe's error into a result: skip for a capture that
// did not record it (or recorded what this check cannot read), fail
// otherwise.
func probeSkip(err error) Result {
	var de *ProbeDecodeError
	if errors.As(err, &de) {
		return Result{Status: Skip, Finding: de.Error()}
	}
	if errors.Is(err, ErrNoLiveHost) {
		return Result{Status: Skip, Finding: "needs the live host: not recorded in this capture"}
	}
	return Result{Status: Fail, Finding: err.Error()}
}

// errText shortens an error for a finding: a missing file reads
// "/path missing", and a capture's temporary directory is left out of
// paths.
func (e *Env) errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) {
		return e.machinePath(pe.Path) + " missing"
	}
	s := err.Error()
	if e != nil && e.Root != nil && !e.Root.IsLive() {
		s = strings.ReplaceAll(s, strings.TrimSuffix(e.Root.Dir(), "/"), "")
	}
	return s
}

// machinePath turns a path opened through a capture back into the
// machine's path.
func (e *Env) machinePath(p string) string {
	if e == nil || e.Root == nil || e.Root.IsLive() {
		return p
	}
	if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(e.Root.Dir(), "/")); ok && strings.HasPrefix(rel, "/") {
		return rel
	}
	return p
}
