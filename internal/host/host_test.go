package host

import (
	"os"
	"path/filepath"
	"testing"
)

const mountinfo = `22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
24 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 22 179:1 / /boot/firmware rw,relatime shared:2 - vfat /dev/mmcblk0p1 rw,fmask=0022
40 22 0:35 / /tmp rw,nosuid,nodev,noexec shared:20 - tmpfs tmpfs rw,size=4096k
41 22 259:1 / /mnt/my\040disk rw,relatime shared:21 - ext4 /dev/nvme0n1p1 rw
`

func TestParseMountinfo(t *testing.T) {
	ms, err := ParseMountinfo([]byte(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Fatalf("got %d mounts, want 5", len(ms))
	}
	if ms[4].MountPoint != "/mnt/my disk" || ms[4].Source != "/dev/nvme0n1p1" || ms[4].Major != 259 {
		t.Errorf("escaped mount: %+v", ms[4])
	}
	for _, tt := range []struct{ path, want string }{
		{"/home/pi/go/pkg/mod", "/"},
		{"/tmp", "/tmp"},
		{"/tmp/go-build1", "/tmp"},
		{"/tmpfoo", "/"},
		{"/mnt/my disk/x", "/mnt/my disk"},
	} {
		m, err := MountFor(ms, tt.path)
		if err != nil || m.MountPoint != tt.want {
			t.Errorf("MountFor(%s) = %q, %v; want %q", tt.path, m.MountPoint, err, tt.want)
		}
	}
	if !ms[3].HasOption("noexec") || ms[0].HasOption("noexec") {
		t.Error("HasOption(noexec) wrong")
	}
	if _, err := ParseMountinfo([]byte("garbage line\n")); err == nil {
		t.Error("malformed mountinfo accepted")
	}
}

func TestCapturedRoot(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(s), 0o644)
	}
	write("proc/self/mountinfo", mountinfo)
	write("proc/sys/net/core/somaxconn", "4096\n")
	write("proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n")
	write("proc/meminfo", "MemTotal:        8245940 kB\nMemAvailable:    7000000 kB\nHugePages_Total:       0\n")
	write("proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\x00")
	r := At(dir)
	if r.IsLive() {
		t.Error("capture reports live")
	}
	if v, _ := r.Sysctl("net.core.somaxconn"); v != "4096" {
		t.Errorf("somaxconn = %q", v)
	}
	if v, _ := r.Sysctl("net.ipv4.ip_local_port_range"); v != "32768 60999" {
		t.Errorf("port range = %q", v)
	}
	if s, _ := r.ReadString("/proc/device-tree/model"); s != "Raspberry Pi 5 Model B Rev 1.0" {
		t.Errorf("model = %q", s)
	}
	mi, _ := r.MemInfo()
	if mi["MemTotal"] != 8245940*1024 || mi["HugePages_Total"] != 0 {
		t.Errorf("meminfo = %v", mi)
	}
	m, err := r.MountOf("/boot/firmware/config.txt")
	if err != nil || m.FSType != "vfat" {
		t.Errorf("MountOf = %+v, %v", m, err)
	}
	if err := r.SetSysctl("net.core.somaxconn", "1"); err != ErrNotLive {
		t.Errorf("SetSysctl on capture: %v", err)
	}
	if len(r.Seen()) < 4 {
		t.Errorf("Seen = %v", r.Seen())
	}
	g, _ := r.Glob("/proc/sys/net/*/somaxconn")
	if len(g) != 1 || g[0] != "/proc/sys/net/core/somaxconn" {
		t.Errorf("Glob = %v", g)
	}
}
