package store

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1": 1, "100": 100, "100B": 100, "100b": 100,
		"1K": 1024, "1k": 1024, "1KB": 1024, "1KiB": 1024, "800k": 800 << 10,
		"512M": 512 << 20, "512MB": 512 << 20, "512MiB": 512 << 20, "512m": 512 << 20,
		"2G": 2 << 30, "2g": 2 << 30, "1.5GiB": 3 << 29, "1.5G": 3 << 29, "0.5K": 512,
		"1T": 1 << 40, "8P": 8 << 50, " 2G ": 2 << 30, "2 G": 2 << 30, ".5M": 512 << 10,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "KiB", "-1", "-1G", "+1", "1X", "1.2.3", "1e9", "0x10", "inf", "NaN",
		"1iB", "99999999999999999999", "8192P", "9223372036854775807K", "1 G B", "1GG", "."} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		} else if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "512M") {
			t.Errorf("ParseSize(%q) error %q: want one line showing the accepted form", in, err)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 900: "900B", 1536: "1.5KiB", 512 << 20: "512.0MiB", 3 << 29: "1.5GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %s, want %s", n, got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "1.5GiB", "0", "-1", "1e3", "9223372036854775807", "8191.99999P", "1KB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q", s)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		// What FormatSize prints parses back to within rounding (below
		// 1 EiB, where its one decimal cannot overflow).
		if n >= 1<<60 {
			return
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil {
			t.Fatalf("ParseSize(FormatSize(%d) = %q): %v", n, FormatSize(n), err)
		}
		if d := back - n; d > n/10+1 || d < -(n/10+1) {
			t.Fatalf("round trip of %d gave %d", n, back)
		}
	})
}
