package host

import (
	"bufio"
	"bytes"
	"math"
	"strconv"
	"strings"
)

// MemInfo reads /proc/meminfo as field name to bytes (MemTotal,
// MemAvailable, ...). Fields without a unit are counts.
func (r *Root) MemInfo() (map[string]uint64, error) {
	b, err := r.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	return ParseMemInfo(b), nil
}

// ParseMemInfo parses the text of /proc/meminfo.
func ParseMemInfo(data []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			if v > math.MaxUint64/1024 {
				delete(out, name) // nonsense (a damaged capture): not a wrapped-around number
				continue
			}
			v *= 1024
		}
		out[name] = v
	}
	return out
}
