package host

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// /proc/meminfo and mountinfo come from captures (doctor --root), which are
// bug reports from other machines: untrusted input.

func FuzzParseMemInfo(f *testing.F) {
	f.Add("MemTotal:        8052720 kB\nMemAvailable:    6000000 kB\nHugePages_Total:       0\n")
	f.Add("MemTotal: 18446744073709551615 kB\n")
	f.Add("MemTotal:18014398509481984 kB\nSwapTotal: 1\n")
	f.Add(":\n: 1 kB\nx:\n")
	f.Fuzz(func(t *testing.T, s string) {
		got := ParseMemInfo([]byte(s))
		// Every value is what its line says: N, or N*1024 for "N kB"
		// (a value that would overflow is dropped, not wrapped).
		want := map[string]uint64{}
		for _, line := range strings.Split(s, "\n") {
			if len(line) > 60000 {
				return // past bufio.Scanner's line limit
			}
			line = strings.TrimSuffix(line, "\r") // as bufio.ScanLines does
			name, rest, ok := strings.Cut(line, ":")
			fl := strings.Fields(rest)
			if !ok || len(fl) == 0 {
				continue
			}
			v, err := strconv.ParseUint(fl[0], 10, 64)
			if err != nil {
				continue
			}
			if len(fl) > 1 && fl[1] == "kB" {
				if v > math.MaxUint64/1024 {
					delete(want, name)
					continue
				}
				v *= 1024
			}
			want[name] = v
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ParseMemInfo(%q) = %v, want %v", s, got, want)
		}
	})
}

func TestParseMemInfoOverflow(t *testing.T) {
	got := ParseMemInfo([]byte("MemTotal: 18446744073709551615 kB\nMemAvailable: 4 kB\n"))
	if v, ok := got["MemTotal"]; ok {
		t.Errorf("MemTotal of 2^64-1 kB parsed as %d (wrapped around)", v)
	}
	if got["MemAvailable"] != 4096 {
		t.Errorf("MemAvailable = %d, want 4096", got["MemAvailable"])
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add("22 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw\n")
	f.Add("36 22 0:32 / /home/pi/go\\040pkg rw - tmpfs tmpfs rw,size=65536k\n")
	f.Add("1 2 3 4 5 6 - \n")
	f.Add("a b c:d / / rw - x y\n")
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMountinfo([]byte(s))
		if err != nil {
			if ms != nil {
				t.Errorf("error %v with %d mounts", err, len(ms))
			}
			return
		}
		lines := 0
		for _, l := range strings.Split(s, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(ms) > lines {
			t.Errorf("%d mounts from %d lines", len(ms), lines)
		}
		for _, m := range ms {
			if m.MountPoint == "" || m.FSType == "" || m.Source == "" || m.Root == "" {
				t.Errorf("mount with an empty field: %+v", m)
			}
		}
	})
}
