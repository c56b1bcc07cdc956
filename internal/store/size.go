package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a human size such as "512M", "2G", "1.5GiB", "800k" or
// "1048576" into bytes, for flags like --max-size. The suffixes K, M, G, T
// and P (any case, optionally followed by "B" or "iB") are powers of 1024,
// as in systemd and df; a bare number, or one ending in "B", is bytes.
// Fractions are allowed and rounded down to whole bytes. "0" is 0 (the
// callers' "unlimited"). Negative, overflowing or otherwise malformed input
// is a one-line error that shows the accepted form.
func ParseSize(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, fmt.Errorf("bad size %q: want bytes as a number with an optional K, M, G, T or P suffix (powers of 1024), e.g. 512M, 2G or 1.5GiB", s)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return bad()
	}
	lower := strings.ToLower(t)
	lower = strings.TrimSuffix(lower, "ib")
	if len(lower) < len(t) {
		// "iB" must follow a unit letter: "1iB" is wrong.
		if lower == "" || !strings.ContainsRune("kmgtp", rune(lower[len(lower)-1])) {
			return bad()
		}
	} else {
		lower = strings.TrimSuffix(lower, "b")
	}
	mult := int64(1)
	if n := len(lower); n > 0 {
		if i := strings.IndexByte("kmgtp", lower[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			lower = lower[:n-1]
		}
	}
	lower = strings.TrimSpace(lower)
	if lower == "" {
		return bad()
	}
	for i := 0; i < len(lower); i++ {
		if c := lower[i]; (c < '0' || c > '9') && c != '.' {
			return bad() // no signs, exponents, hex, inf or nan
		}
	}
	if !strings.Contains(lower, ".") {
		n, err := strconv.ParseInt(lower, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return bad()
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(lower, 64)
	if err != nil {
		return bad()
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return bad()
	}
	return int64(v), nil
}

// FormatSize formats n bytes for people: "512.0MiB", "2.0GiB", "900B".
func FormatSize(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= unit
		if math.Abs(f) < unit || u == "PiB" {
			return strconv.FormatFloat(f, 'f', 1, 64) + u
		}
	}
	panic("unreachable")
}
