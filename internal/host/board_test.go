package host

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseThrottle(t *testing.T) {
	for _, tt := range []struct {
		in            string
		want          Throttle
		now, occurred []string
	}{
		{"throttled=0x50000", 0x50000, nil, []string{"under-voltage", "throttled"}},
		{"50005\n", 0x50005, []string{"under-voltage", "throttled"}, []string{"under-voltage", "throttled"}},
		{"0x0", 0, nil, nil},
		{"e000e", 0xe000e, []string{"ARM frequency capped", "throttled", "soft temperature limit"}, []string{"ARM frequency capped", "throttled", "soft temperature limit"}},
		{"80000", 0x80000, nil, []string{"soft temperature limit"}},
	} {
		got, err := ParseThrottle(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseThrottle(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		if !reflect.DeepEqual(got.Now(), tt.now) || !reflect.DeepEqual(got.Occurred(), tt.occurred) {
			t.Errorf("%q: now %q occurred %q; want %q %q", tt.in, got.Now(), got.Occurred(), tt.now, tt.occurred)
		}
	}
	if !Throttle(0x50000).HasOccurred(UnderVoltage) || Throttle(0x50000).Has(UnderVoltage) {
		t.Error("Has/HasOccurred wrong for 0x50000")
	}
	for _, bad := range []string{"", "throttled=", "zz", "0x1ffffffff"} {
		if _, err := ParseThrottle(bad); err == nil {
			t.Errorf("ParseThrottle(%q) accepted", bad)
		}
	}
}

func FuzzParseThrottle(f *testing.F) {
	for _, s := range []string{"throttled=0x50000", "50000", "0x0", "", "throttled=0xzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThrottle(s)
		if err != nil {
			return
		}
		if len(th.Now()) > 4 || len(th.Occurred()) > 4 {
			t.Fatal("more than four conditions")
		}
		if again, err := ParseThrottle(th.String()); err != nil || again != th {
			t.Fatalf("round trip %s: %v, %v", th, again, err)
		}
	})
}

// tree writes files (path → content) and links (path → "->target") under dir.
func tree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, s := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if len(s) > 2 && s[:2] == "->" {
			if err := os.Symlink(s[2:], full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBoardFacts(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{
		"sys/firmware/devicetree/base/model":   "Raspberry Pi 4 Model B Rev 1.4\x00",
		"proc/device-tree":                     "->../sys/firmware/devicetree/base",
		"proc/sys/kernel/osrelease":            "6.6.51+rpt-rpi-v8\n",
		"bin/dash":                             string(elfHeader(ELFMachine{emARM, 32, false}, 0x05000400)),
		"bin/sh":                               "->dash",
		"sys/class/thermal/thermal_zone0/type": "cpu-thermal\n",
		"sys/class/thermal/thermal_zone0/temp": "69950\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor":                   "ondemand\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq":                   "1800000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq":                   "1800000\n",
		"sys/devices/platform/soc/soc:firmware/get_throttled":                    "50000\n",
		"sys/devices/platform/soc/soc:firmware/raspberrypi-hwmon/hwmon/hwmon1/x": "",
	})
	r := At(dir)
	if m, err := r.Model(); err != nil || !IsRaspberryPi(m) || m != "Raspberry Pi 4 Model B Rev 1.4" {
		t.Errorf("Model = %q, %v", m, err)
	}
	if rel, _ := r.KernelRelease(); rel != "6.6.51+rpt-rpi-v8" {
		t.Errorf("KernelRelease = %q", rel)
	}
	if u, p, err := r.Userland(); err != nil || u.String() != "32-bit armhf" || p != "/bin/sh" {
		t.Errorf("Userland = %+v %s %v", u, p, err)
	}
	if th, err := r.CPUTemp(); err != nil || th.Millis != 69950 || th.Type != "cpu-thermal" {
		t.Errorf("CPUTemp = %+v, %v", th, err)
	}
	if f, err := r.CPUFreq(0); err != nil || f.Governor != "ondemand" || f.MaxKHz != 1800000 || f.CurKHz != 0 {
		t.Errorf("CPUFreq = %+v, %v", f, err)
	}
	th, p, err := r.ThrottleSysfs()
	if err != nil || th != 0x50000 || p != "/sys/devices/platform/soc/soc:firmware/get_throttled" {
		t.Errorf("ThrottleSysfs = %v %s %v", th, p, err)
	}

	empty := At(t.TempDir())
	if _, err := empty.Model(); err == nil {
		t.Error("Model without a device tree succeeded")
	}
	if _, _, err := empty.ThrottleSysfs(); err == nil {
		t.Error("ThrottleSysfs without sysfs succeeded")
	}
}

func TestARMVersion(t *testing.T) {
	for cpuinfo, want := range map[string]int{
		"processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nCPU architecture: 7\n": 7,
		"processor\t: 0\nBogoMIPS\t: 108.00\nCPU architecture: 8\n":                        8,
		"Processor\t: AArch64 Processor rev 4 (aarch64)\nCPU architecture: AArch64\n":      8,
		"processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\n":           6,
		"processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5\nflags\t: fpu\n":               0,
	} {
		dir := t.TempDir()
		tree(t, dir, map[string]string{"proc/cpuinfo": cpuinfo})
		if got := At(dir).ARMVersion(); got != want {
			t.Errorf("ARMVersion(%q) = %d, want %d", cpuinfo, got, want)
		}
	}
	if got := At(t.TempDir()).ARMVersion(); got != 0 {
		t.Errorf("no /proc/cpuinfo: %d", got)
	}
}
