package ramdisk

import (
	"fmt"
	"strconv"

	"github.com/pitstop-go/pitstop/internal/store"
)

// ParseSize reads a RAM disk size such as "512M", "2G", "1.5G" or "64MiB"
// (store.ParseSize's syntax: powers of 1024) and refuses zero.
func ParseSize(s string) (uint64, error) {
	n, err := store.ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > 1<<60 {
		return 0, fmt.Errorf("bad size %q: want more than 0 and at most 1E (e.g. 512M or 2G)", s)
	}
	return uint64(n), nil
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
	return strconv.FormatUint(n, 10) + "B"
}
