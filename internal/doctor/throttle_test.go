package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
)

// TestThrottleEachBitAlone: every condition bit of the throttle word, set
// alone, gives its own name, the status its timing calls for (now: Fail,
// since boot only: Warn) and the fix its cause calls for (under-voltage:
// the power supply; anything else: cooling). The captures only hold 0x0 and
// 0x50000, where under-voltage and throttling move together.
func TestThrottleEachBitAlone(t *testing.T) {
	const power, cooler = "power supply", "cooler"
	for _, tc := range []struct {
		word   uint32
		status Status
		name   string
		fix    string
	}{
		{0x0, OK, "", ""},
		{0x1, Fail, "under-voltage", power},
		{0x2, Fail, "ARM frequency capped", cooler},
		{0x4, Fail, "throttled", cooler},
		{0x8, Fail, "soft temperature limit", cooler},
		{0x10000, Warn, "under-voltage", power},
		{0x20000, Warn, "ARM frequency capped", cooler},
		{0x40000, Warn, "throttled", cooler},
		{0x80000, Warn, "soft temperature limit", cooler},
		// Under-voltage wins the advice whenever it is there.
		{0x40001, Fail, "under-voltage", power},
		{0x10004, Fail, "throttled", power},
	} {
		t.Run(fmt.Sprintf("0x%x", tc.word), func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"proc/device-tree/model":                              "Raspberry Pi 5 Model B Rev 1.0\x00",
				"sys/devices/platform/soc/soc:firmware/get_throttled": fmt.Sprintf("%x\n", tc.word),
			}
			for p, data := range files {
				p = filepath.Join(dir, p)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := checkThrottle(context.Background(), &Env{Root: host.At(dir)})
			if r.Status != tc.status {
				t.Errorf("status %s, want %s (%s)", r.Status, tc.status, r.Finding)
			}
			if !strings.Contains(r.Finding, tc.name) || !strings.Contains(r.Finding, fmt.Sprintf("0x%x", tc.word)) {
				t.Errorf("finding %q does not name %q and the word", r.Finding, tc.name)
			}
			if tc.fix == "" && r.Fix != "" || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("fix %q, want one about the %s", r.Fix, tc.fix)
			}
			other := map[string]string{power: cooler, cooler: power}[tc.fix]
			if other != "" && strings.Contains(r.Fix, other) {
				t.Errorf("fix %q also speaks of the %s", r.Fix, other)
			}
		})
	}
}
