package host

import (
	"testing"
)

const pi5Mountinfo = `23 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw
24 23 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 23 179:1 / /boot/firmware rw,relatime shared:2 - vfat /dev/mmcblk0p1 rw,fmask=0022
40 23 0:35 / /tmp rw,nosuid,nodev shared:20 - tmpfs tmpfs rw,size=4096k
41 23 259:2 / /srv rw,relatime shared:21 - ext4 /dev/nvme0n1p2 rw
42 23 8:1 / /media/usb rw,relatime shared:22 - ext4 /dev/sda1 rw
43 23 0:50 / /mnt/nas rw,relatime shared:23 - nfs4 nas:/export rw,vers=4.2
44 40 0:36 / /run/pitstop/ramdisk rw,relatime shared:24 - tmpfs tmpfs rw,size=1048576k
45 23 0:37 / /home/pi/.cache/go-build rw,relatime shared:25 - overlay overlay rw,lowerdir=/home/pi/.cache/go-build,upperdir=/run/pitstop/ramdisk/gocache/upper,workdir=/run/pitstop/ramdisk/gocache/work
46 23 0:38 / /var/lib/emmc rw,relatime shared:26 - ext4 /dev/root rw
`

func TestStorageOf(t *testing.T) {
	dir := t.TempDir()
	const mmc = "../../devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0"
	tree(t, dir, map[string]string{
		"proc/self/mountinfo": pi5Mountinfo,
		"sys/dev/block/179:2": "->" + mmc + "/mmcblk0p2",
		"sys/dev/block/179:1": "->" + mmc + "/mmcblk0p1",
		"sys/block/mmcblk0":   "->../devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0",
		"sys/devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/device":    "->../../../mmc0:aaaa",
		"sys/devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/type":                    "SD\n",
		"sys/devices/platform/axi/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0/mmcblk0p2": "",
		"sys/dev/block/259:2": "->../../devices/platform/axi/1000110000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/nvme/nvme0/nvme0n1/nvme0n1p2",
		"sys/dev/block/8:1":   "->../../devices/platform/axi/1000120000.pcie/1f00200000.usb/xhci-hcd.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda/sda1",
		// /dev/root with an unknown major:minor resolves by name.
		"sys/class/block/root": "->../../devices/platform/soc/fe340000.mmc/mmc_host/mmc1/mmc1:0001/block/mmcblk1",
		"sys/block/mmcblk1":    "->../devices/platform/soc/fe340000.mmc/mmc_host/mmc1/mmc1:0001/block/mmcblk1",
		"sys/devices/platform/soc/fe340000.mmc/mmc_host/mmc1/mmc1:0001/block/mmcblk1/device": "->../../../mmc1:0001",
		"sys/devices/platform/soc/fe340000.mmc/mmc_host/mmc1/mmc1:0001/type":                 "MMC\n",
	})
	r := At(dir)
	for _, tt := range []struct {
		path  string
		class DeviceClass
		disk  string
	}{
		{"/home/pi/go/pkg/mod", MicroSD, "mmcblk0"},
		{"/boot/firmware/config.txt", MicroSD, "mmcblk0"},
		{"/tmp/go-build123", Tmpfs, ""},
		{"/srv/app", NVMe, "nvme0n1"},
		{"/media/usb/go", USB, "sda"},
		{"/mnt/nas/src", Network, ""},
		{"/var/lib/emmc/x", EMMC, "mmcblk1"},
		{"/proc/self", Other, ""},
	} {
		s, err := r.StorageOf(tt.path)
		if err != nil || s.Class != tt.class || s.Disk != tt.disk {
			t.Errorf("StorageOf(%s) = %s %q, %v; want %s %q", tt.path, s.Class, s.Disk, err, tt.class, tt.disk)
		}
	}
	s, err := r.StorageOf("/home/pi/.cache/go-build/ab")
	if err != nil || s.Class != Overlay || s.Overlay == nil {
		t.Fatalf("overlay: %+v, %v", s, err)
	}
	if !s.Overlay.UpperOnTmpfs() || s.Overlay.Upper != "/run/pitstop/ramdisk/gocache/upper" || len(s.Overlay.Lower) != 1 {
		t.Errorf("overlay info = %+v", s.Overlay)
	}
}

func TestClassifyDisk(t *testing.T) {
	for _, tt := range []struct {
		disk, sys, typ string
		want           DeviceClass
	}{
		{"mmcblk0", "/sys/devices/platform/soc@107c000000/1000fff000.mmc/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0", "SD", MicroSD},
		{"mmcblk0", "/sys/devices/x/mmc_host/mmc0/block/mmcblk0", "MMC", EMMC},
		{"mmcblk0", "/sys/devices/x/mmc_host/mmc0/block/mmcblk0", "", MicroSD},
		{"nvme0n1", "/sys/devices/pci/nvme/nvme0/nvme0n1", "", NVMe},
		{"sda", "/sys/devices/pcie/usb1/1-1/host0/block/sda", "", USB},
		{"sda", "/sys/devices/pci0000:00/ata1/host0/block/sda", "", Other},
		{"vda", "/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "", Other},
		{"zram0", "/sys/devices/virtual/block/zram0", "", Other},
	} {
		if got := ClassifyDisk(tt.disk, tt.sys, tt.typ); got != tt.want {
			t.Errorf("ClassifyDisk(%s, %s, %q) = %s, want %s", tt.disk, tt.sys, tt.typ, got, tt.want)
		}
	}
	if d, dir, ok := DiskFromSysPath("/sys/devices/a/block/mmcblk0/mmcblk0p2"); !ok || d != "mmcblk0" || dir != "/sys/devices/a/block/mmcblk0" {
		t.Errorf("DiskFromSysPath = %s %s %v", d, dir, ok)
	}
	if _, _, ok := DiskFromSysPath("/sys/devices/virtual/net/lo"); ok {
		t.Error("DiskFromSysPath found a disk in a non-block path")
	}
}

// TestStorageOfLive classifies the real root filesystem: it must not fail.
func TestStorageOfLive(t *testing.T) {
	s, err := Live().StorageOf("/")
	if err != nil {
		t.Fatal(err)
	}
	if s.Class == "" || s.Mount.MountPoint != "/" {
		t.Errorf("live / = %+v", s)
	}
	t.Logf("live / is %s (%s, %s)", s.Class, s.Disk, s.Mount.FSType)
}
