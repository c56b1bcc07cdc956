package ramdisk

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a size such as "512M", "2G", "1.5G", "64MiB" or "1048576"
// (bytes). Suffixes K, M, G, T are powers of 1024 (as tmpfs's size= option
// reads them); a trailing "B" or "iB" is allowed.
//
// internal/store had no ParseSize when this was written; this small one
// serves the ramdisk's flags and config file.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "IB")
	if strings.HasSuffix(u, "B") && len(u) > 1 && (u[len(u)-2] < '0' || u[len(u)-2] > '9') {
		u = u[:len(u)-1]
	} else {
		u = strings.TrimSuffix(u, "B")
	}
	mult := uint64(1)
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			u = u[:n-1]
		}
	}
	if u == "" || strings.Trim(u, "0123456789.") != "" {
		return 0, fmt.Errorf("invalid size %q: want a number with an optional K, M, G or T suffix, e.g. 512M or 2G", s)
	}
	v, err := strconv.ParseFloat(u, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid size %q: want a positive number with an optional K, M, G or T suffix, e.g. 512M or 2G", s)
	}
	b := v * float64(mult)
	if b > 1<<60 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	if b < 1 {
		return 0, fmt.Errorf("invalid size %q: less than one byte", s)
	}
	return uint64(b), nil
}

// FormatSize prints n bytes the way ParseSize reads them, exactly when it
// can (512M, 2G), else with one decimal (1.5G).
func FormatSize(n uint64) string {
	units := []struct {
		suffix string
		v      uint64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}
	for _, u := range units {
		if n >= u.v {
			if n%u.v == 0 {
				return fmt.Sprintf("%d%s", n/u.v, u.suffix)
			}
			return strconv.FormatFloat(float64(n)/float64(u.v), 'f', 1, 64) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
