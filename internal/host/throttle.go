package host

import (
	"fmt"
	"strconv"
	"strings"
)

// Throttle is the firmware's throttle word, as `vcgencmd get_throttled`
// prints it (throttled=0x50000): bits 0–3 are conditions now, bits 16–19 the
// same conditions since boot.
type Throttle uint32

// The four conditions, as bit positions in the low half of a Throttle.
const (
	UnderVoltage  Throttle = 1 << 0
	FreqCapped    Throttle = 1 << 1
	Throttled     Throttle = 1 << 2
	SoftTempLimit Throttle = 1 << 3
)

var throttleNames = []struct {
	bit  Throttle
	name string
}{
	{UnderVoltage, "under-voltage"},
	{FreqCapped, "ARM frequency capped"},
	{Throttled, "throttled"},
	{SoftTempLimit, "soft temperature limit"},
}

// ParseThrottle parses "throttled=0x50000" (vcgencmd), "50000" (the sysfs
// get_throttled file, hex without 0x) or "0x50000".
func ParseThrottle(s string) (Throttle, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "throttled=")
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" {
		return 0, fmt.Errorf("throttle word %q: empty", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("throttle word %q: not hex", s)
	}
	return Throttle(v), nil
}

func (t Throttle) names(shift uint) []string {
	var out []string
	for _, n := range throttleNames {
		if t&(n.bit<<shift) != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Now lists the conditions present now.
func (t Throttle) Now() []string { return t.names(0) }

// Occurred lists the conditions that have occurred since boot.
func (t Throttle) Occurred() []string { return t.names(16) }

// Has reports whether condition c (one of the constants) is present now.
func (t Throttle) Has(c Throttle) bool { return t&c != 0 }

// HasOccurred reports whether condition c has occurred since boot.
func (t Throttle) HasOccurred(c Throttle) bool { return t&(c<<16) != 0 }

// String prints the word as vcgencmd does.
func (t Throttle) String() string { return fmt.Sprintf("0x%x", uint32(t)) }

// ThrottleGlobs are where the firmware platform device's get_throttled file
// may sit (soc:firmware on a Pi 4; the path differs on a Pi 5).
var ThrottleGlobs = []string{
	"/sys/devices/platform/*firmware*/get_throttled",
	"/sys/devices/platform/*/*firmware*/get_throttled",
	"/sys/devices/platform/*/*/*firmware*/get_throttled",
	"/sys/devices/platform/*/*/*/*firmware*/get_throttled",
}

// ThrottleSysfs reads the throttle word from sysfs, without vcgencmd, and
// returns the file it read.
func (r *Root) ThrottleSysfs() (Throttle, string, error) {
	for _, g := range ThrottleGlobs {
		ms, _ := r.Glob(g)
		for _, p := range ms {
			s, err := r.ReadString(p)
			if err != nil {
				continue
			}
			t, err := ParseThrottle(s)
			if err != nil {
				return 0, p, fmt.Errorf("%s: %w", p, err)
			}
			return t, p, nil
		}
	}
	return 0, "", fmt.Errorf("no get_throttled file under /sys/devices/platform")
}
