package host

import (
	"encoding/binary"
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

// ELFInfo is what the first bytes of an ELF file say about the userland
// that built it.
type ELFInfo struct {
	Class   int    // 32 or 64
	Machine string // Go's GOARCH name: arm, arm64, amd64, 386, riscv64, ... or "elf-machine-N"
}

// ParseELFHeader reads the ELF identification and machine from the start of
// an executable (at least 20 bytes).
func ParseELFHeader(b []byte) (ELFInfo, error) {
	if len(b) < 20 || string(b[:4]) != "\x7fELF" {
		return ELFInfo{}, errors.New("not an ELF file")
	}
	var info ELFInfo
	switch b[4] {
	case 1:
		info.Class = 32
	case 2:
		info.Class = 64
	default:
		return ELFInfo{}, fmt.Errorf("ELF class %d unknown", b[4])
	}
	var bo binary.ByteOrder
	switch b[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return ELFInfo{}, fmt.Errorf("ELF data encoding %d unknown", b[5])
	}
	m := bo.Uint16(b[18:20])
	is64, little := info.Class == 64, b[5] == 1
	switch {
	case m == 3:
		info.Machine = "386"
	case m == 40:
		info.Machine = "arm"
	case m == 62:
		info.Machine = "amd64"
	case m == 183:
		info.Machine = "arm64"
	case m == 243 && is64:
		info.Machine = "riscv64"
	case m == 243:
		info.Machine = "riscv32"
	case m == 21 && is64 && little:
		info.Machine = "ppc64le"
	case m == 21 && is64:
		info.Machine = "ppc64"
	case m == 22 && is64:
		info.Machine = "s390x"
	case m == 258 && is64:
		info.Machine = "loong64"
	case m == 8 && is64 && little:
		info.Machine = "mips64le"
	case m == 8 && is64:
		info.Machine = "mips64"
	case m == 8 && little:
		info.Machine = "mipsle"
	case m == 8:
		info.Machine = "mips"
	default:
		info.Machine = "elf-machine-" + strconv.Itoa(int(m))
	}
	return info, nil
}

// UserlandProbes are the executables whose ELF header tells the userland's
// architecture, in the order tried.
var UserlandProbes = []string{"/bin/sh", "/usr/bin/env", "/bin/ls", "/usr/bin/ls"}

// Userland returns the architecture of the userland from the ELF header of
// /bin/sh (or another always-present executable), and the path read. A
// 64-bit kernel with a 32-bit userland shows up as uname "aarch64" and an
// ELF32 ARM /bin/sh.
func (r *Root) Userland() (ELFInfo, string, error) {
	var firstErr error
	for _, p := range UserlandProbes {
		b, err := r.ReadFile(p)
		if err == nil {
			var info ELFInfo
			if info, err = ParseELFHeader(b); err == nil {
				return info, p, nil
			}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", p, err)
		}
	}
	return ELFInfo{}, "", firstErr
}

// KernelArch maps `uname -m` to Go's GOARCH name (aarch64 → arm64,
// armv7l → arm, x86_64 → amd64).
func KernelArch(machine string) string {
	switch {
	case machine == "aarch64" || machine == "arm64" || machine == "armv8b" || machine == "aarch64_be":
		return "arm64"
	case strings.HasPrefix(machine, "armv") || machine == "arm":
		return "arm"
	case machine == "x86_64" || machine == "amd64":
		return "amd64"
	case machine == "i386" || machine == "i486" || machine == "i586" || machine == "i686":
		return "386"
	}
	return machine
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
