package host

import (
	"errors"
	"path"
	"strconv"

	"github.com/pitstop-go/pitstop/internal/units"
)

// LastLevelCache returns the size in bytes of CPU 0's largest-level data or
// unified cache, from /sys/devices/system/cpu/cpu0/cache/index*/ (level,
// type and size, "2048K", powers of 1024 as the kernel writes them).
func (r *Root) LastLevelCache() (int64, error) {
	dirs, _ := r.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	best, bestLevel := int64(0), 0
	for _, d := range dirs {
		if typ, _ := r.ReadString(path.Join(d, "type")); typ == "Instruction" {
			continue
		}
		ls, err := r.ReadString(path.Join(d, "level"))
		if err != nil {
			continue
		}
		level, err := strconv.Atoi(ls)
		if err != nil {
			continue
		}
		ss, err := r.ReadString(path.Join(d, "size"))
		if err != nil {
			continue
		}
		size, err := units.ParseSize(ss)
		if err != nil {
			continue
		}
		if level > bestLevel || level == bestLevel && size > best {
			best, bestLevel = size, level
		}
	}
	if best == 0 {
		return 0, errors.New("no cache size under /sys/devices/system/cpu/cpu0/cache")
	}
	return best, nil
}
