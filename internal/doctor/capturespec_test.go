package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The committed captures under testdata/ are built from the specs below
// (hand-made, following the formats in PI-FACTS.md and what --capture
// writes). Regenerate them with:
//
//	go test ./internal/doctor -run TestMakeCaptures -update-captures
var updateCaptures = flag.Bool("update-captures", false, "rewrite testdata/*.tar.gz from the specs in capturespec_test.go")

// elf returns the first 64 bytes of an ELF executable, as --capture
// stores them.
func elf(class byte, machine uint16, flags uint32) string {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, 1, 1
	binary.LittleEndian.PutUint16(b[16:], 3) // ET_DYN
	binary.LittleEndian.PutUint16(b[18:], machine)
	if class == 1 {
		binary.LittleEndian.PutUint32(b[36:], flags)
	} else {
		binary.LittleEndian.PutUint32(b[48:], flags)
	}
	return string(b)
}

func js(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func statfs(dir string, freeGiB, totalGiB float64) StatFS {
	return StatFS{Dir: dir, Free: uint64(freeGiB * (1 << 30)), Total: uint64(totalGiB * (1 << 30))}
}

func fsync(dir string, median, max float64) FsyncLatency {
	return FsyncLatency{Dir: dir, N: 5, MedianMS: median, MaxMS: max}
}

// sys is a syscall.* probe's answer.
func sys(state, errno string) syscallAnswer { return syscallAnswer{State: state, Errno: errno} }

// gos is a go.path probe's value: each entry "path" or "path -> resolved".
func gos(entries ...string) []installedGo {
	var out []installedGo
	for _, e := range entries {
		p, r, _ := strings.Cut(e, " -> ")
		out = append(out, installedGo{Path: p, Resolved: r})
	}
	return out
}

// probes is .pitstop/probes.json with each probe's value as Probe records
// it.
func probes(m map[string]any) string {
	out := map[string]ProbeResult{}
	for k, v := range m {
		out[k] = rec(v)
	}
	return js(out)
}

const piCPU = `processor	: %d
BogoMIPS	: 108.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x4
CPU part	: 0xd0b
CPU revision	: 1

`

func cpuinfo(block string, n int, tail string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(strings.Replace(block, "%d", string(rune('0'+i)), 1))
	}
	return b.String() + tail
}

func sysctls(files map[string]string, synBacklog string) {
	files["proc/sys/net/core/somaxconn"] = "4096\n"
	files["proc/sys/net/ipv4/tcp_max_syn_backlog"] = synBacklog + "\n"
	files["proc/sys/net/ipv4/tcp_slow_start_after_idle"] = "1\n"
	files["proc/sys/net/ipv4/ip_local_port_range"] = "32768\t60999\n"
}

const piNsswitch = `# /etc/nsswitch.conf
passwd:         files
group:          files
shadow:         files
gshadow:        files

hosts:          files mdns4_minimal [NOTFOUND=return] dns
networks:       files

protocols:      db files
services:       db files
ethers:         db files
rpc:            db files

netgroup:       nis
`

func meminfo(totalKB, availKB int) string {
	return strings.NewReplacer("TOTAL", itoa(totalKB), "AVAIL", itoa(availKB), "FREE", itoa(availKB-200000)).Replace(
		`MemTotal:        TOTAL kB
MemFree:         FREE kB
MemAvailable:    AVAIL kB
Buffers:           31488 kB
Cached:           402112 kB
SwapCached:            0 kB
SwapTotal:        524272 kB
SwapFree:         524272 kB
Shmem:             17696 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// captureSpecs returns each capture's files: path → content, or
// "->target" for a symbolic link.
func captureSpecs() map[string]map[string]string {
	specs := map[string]map[string]string{}

	// A Raspberry Pi 5 (8 GB) on a microSD card, Raspberry Pi OS Bookworm,
	// the default 16 KiB-page kernel; it has been under-voltage and
	// throttled since boot (0x50000). GOCACHE is in a pitstop ramdisk;
	// GOMODCACHE and /tmp are on the card.
	const sdDev = "devices/platform/soc@107c000000/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa"
	pi5sd := map[string]string{
		"proc/device-tree":                   "->../sys/firmware/devicetree/base",
		"sys/firmware/devicetree/base/model": "Raspberry Pi 5 Model B Rev 1.0\x00",
		"proc/cpuinfo":                       cpuinfo(piCPU, 4, "Revision\t: d04170\nSerial\t\t: 6f3a9c2e81d4b7a0\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n"),
		"proc/meminfo":                       meminfo(8245940, 7412300),
		"proc/sys/kernel/osrelease":          "6.12.25+rpt-rpi-2712\n",
		"proc/self":                          "->2417",
		"proc/2417/mountinfo": `22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
23 22 0:5 / /dev rw,relatime shared:2 - devtmpfs udev rw,size=3962400k,nr_inodes=247650,mode=755
24 23 0:23 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
25 22 0:21 / /proc rw,relatime shared:12 - proc proc rw
26 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 22 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1649184k,mode=755
28 23 0:25 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs tmpfs rw
31 22 179:1 / /boot/firmware rw,relatime shared:20 - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro
40 27 0:38 / /run/user/1000 rw,nosuid,nodev,relatime shared:300 - tmpfs tmpfs rw,size=824592k,nr_inodes=206148,mode=700,uid=1000,gid=1000
52 27 0:44 / /run/pitstop/ramdisk/6c1f0e4a2b9d/ram rw,nosuid,nodev,relatime shared:310 - tmpfs pitstop-ramdisk-tmpfs rw,size=1048576k,mode=700
53 22 0:45 / /home/pi/.cache/go-build rw,relatime shared:311 - overlay pitstop-ramdisk rw,lowerdir=/run/pitstop/ramdisk/6c1f0e4a2b9d/disk/go-build,upperdir=/run/pitstop/ramdisk/6c1f0e4a2b9d/ram/upper,workdir=/run/pitstop/ramdisk/6c1f0e4a2b9d/ram/work
`,
		"sys/dev/block/179:2":                                                       "->../../" + sdDev + "/block/mmcblk0/mmcblk0p2",
		"sys/dev/block/179:1":                                                       "->../../" + sdDev + "/block/mmcblk0/mmcblk0p1",
		"sys/block/mmcblk0":                                                         "->../" + sdDev + "/block/mmcblk0",
		"sys/" + sdDev + "/block/mmcblk0/device":                                    "->../../../mmc0:aaaa",
		"sys/" + sdDev + "/type":                                                    "SD\n",
		"sys/" + sdDev + "/name":                                                    "SD64G\n",
		"sys/class/thermal/thermal_zone0":                                           "->../../devices/virtual/thermal/thermal_zone0",
		"sys/devices/virtual/thermal/thermal_zone0/type":                            "cpu-thermal\n",
		"sys/devices/virtual/thermal/thermal_zone0/temp":                            "69950\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor":                      "ondemand\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq":                      "2400000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq":                      "2400000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq":                      "1500000\n",
		"sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled": "50000\n",
		"bin":                   "->usr/bin",
		"usr/bin/sh":            "->dash",
		"usr/bin/dash":          elf(2, 183, 0),
		"etc/resolv.conf":       "# Generated by NetworkManager\nnameserver 192.168.1.1\n",
		"etc/nsswitch.conf":     piNsswitch,
		".pitstop/capture.json": js(CaptureInfo{Version: captureVersion, Created: time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC), GOOS: "linux", GOARCH: "arm64", Source: "live"}),
		".pitstop/environ.json": js(map[string]string{
			"PATH": "/home/pi/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME": "/home/pi",
		}),
		".pitstop/goenv.json": js(map[string]string{
			"GOROOT": "/usr/local/go", "GOPATH": "/home/pi/go", "GOBIN": "", "GOMODCACHE": "/home/pi/go/pkg/mod",
			"GOCACHE": "/home/pi/.cache/go-build", "GOTMPDIR": "", "GOENV": "/home/pi/.config/go/env",
			"GOPROXY": "http://proxy.lan:3000,direct", "GOSUMDB": "sum.golang.org", "GOPRIVATE": "", "GONOPROXY": "", "GONOSUMDB": "",
			"GOINSECURE": "", "GOFLAGS": "", "GOTOOLCHAIN": "auto", "GOOS": "linux", "GOARCH": "arm64", "GOARM": "",
			"GOARM64": "v8.0", "GOVERSION": "go1.23.4", "CGO_ENABLED": "1", "CC": "gcc", "CXX": "g++", "GOEXE": "",
			"GOHOSTARCH": "arm64", "GOHOSTOS": "linux", "GOCACHEPROG": "", "GODEBUG": "", "GOMOD": "/dev/null",
		}),
		".pitstop/probes.json": probes(map[string]any{
			ProbeUnameMachine:                     "aarch64",
			ProbePageSize:                         16384,
			ProbeCwd:                              "/home/pi/src/hello",
			"statfs:/home/pi/go/pkg/mod":          statfs("/home/pi/go/pkg/mod", 41.2, 57.8),
			"statfs:/home/pi/.cache/go-build":     statfs("/home/pi/.cache/go-build", 0.7, 1.0),
			"statfs:/tmp":                         statfs("/tmp", 41.2, 57.8),
			"statfs:/home/pi/src/hello":           statfs("/home/pi/src/hello", 41.2, 57.8),
			"fsync:/home/pi/go/pkg/mod":           fsync("/home/pi/go/pkg/mod", 23.4, 61.0),
			"fsync:/home/pi/.cache/go-build":      fsync("/home/pi/.cache/go-build", 0.1, 0.2),
			"fsync:/tmp":                          fsync("/tmp", 21.7, 48.3),
			"fsync:/home/pi/src/hello":            fsync("/home/pi/src/hello", 22.9, 55.1),
			ProbeClone3:                           sys("present", "EINVAL"),
			ProbeStatx:                            sys("present", ""),
			ProbeIOUringSetup:                     sys("present", "EFAULT"),
			ProbeNofile:                           nofileLimits{Soft: "1048576", Hard: "1048576"},
			"go.path":                             gos("/usr/local/go/bin/go"),
			"go.version:/usr/local/go/bin/go":     "go version go1.23.4 linux/arm64",
			"go.latest":                           []string{"go1.23.4"},
			"lookpath:gcc":                        "/usr/bin/gcc",
			"cgo.run:gcc":                         "gcc (Debian 12.2.0-14) 12.2.0",
			"cgo.libc:glibc":                      "ldd (Debian GLIBC 2.36-9+rpt2+deb12u9) 2.36",
			"network.proxy:http://proxy.lan:3000": proxyAnswer{Status: 200, MS: 4},
			"network.dns:192.168.1.1:edns":        dnsResult{Q: "go.dev", Type: "A", RCode: "NOERROR", AN: 1, UDP: 1232, MS: 9},
			"network.dns:192.168.1.1:noedns":      dnsResult{Q: "go.dev", Type: "A", RCode: "NOERROR", AN: 1, UDP: 0, MS: 8},
		}),
	}
	pi5sd["lib"] = "->usr/lib"
	pi5sd["usr/lib/ld-linux-aarch64.so.1"] = "->aarch64-linux-gnu/ld-linux-aarch64.so.1"
	pi5sd["usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"] = elf(2, 183, 0)
	pi5sd["usr/lib/aarch64-linux-gnu/libc.so.6"] = elf(2, 183, 0)
	sysctls(pi5sd, "1024")
	specs["pi5-sd"] = pi5sd

	// A Raspberry Pi 5 booting from an NVMe SSD on the PCIe HAT; cool, never
	// throttled.
	const nvmeDev = "devices/platform/axi/1000110000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/nvme/nvme0/nvme0n1"
	pi5nvme := map[string]string{}
	for k, v := range pi5sd {
		if !strings.HasPrefix(k, "sys/dev/block/") && !strings.HasPrefix(k, "sys/block/") && !strings.HasPrefix(k, "sys/"+sdDev) {
			pi5nvme[k] = v
		}
	}
	pi5nvme["sys/firmware/devicetree/base/model"] = "Raspberry Pi 5 Model B Rev 1.1\x00"
	pi5nvme["proc/cpuinfo"] = cpuinfo(piCPU, 4, "Revision\t: e04171\nSerial\t\t: 1c8d40f27a6e3b95\nModel\t\t: Raspberry Pi 5 Model B Rev 1.1\n")
	pi5nvme["proc/meminfo"] = meminfo(16608708, 15822300)
	pi5nvme["proc/2417/mountinfo"] = `22 1 259:2 / / rw,noatime shared:1 - ext4 /dev/nvme0n1p2 rw
23 22 0:5 / /dev rw,relatime shared:2 - devtmpfs udev rw,size=8044380k,nr_inodes=502773,mode=755
25 22 0:21 / /proc rw,relatime shared:12 - proc proc rw
26 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 22 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=3321744k,mode=755
31 22 259:1 / /boot/firmware rw,relatime shared:20 - vfat /dev/nvme0n1p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro
`
	pi5nvme["sys/dev/block/259:2"] = "->../../" + nvmeDev + "/nvme0n1p2"
	pi5nvme["sys/dev/block/259:1"] = "->../../" + nvmeDev + "/nvme0n1p1"
	pi5nvme["sys/block/nvme0n1"] = "->../" + nvmeDev
	pi5nvme["sys/"+nvmeDev+"/device"] = "->../../nvme0"
	pi5nvme["sys/devices/platform/axi/1000110000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/nvme/nvme0/model"] = "Samsung SSD 980 500GB\n"
	pi5nvme["sys/devices/virtual/thermal/thermal_zone0/temp"] = "51300\n"
	pi5nvme["sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"] = "2400000\n"
	pi5nvme["sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled"] = "0\n"
	pi5nvme[".pitstop/goenv.json"] = strings.Replace(pi5nvme[".pitstop/goenv.json"], "go1.23.4", "go1.24.2", 1)
	pi5nvme[".pitstop/probes.json"] = probes(map[string]any{
		ProbeUnameMachine:                 "aarch64",
		ProbePageSize:                     16384,
		ProbeCwd:                          "/home/pi/src/hello",
		"statfs:/home/pi/go/pkg/mod":      statfs("/home/pi/go/pkg/mod", 402.5, 457.3),
		"statfs:/home/pi/.cache/go-build": statfs("/home/pi/.cache/go-build", 402.5, 457.3),
		"statfs:/tmp":                     statfs("/tmp", 402.5, 457.3),
		"statfs:/home/pi/src/hello":       statfs("/home/pi/src/hello", 402.5, 457.3),
		"fsync:/home/pi/go/pkg/mod":       fsync("/home/pi/go/pkg/mod", 1.2, 2.9),
		"fsync:/home/pi/.cache/go-build":  fsync("/home/pi/.cache/go-build", 1.1, 2.4),
		"fsync:/tmp":                      fsync("/tmp", 1.1, 2.2),
		"fsync:/home/pi/src/hello":        fsync("/home/pi/src/hello", 1.3, 3.0),
		ProbeClone3:                       sys("present", "EINVAL"),
		ProbeStatx:                        sys("present", ""),
		ProbeIOUringSetup:                 sys("present", "EFAULT"),
		ProbeNofile:                       nofileLimits{Soft: "1048576", Hard: "1048576"},
		"go.path":                         gos("/usr/local/go/bin/go"),
		"go.version:/usr/local/go/bin/go": "go version go1.24.2 linux/arm64",
		"go.latest":                       []string{"go1.24.2"},
		"lookpath:gcc":                    "/usr/bin/gcc",
		"cgo.run:gcc":                     "gcc (Debian 12.2.0-14) 12.2.0",
		"cgo.libc:glibc":                  "ldd (Debian GLIBC 2.36-9+rpt2+deb12u9) 2.36",
	})
	sysctls(pi5nvme, "2048")
	specs["pi5-nvme"] = pi5nvme

	// A Raspberry Pi 4 (4 GB) running the 64-bit kernel under a 32-bit
	// (armhf) Raspberry Pi OS userland, with Debian's Go 1.19 (/usr/bin/go)
	// first on PATH and an official Go in /usr/local/go/bin after it. No
	// sysfs get_throttled: the word comes from vcgencmd.
	const sd4 = "devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:59b4"
	pi4 := map[string]string{
		"proc/device-tree":                   "->../sys/firmware/devicetree/base",
		"sys/firmware/devicetree/base/model": "Raspberry Pi 4 Model B Rev 1.4\x00",
		"proc/cpuinfo": cpuinfo(`processor	: %d
model name	: ARMv7 Processor rev 3 (v7l)
BogoMIPS	: 108.00
Features	: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32
CPU implementer	: 0x41
CPU architecture: 7
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

`, 4, "Revision\t: c03114\nSerial\t\t: 10000000a4c7e2f1\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"),
		"proc/meminfo":              meminfo(3884164, 3322040),
		"proc/sys/kernel/osrelease": "6.6.51+rpt-rpi-v8\n",
		"proc/self":                 "->1893",
		"proc/1893/mountinfo": `21 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
22 21 0:5 / /dev rw,relatime shared:2 - devtmpfs udev rw,size=1678396k,nr_inodes=419599,mode=755
24 21 0:20 / /proc rw,relatime shared:12 - proc proc rw
25 21 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 21 0:22 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=776836k,mode=755
30 21 179:1 / /boot/firmware rw,relatime shared:20 - vfat /dev/mmcblk0p1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,errors=remount-ro
`,
		"sys/dev/block/179:2":                                  "->../../" + sd4 + "/block/mmcblk0/mmcblk0p2",
		"sys/dev/block/179:1":                                  "->../../" + sd4 + "/block/mmcblk0/mmcblk0p1",
		"sys/block/mmcblk0":                                    "->../" + sd4 + "/block/mmcblk0",
		"sys/" + sd4 + "/block/mmcblk0/device":                 "->../../../mmc0:59b4",
		"sys/" + sd4 + "/type":                                 "SD\n",
		"sys/class/thermal/thermal_zone0":                      "->../../devices/virtual/thermal/thermal_zone0",
		"sys/devices/virtual/thermal/thermal_zone0/type":       "cpu-thermal\n",
		"sys/devices/virtual/thermal/thermal_zone0/temp":       "48686\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "ondemand\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq": "1800000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq": "1800000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq": "600000\n",
		"bin":               "->usr/bin",
		"usr/bin/sh":        "->dash",
		"usr/bin/dash":      elf(1, 40, 0x05000400),
		"usr/bin/go":        "->../lib/go-1.19/bin/go",
		"etc/resolv.conf":   "# Generated by resolvconf\nnameserver 192.168.178.1\n",
		"etc/nsswitch.conf": piNsswitch,
		"var/lib/dpkg/info/golang-1.19-go:armhf.list": "/.\n/usr\n/usr/lib\n/usr/lib/go-1.19\n/usr/lib/go-1.19/bin\n/usr/lib/go-1.19/bin/go\n/usr/lib/go-1.19/bin/gofmt\n",
		"var/lib/dpkg/info/golang-go:armhf.list":      "/.\n/usr\n/usr/bin\n/usr/bin/go\n/usr/bin/gofmt\n",
		".pitstop/capture.json":                       js(CaptureInfo{Version: captureVersion, Created: time.Date(2026, 11, 21, 17, 5, 0, 0, time.UTC), GOOS: "linux", GOARCH: "arm", Source: "live"}),
		".pitstop/environ.json": js(map[string]string{
			"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin",
			"HOME": "/home/pi",
		}),
		".pitstop/goenv.json": js(map[string]string{
			"GOROOT": "/usr/lib/go-1.19", "GOPATH": "/home/pi/go", "GOBIN": "", "GOMODCACHE": "/home/pi/go/pkg/mod",
			"GOCACHE": "/home/pi/.cache/go-build", "GOTMPDIR": "", "GOENV": "/home/pi/.config/go/env",
			"GOPROXY": "http://proxy.lan:3000,direct", "GOSUMDB": "sum.golang.org", "GOPRIVATE": "", "GONOPROXY": "", "GONOSUMDB": "",
			"GOINSECURE": "", "GOFLAGS": "", "GOOS": "linux", "GOARCH": "arm", "GOARM": "6",
			"GOVERSION": "go1.19.8", "CGO_ENABLED": "1", "CC": "gcc", "CXX": "g++", "GOEXE": "",
			"GOHOSTARCH": "arm", "GOHOSTOS": "linux", "GOMOD": "/dev/null",
		}),
		".pitstop/probes.json": probes(map[string]any{
			ProbeUnameMachine:                 "aarch64",
			ProbePageSize:                     4096,
			ProbeCwd:                          "/home/pi",
			ProbeVcgencmd:                     "throttled=0x0",
			"statfs:/home/pi/go/pkg/mod":      statfs("/home/pi", 22.4, 28.9),
			"statfs:/home/pi/.cache/go-build": statfs("/home/pi/.cache/go-build", 22.4, 28.9),
			"statfs:/tmp":                     statfs("/tmp", 22.4, 28.9),
			"statfs:/home/pi":                 statfs("/home/pi", 22.4, 28.9),
			"fsync:/home/pi/go/pkg/mod":       fsync("/home/pi", 31.0, 144.8),
			"fsync:/home/pi/.cache/go-build":  fsync("/home/pi/.cache/go-build", 29.5, 97.2),
			"fsync:/tmp":                      fsync("/tmp", 30.2, 88.0),
			"fsync:/home/pi":                  fsync("/home/pi", 28.8, 90.4),
			ProbeClone3:                       sys("present", "EINVAL"),
			ProbeStatx:                        sys("present", ""),
			ProbeIOUringSetup:                 sys("present", "EFAULT"),
			ProbeNofile:                       nofileLimits{Soft: "1048576", Hard: "1048576"},
			"go.path":                         gos("/usr/bin/go -> /usr/lib/go-1.19/bin/go", "/usr/local/go/bin/go"),
			"go.version:/usr/bin/go":          "go version go1.19.8 linux/arm",
			"go.version:/usr/local/go/bin/go": "go version go1.23.4 linux/arm",
			"go.latest":                       []string{"go1.23.4"},
			"lookpath:gcc":                    "/usr/bin/gcc",
			"cgo.run:gcc":                     "gcc (Raspbian 12.2.0-14+rpi1) 12.2.0",
			"cgo.libc:glibc":                  "ldd (Debian GLIBC 2.36-9+rpt2+deb12u9) 2.36",
		}),
	}
	pi4["lib"] = "->usr/lib"
	pi4["usr/lib/ld-linux-armhf.so.3"] = "->arm-linux-gnueabihf/ld-linux-armhf.so.3"
	pi4["usr/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3"] = elf(1, 40, 0x05000400)
	pi4["usr/lib/arm-linux-gnueabihf/libc.so.6"] = elf(1, 40, 0x05000400)
	sysctls(pi4, "512")
	specs["pi4-32bit"] = pi4

	// An x86-64 Debian 12 desktop: SATA SSD, no device tree.
	const sata = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda"
	x86 := map[string]string{
		"proc/cpuinfo":              "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht\n\n",
		"proc/meminfo":              meminfo(16258904, 11034112),
		"proc/sys/kernel/osrelease": "6.1.0-28-amd64\n",
		"proc/self":                 "->30712",
		"proc/30712/mountinfo": `26 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw,errors=remount-ro
27 26 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8103984k,nr_inodes=2025996,mode=755
29 26 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 26 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
32 26 0:26 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1625892k,mode=755
60 26 8:1 / /boot/efi rw,relatime shared:30 - vfat /dev/sda1 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro
`,
		"sys/dev/block/8:2":                                    "->../../" + sata + "/sda2",
		"sys/dev/block/8:1":                                    "->../../" + sata + "/sda1",
		"sys/block/sda":                                        "->../" + sata,
		"sys/class/thermal/thermal_zone0":                      "->../../devices/virtual/thermal/thermal_zone0",
		"sys/devices/virtual/thermal/thermal_zone0/type":       "x86_pkg_temp\n",
		"sys/devices/virtual/thermal/thermal_zone0/temp":       "45000\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave\n",
		"sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq": "3400000\n",
		"bin":                   "->usr/bin",
		"usr/bin/sh":            "->dash",
		"usr/bin/dash":          elf(2, 62, 0),
		"etc/resolv.conf":       "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
		"etc/nsswitch.conf":     "passwd: files systemd\ngroup: files systemd\nhosts: files dns\n",
		".pitstop/capture.json": js(CaptureInfo{Version: captureVersion, Created: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC), GOOS: "linux", GOARCH: "amd64", Source: "live"}),
		".pitstop/environ.json": js(map[string]string{
			"PATH": "/home/ana/go/bin:/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin",
			"HOME": "/home/ana",
		}),
		".pitstop/goenv.json": js(map[string]string{
			"GOROOT": "/usr/local/go", "GOPATH": "/home/ana/go", "GOBIN": "", "GOMODCACHE": "/home/ana/go/pkg/mod",
			"GOCACHE": "/home/ana/.cache/go-build", "GOTMPDIR": "", "GOENV": "/home/ana/.config/go/env",
			"GOPROXY": "http://proxy.lan:3000,direct", "GOSUMDB": "sum.golang.org", "GOFLAGS": "", "GOTOOLCHAIN": "auto",
			"GOOS": "linux", "GOARCH": "amd64", "GOVERSION": "go1.23.4", "CGO_ENABLED": "1", "CC": "gcc", "CXX": "g++",
			"GOHOSTARCH": "amd64", "GOHOSTOS": "linux", "GOMOD": "/dev/null",
		}),
		".pitstop/probes.json": probes(map[string]any{
			ProbeUnameMachine:                  "x86_64",
			ProbePageSize:                      4096,
			ProbeCwd:                           "/home/ana/src/pi-app",
			"statfs:/home/ana/go/pkg/mod":      statfs("/home/ana/go/pkg/mod", 120.3, 233.7),
			"statfs:/home/ana/.cache/go-build": statfs("/home/ana/.cache/go-build", 120.3, 233.7),
			"statfs:/tmp":                      statfs("/tmp", 120.3, 233.7),
			"statfs:/home/ana/src/pi-app":      statfs("/home/ana/src/pi-app", 120.3, 233.7),
			"fsync:/home/ana/go/pkg/mod":       fsync("/home/ana/go/pkg/mod", 2.1, 4.0),
			"fsync:/home/ana/.cache/go-build":  fsync("/home/ana/.cache/go-build", 2.0, 3.8),
			"fsync:/tmp":                       fsync("/tmp", 2.2, 3.9),
			"fsync:/home/ana/src/pi-app":       fsync("/home/ana/src/pi-app", 2.0, 4.4),
			ProbeClone3:                        sys("present", "EINVAL"),
			ProbeStatx:                         sys("present", ""),
			ProbeIOUringSetup:                  sys("present", "EFAULT"),
			ProbeNofile:                        nofileLimits{Soft: "524288", Hard: "524288"},
			"go.path":                          gos("/usr/local/go/bin/go"),
			"go.version:/usr/local/go/bin/go":  "go version go1.23.4 linux/amd64",
			"go.latest":                        []string{"go1.23.4"},
			"lookpath:gcc":                     "/usr/bin/gcc",
			"cgo.run:gcc":                      "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
			"cgo.libc:glibc":                   "ldd (Debian GLIBC 2.36-9+deb12u9) 2.36",
		}),
	}
	x86["lib"] = "->usr/lib"
	x86["lib64"] = "->usr/lib64"
	x86["usr/lib64/ld-linux-x86-64.so.2"] = "->../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
	x86["usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"] = elf(2, 62, 0)
	x86["usr/lib/x86_64-linux-gnu/libc.so.6"] = elf(2, 62, 0)
	sysctls(x86, "512")
	specs["x86-debian"] = x86
	return specs
}

// writeSpec writes a capture spec as a tar.gz, as --capture would.
func writeSpec(files map[string]string) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.ModTime = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tw := tar.NewWriter(zw)
	mtime := zw.ModTime
	for _, n := range names {
		v := files[n]
		hdr := &tar.Header{Name: n, ModTime: mtime, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(v)), Format: tar.FormatPAX}
		if t, ok := strings.CutPrefix(v, "->"); ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.Mode = tar.TypeSymlink, t, 0, 0o777
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(v))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// TestMakeCaptures checks that the committed captures match their specs
// (and rewrites them with -update-captures).
func TestMakeCaptures(t *testing.T) {
	for name, files := range captureSpecs() {
		want := writeSpec(files)
		p := filepath.Join("testdata", name+".tar.gz")
		if *updateCaptures {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run with -update-captures)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its spec in capturespec_test.go: run go test -run TestMakeCaptures -update-captures", p)
		}
	}
}
