package host

import "testing"

// TestThrottleNames: each bit alone names one condition, now or since boot.
func TestThrottleNames(t *testing.T) {
	names := []string{"under-voltage", "ARM frequency capped", "throttled", "soft temperature limit"}
	for i, name := range names {
		bit := Throttle(1) << i
		if now, since := bit.Now(), bit.Occurred(); len(now) != 1 || now[0] != name || len(since) != 0 {
			t.Errorf("0x%x: now %q, since boot %q; want now [%s]", uint32(bit), now, since, name)
		}
		if now, since := (bit << 16).Now(), (bit << 16).Occurred(); len(since) != 1 || since[0] != name || len(now) != 0 {
			t.Errorf("0x%x: now %q, since boot %q; want since boot [%s]", uint32(bit<<16), now, since, name)
		}
	}
}
