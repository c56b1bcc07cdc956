package units

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1": 1, "100": 100, "100B": 100, "100b": 100, " 8M ": 8 << 20,
		"1K": 1024, "1k": 1024, "1KB": 1024, "1KiB": 1024, "1kib": 1024, "800k": 800 << 10, "4K": 4096,
		"512M": 512 << 20, "512MB": 512 << 20, "512MiB": 512 << 20, "512m": 512 << 20, "64MB": 64 << 20,
		"2G": 2 << 30, "2g": 2 << 30, "1.5GiB": 3 << 29, "1.5G": 3 << 29, "0.5K": 512, "0.5M": 512 << 10,
		"1T": 1 << 40, "8P": 8 << 50, "1E": 1 << 60, "7E": 7 << 60, " 2G ": 2 << 30, "2 G": 2 << 30,
		".5M": 512 << 10, "5.M": 5 << 20, "007K": 7 << 10, "1.5B": 1, "0.1": 0, "0.0009K": 0,
		// The kernel's tmpfs option (size=524288k) and wrk's output (1.50MB) read the same way.
		"524288k": 512 << 20, "1.50MB": 3 << 19,
		"9223372036854775807": math.MaxInt64, "8191P": 8191 << 50,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	for in, problem := range map[string]string{
		"":                     "empty",
		"  ":                   "empty",
		"G":                    "no number",
		"KiB":                  "no number",
		".":                    "no number",
		"inf":                  "no number",
		"NaN":                  "no number",
		"lots":                 "no number",
		"-1":                   "no sign",
		"-1G":                  "no sign",
		"+1":                   "no sign",
		"1X":                   `unknown unit "X"`,
		"12Q":                  `unknown unit "Q"`,
		"1e9":                  `unknown unit "e9"`,
		"0x10":                 `unknown unit "x10"`,
		"1 G B":                `unknown unit "G B"`,
		"1GG":                  `unknown unit "GG"`,
		"1MiBs":                `unknown unit "MiBs"`,
		"1.2.3":                `"1.2.3" is not a number`,
		"1..2G":                `"1..2" is not a number`,
		"1iB":                  `"iB" needs a unit letter`,
		"99999999999999999999": "too large",
		"8192P":                "too large",
		"8E":                   "too large",
		"9223372036854775808":  "too large",
		"9223372036854775807K": "too large",
	} {
		got, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			continue
		}
		var se *SizeError
		if !errors.As(err, &se) || se.Input != in {
			t.Errorf("ParseSize(%q) error %#v: want a *SizeError with the input", in, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, problem) {
			t.Errorf("ParseSize(%q) error %q: want it to say %q", in, msg, problem)
		}
		// One line that quotes the input and shows the accepted form.
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "bad size "+quote(in)) || !strings.Contains(msg, "K, M, G, T, P or E") || !strings.Contains(msg, "512M") {
			t.Errorf("ParseSize(%q) error %q: want one line quoting the input and showing the accepted form", in, msg)
		}
	}
}

func quote(s string) string { return `"` + s + `"` }

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 1: "1", 100: "100", 1023: "1023", 100000: "100000", 1024: "1K", 1536: "1536", 1536 << 10: "1536K",
		512 << 20: "512M", 3 << 29: "1536M", 2 << 30: "2G", 1 << 40: "1T", 5 << 50: "5P", 1 << 60: "1E",
		7 << 60: "7E", (1 << 30) + 1: "1073741825", math.MaxInt64: "9223372036854775807", -5: "-5",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 900: "900 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		31<<20 + 512<<10: "31.5 MiB", 512 << 20: "512 MiB", 3 << 29: "1.5 GiB",
		1<<20 - 1:       "1 MiB", // 1023.999 KiB would round to "1024.0 KiB"
		1<<30 - 100<<10: "1023.9 MiB", 1<<20 + 51: "1 MiB", 1 << 40: "1 TiB", 1 << 50: "1 PiB", 1 << 60: "1 EiB",
		math.MaxInt64: "8 EiB", -1536: "-1.5 KiB", math.MinInt64: "-8 EiB",
	} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
	// Unsigned counts (/proc/meminfo, statfs) and ints print alike.
	if got := HumanSize(uint64(math.MaxUint64)); got != "16 EiB" {
		t.Errorf("HumanSize(MaxUint64) = %q, want 16 EiB", got)
	}
	if got := HumanSize(uint64(3 << 29)); got != "1.5 GiB" {
		t.Errorf("HumanSize(uint64(3<<29)) = %q, want 1.5 GiB", got)
	}
	if got := HumanSize(-1536); got != "-1.5 KiB" {
		t.Errorf("HumanSize(int(-1536)) = %q, want -1.5 KiB", got)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "1.5GiB", "0", "-1", "1e3", "9223372036854775807", "8191.99999P",
		"1KB", "64MiB", "2g", " 8M ", "1iB", "0x10M", "NaN", "1..2G", "524288k", ".5E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error for %q: %v", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		// The exact form reads back to the same number.
		exact := FormatSize(n)
		if back, err := ParseSize(exact); err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, printed %q, which reads back as %d, %v", s, n, exact, back, err)
		}
		// The human form reads back to within its rounding: half a tenth
		// of its unit, so at most n/20 (below "8 EiB", which is 8E,
		// too large to read).
		if n > math.MaxInt64-(1<<60)/20 {
			return
		}
		human := HumanSize(n)
		back, err := ParseSize(human)
		if err != nil {
			t.Fatalf("ParseSize(HumanSize(%d) = %q): %v", n, human, err)
		}
		if d := back - n; d > n/20+1 || d < -(n/20+1) {
			t.Fatalf("HumanSize(%d) = %q reads back as %d", n, human, back)
		}
	})
}
