// Package units reads and prints byte sizes one way for every command.
//
// ParseSize reads what people and config files write ("512M", "1.5GiB",
// "800k", "1048576"). A size is printed in one of two forms: FormatSize is
// exact and reads back through ParseSize to the same number ("512M",
// "1536K", "100000"), for config files and values a user may type back;
// HumanSize is for reading ("31.5 MiB", "2 GiB"), for everything else
// printed to people.
package units

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// unitLetters are the size suffixes, each 1024 times the one before.
const unitLetters = "kmgtpe"

// accepted describes ParseSize's grammar in its errors.
const accepted = "want bytes as a number with an optional K, M, G, T, P or E suffix " +
	"(powers of 1024, optionally followed by B or iB), e.g. 512M, 2G or 1.5GiB"

// A SizeError reports a size ParseSize rejects: the input, what was wrong
// with it, and the accepted form.
type SizeError struct {
	Input   string // the text as given
	Problem string // what is wrong, e.g. `unknown unit "X"`
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("bad size %q: %s; %s", e.Input, e.Problem, accepted)
}

// ParseSize reads a size such as "512M", "2G", "1.5GiB", "800k", "64MB" or
// "1048576" as bytes. The suffixes K, M, G, T, P and E, in any case and
// optionally followed by "B" or "iB", are powers of 1024, as in systemd,
// df and the kernel's tmpfs options; a bare number, or one followed only
// by "B", is bytes. Space may stand between the number and the unit.
// Fractions are rounded down to whole bytes ("0.5K" is 512, "0.1" is 0).
// Signs, exponents, hexadecimal and sizes of 8E or more are refused with a
// *SizeError.
func ParseSize(s string) (int64, error) {
	bad := func(format string, args ...any) (int64, error) {
		return 0, &SizeError{Input: s, Problem: fmt.Sprintf(format, args...)}
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return bad("empty")
	}
	if t[0] == '-' || t[0] == '+' {
		return bad("no sign allowed (sizes are 0 or more)")
	}
	end := 0
	for end < len(t) && (t[end] >= '0' && t[end] <= '9' || t[end] == '.') {
		end++
	}
	num, unit := t[:end], strings.TrimSpace(t[end:])
	if strings.Trim(num, ".") == "" {
		return bad("no number")
	}
	if strings.Count(num, ".") > 1 {
		return bad("%q is not a number", num)
	}
	mult, ok := unitMultiplier(unit)
	if !ok {
		if strings.EqualFold(unit, "ib") {
			return bad(`"iB" needs a unit letter before it, as in KiB or MiB`)
		}
		return bad("unknown unit %q", unit)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return bad("%q is not a number", num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // rounds toward zero: down, as r >= 0
	if !n.IsInt64() {
		return bad("too large (the most is 9223372036854775807 bytes, just under 8E)")
	}
	return n.Int64(), nil
}

// unitMultiplier returns the bytes in one unit ("", "B", "K", "KB",
// "KiB", ... in any case).
func unitMultiplier(unit string) (int64, bool) {
	u := strings.ToLower(unit)
	if u == "" || u == "b" {
		return 1, true
	}
	i := strings.IndexByte(unitLetters, u[0])
	if i < 0 {
		return 0, false
	}
	switch u[1:] {
	case "", "b", "ib":
		return 1 << (10 * (i + 1)), true
	}
	return 0, false
}

// FormatSize prints n exactly, in the largest unit that divides it, so that
// ParseSize reads back n: "512M", "2G", "1536K", "1E"; a size that no unit
// divides is bare bytes ("100000", "0"). A negative n, which ParseSize
// refuses, is printed as a bare number.
func FormatSize(n int64) string {
	if n > 0 {
		for i := len(unitLetters) - 1; i >= 0; i-- {
			if m := int64(1) << (10 * (i + 1)); n%m == 0 {
				return strconv.FormatInt(n/m, 10) + strings.ToUpper(unitLetters[i:i+1])
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// HumanSize prints n bytes for people: at most one decimal, in the largest
// binary unit that keeps the number under 1024: "900 B", "1.5 KiB",
// "31.5 MiB", "512 MiB", "2 GiB". ParseSize reads it back to within the
// rounding of that decimal.
func HumanSize[N ~int | ~int64 | ~uint64](n N) string {
	if n < 0 {
		return "-" + humanSize(uint64(-int64(n))) // -MinInt64 wraps to MinInt64, which uint64 reads as 1<<63
	}
	return humanSize(uint64(n))
}

func humanSize(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	f, i := float64(n)/1024, 0
	// Move up a unit when the one decimal would round to 1024.0.
	for f >= 1023.95 && i < len(unitLetters)-1 {
		f /= 1024
		i++
	}
	v := strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
	return v + " " + strings.ToUpper(unitLetters[i:i+1]) + "iB"
}
