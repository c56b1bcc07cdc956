package host

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Model returns the board model from the device tree
// (/proc/device-tree/model, a NUL-terminated string), e.g.
// "Raspberry Pi 5 Model B Rev 1.0". A machine without a device tree
// returns an error satisfying errors.Is(err, fs.ErrNotExist).
func (r *Root) Model() (string, error) {
	m, err := r.ReadString("/proc/device-tree/model")
	if err != nil {
		m2, err2 := r.ReadString("/sys/firmware/devicetree/base/model")
		if err2 != nil {
			return "", err
		}
		m = m2
	}
	return m, nil
}

// IsRaspberryPi reports whether a device-tree model names a Raspberry Pi
// (boards, Compute Modules and the Pi 400/500 keyboards).
func IsRaspberryPi(model string) bool {
	return strings.HasPrefix(model, "Raspberry Pi")
}

// KernelRelease reads the running kernel's release
// (/proc/sys/kernel/osrelease), e.g. "6.12.25+rpt-rpi-2712".
func (r *Root) KernelRelease() (string, error) {
	return r.ReadString("/proc/sys/kernel/osrelease")
}

// Thermal is one thermal zone's reading.
type Thermal struct {
	Zone   string  // /sys/class/thermal/thermal_zone0
	Type   string  // cpu-thermal
	Millis int64   // millidegrees Celsius
	C      float64 // degrees Celsius
}

// CPUTemp returns the CPU's temperature: the thermal zone whose type is
// cpu-thermal (a Pi), or else the first zone that reads.
func (r *Root) CPUTemp() (Thermal, error) {
	zones, _ := r.Glob("/sys/class/thermal/thermal_zone*")
	var first *Thermal
	for _, z := range zones {
		typ, _ := r.ReadString(path.Join(z, "type"))
		s, err := r.ReadString(path.Join(z, "temp"))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue
		}
		t := Thermal{Zone: z, Type: typ, Millis: v, C: float64(v) / 1000}
		if typ == "cpu-thermal" {
			return t, nil
		}
		if first == nil {
			first = &t
		}
	}
	if first != nil {
		return *first, nil
	}
	return Thermal{}, errors.New("no readable thermal zone under /sys/class/thermal")
}

// CPUFreq is a CPU's frequency scaling state (kHz).
type CPUFreq struct {
	Governor string
	MaxKHz   int64 // scaling_max_freq: the current cap
	HWMaxKHz int64 // cpuinfo_max_freq: what the hardware allows (0 if unknown)
	CurKHz   int64 // scaling_cur_freq (0 if unknown)
}

// CPUFreq reads /sys/devices/system/cpu/cpu<N>/cpufreq.
func (r *Root) CPUFreq(cpu int) (CPUFreq, error) {
	dir := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/cpufreq/", cpu)
	gov, err := r.ReadString(dir + "scaling_governor")
	if err != nil {
		return CPUFreq{}, err
	}
	f := CPUFreq{Governor: gov}
	num := func(name string) int64 {
		s, err := r.ReadString(dir + name)
		if err != nil {
			return 0
		}
		v, _ := strconv.ParseInt(s, 10, 64)
		return v
	}
	f.MaxKHz = num("scaling_max_freq")
	f.HWMaxKHz = num("cpuinfo_max_freq")
	f.CurKHz = num("scaling_cur_freq")
	return f, nil
}

// ARMVersion returns the ARM architecture version of the CPU from
// /proc/cpuinfo ("CPU architecture: 7", "AArch64" as 8, an ARM11's model
// name "ARMv6-compatible processor" as 6), 0 when it does not say or the
// CPU is no ARM. GOARM above it makes binaries die with illegal
// instruction.
func (r *Root) ARMVersion() int {
	b, err := r.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "CPU architecture" && strings.HasPrefix(v, "AArch64"): // arm64 kernels before 3.19
			return 8
		case k == "CPU architecture":
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		case k == "model name" && strings.HasPrefix(v, "ARMv6"):
			return 6
		}
	}
	return 0
}
