package toolchain

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressBarSpeedAndETA: a steady 1 MiB/s download of 10 MiB shows
// its speed and the time left; the line ends once.
func TestProgressBarSpeedAndETA(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1_000_000, 0)
	progress, done := progressBar(&out, "  ", func() time.Time { return clock })
	const mib = 1 << 20
	for i := int64(0); i <= 4; i++ {
		progress(i*mib, 10*mib)
		clock = clock.Add(time.Second)
	}
	done()
	lines := strings.Split(out.String(), "\r")
	lastLine := lines[len(lines)-1]
	for _, want := range []string{"4 MiB / 10 MiB", "  1 MiB/s", "6s left"} {
		if !strings.Contains(lastLine, want) {
			t.Errorf("last line %q lacks %q", lastLine, want)
		}
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("%q: want one newline at the end", out.String())
	}
	if strings.Contains(lines[1], "/s") {
		t.Errorf("first line %q shows a speed from one sample", lines[1])
	}
}

func TestETA(t *testing.T) {
	for d, want := range map[time.Duration]string{42 * time.Second: "42s", 185 * time.Second: "3m05s", 3720 * time.Second: "1h02m"} {
		if got := eta(d); got != want {
			t.Errorf("eta(%v) = %q, want %q", d, got, want)
		}
	}
}
