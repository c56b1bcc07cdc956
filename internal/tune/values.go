package tune

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// fold folds runs of white space to one space, as host.Root.Sysctl does.
func fold(v string) string { return strings.Join(strings.Fields(v), " ") }

// Target is the value to write given the current value: Value, or for an
// AtLeast setting the larger of the two, field by field.
func (s Setting) Target(current string) string {
	if !s.AtLeast {
		return s.Value
	}
	want, err1 := numbers(s.Value)
	have, err2 := numbers(current)
	if err1 != nil || err2 != nil || len(want) != len(have) {
		return s.Value
	}
	f := make([]string, len(want))
	for i := range want {
		f[i] = strconv.FormatInt(max(want[i], have[i]), 10)
	}
	return strings.Join(f, " ")
}

// Satisfied reports whether current already meets the setting: equal to
// Value, or for AtLeast no field below it.
func (s Setting) Satisfied(current string) bool {
	current = fold(current)
	return current == fold(s.Target(current))
}

// bound is an inclusive range for one field of a value.
type bound struct{ min, max int64 }

const maxInt = math.MaxInt32

// ranges are the ranges pitstop checks before writing, per field (one
// bound applies to every field). They are the kernel's own where it has
// one and the meaningful range where it accepts anything (such as 0/1
// switches); a value the kernel still refuses (EINVAL) rolls back.
var ranges = map[string][]bound{
	"net.core.somaxconn":                 {{0, maxInt}},
	"net.ipv4.tcp_max_syn_backlog":       {{1, maxInt}},
	"net.ipv4.tcp_slow_start_after_idle": {{0, 1}},
	"net.ipv4.ip_local_port_range":       {{1, 65535}},
	"net.ipv4.tcp_fin_timeout":           {{0, 2147483}},
	"net.core.rmem_max":                  {{4096, maxInt}},
	"net.core.wmem_max":                  {{4096, maxInt}},
	"net.ipv4.tcp_rmem":                  {{1, maxInt}},
	"net.ipv4.tcp_wmem":                  {{1, maxInt}},
	"vm.swappiness":                      {{0, 200}},
	"vm.dirty_ratio":                     {{0, 100}},
	"vm.dirty_background_ratio":          {{0, 100}},
	"vm.dirty_bytes":                     {{0, math.MaxInt64}}, // min: 2 pages, checked below
	"vm.dirty_background_bytes":          {{1, math.MaxInt64}},
	"vm.dirty_expire_centisecs":          {{0, maxInt}},
	"vm.dirty_writeback_centisecs":       {{0, maxInt}},
	"vm.vfs_cache_pressure":              {{0, maxInt}},
	"fs.nr_open":                         {{64, 2147483584}},
	"fs.file-max":                        {{0, math.MaxInt64}},
}

// linked are sysctls the kernel keeps in pairs: writing one of them
// zeroes the other, so apply records both and revert restores the one that
// was not zero.
var linked = map[string]string{
	"vm.dirty_bytes":            "vm.dirty_ratio",
	"vm.dirty_ratio":            "vm.dirty_bytes",
	"vm.dirty_background_bytes": "vm.dirty_background_ratio",
	"vm.dirty_background_ratio": "vm.dirty_background_bytes",
}

// checkValue validates target for key given the current value; get reads
// another sysctl (for cross-key rules).
func checkValue(key, target, current string, get func(string) (string, error)) error {
	have, err := numbers(current)
	if err != nil {
		// A text sysctl (tcp_congestion_control, ...): the kernel decides.
		if fold(target) == "" {
			return fmt.Errorf("%s: empty value", key)
		}
		return nil
	}
	want, err := numbers(target)
	if err != nil {
		return fmt.Errorf("%s = %q: want %d number(s) like its current value %q", key, target, len(have), current)
	}
	if len(want) != len(have) {
		return fmt.Errorf("%s = %q: want %d number(s) like its current value %q", key, target, len(have), current)
	}
	if bs, ok := ranges[key]; ok {
		for i, n := range want {
			b := bs[min(i, len(bs)-1)]
			if n < b.min || n > b.max {
				return fmt.Errorf("%s = %q: %d is out of range %d..%d", key, target, n, b.min, b.max)
			}
		}
	}
	switch key {
	case "net.ipv4.ip_local_port_range":
		if want[0] > want[1] {
			return fmt.Errorf("%s = %q: the first port is above the last", key, target)
		}
		if v, err := get("net.ipv4.ip_unprivileged_port_start"); err == nil {
			if start, err := strconv.ParseInt(v, 10, 64); err == nil && want[0] < start {
				return fmt.Errorf("%s = %q: the kernel wants the first port at or above net.ipv4.ip_unprivileged_port_start (%d)", key, target, start)
			}
		}
	case "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem":
		if want[0] > want[1] || want[1] > want[2] {
			return fmt.Errorf("%s = %q: want min <= default <= max", key, target)
		}
	case "vm.dirty_bytes":
		if p := int64(2 * os.Getpagesize()); want[0] < p {
			return fmt.Errorf("%s = %q: the kernel's minimum is two pages (%d); to go back to a ratio set vm.dirty_ratio instead", key, target, p)
		}
	}
	return nil
}
