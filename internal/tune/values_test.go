package tune

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestTargetAndSatisfied(t *testing.T) {
	for _, tt := range []struct {
		s       Setting
		current string
		target  string
		ok      bool
	}{
		{Setting{Value: "0"}, "1", "0", false},
		{Setting{Value: "0"}, "0", "0", true},
		{Setting{Value: "10240 65535"}, "10240\t65535", "10240 65535", true},
		{Setting{Value: "8192", AtLeast: true}, "4096", "8192", false},
		{Setting{Value: "8192", AtLeast: true}, "16384", "16384", true},
		{Setting{Value: "4096 131072 16777216", AtLeast: true}, "4096 131072 33554432", "4096 131072 33554432", true},
		{Setting{Value: "4096 131072 16777216", AtLeast: true}, "4096 87380 6291456", "4096 131072 16777216", false},
		{Setting{Value: "4096 131072 16777216", AtLeast: true}, "oops", "4096 131072 16777216", false},
	} {
		if got := tt.s.Target(tt.current); got != tt.target {
			t.Errorf("%v.Target(%q) = %q, want %q", tt.s, tt.current, got, tt.target)
		}
		if got := tt.s.Satisfied(tt.current); got != tt.ok {
			t.Errorf("%v.Satisfied(%q) = %v, want %v", tt.s, tt.current, got, tt.ok)
		}
	}
}

func TestCheckValue(t *testing.T) {
	get := func(k string) (string, error) {
		if k == "net.ipv4.ip_unprivileged_port_start" {
			return "1024", nil
		}
		return "", fmt.Errorf("no %s", k)
	}
	page := 2 * os.Getpagesize()
	for _, tt := range []struct{ key, target, current, want string }{
		{"net.core.somaxconn", "8192", "4096", ""},
		{"net.core.somaxconn", "-1", "4096", "out of range 0..2147483647"},
		{"net.core.somaxconn", "lots", "4096", "want 1 number(s)"},
		{"net.ipv4.tcp_slow_start_after_idle", "2", "1", "out of range 0..1"},
		{"net.ipv4.ip_local_port_range", "10240 65535", "32768 60999", ""},
		{"net.ipv4.ip_local_port_range", "10240", "32768 60999", "want 2 number(s)"},
		{"net.ipv4.ip_local_port_range", "60000 1024", "32768 60999", "first port is above the last"},
		{"net.ipv4.ip_local_port_range", "1000 65535", "32768 60999", "ip_unprivileged_port_start (1024)"},
		{"net.ipv4.ip_local_port_range", "2048 65536", "32768 60999", "out of range 1..65535"},
		{"net.ipv4.tcp_rmem", "4096 131072 1024", "4096 131072 6291456", "min <= default <= max"},
		{"vm.swappiness", "201", "60", "out of range 0..200"},
		{"vm.dirty_bytes", "0", "0", fmt.Sprintf("two pages (%d)", page)},
		{"vm.dirty_bytes", fmt.Sprint(page), "0", ""},
		{"net.ipv4.tcp_congestion_control", "bbr", "cubic", ""},
		{"net.ipv4.tcp_syn_retries", "300", "6", ""}, // no known range: the kernel decides
	} {
		err := checkValue(tt.key, tt.target, tt.current, get)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s=%s: %v", tt.key, tt.target, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s=%s: %v, want error containing %q", tt.key, tt.target, err, tt.want)
		case err != nil && !strings.HasPrefix(err.Error(), tt.key):
			t.Errorf("error does not start with the key: %v", err)
		}
	}
}

func TestOrderForRestore(t *testing.T) {
	keys := func(rs []Recorded) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Key+"="+r.Previous)
		}
		return strings.Join(s, " ")
	}
	// Ratios were in use: restore the ratios (the kernel zeroes the bytes).
	got := keys(orderForRestore([]Recorded{
		{Key: "vm.dirty_bytes", Previous: "0", Applied: "67108864"},
		{Key: "vm.swappiness", Previous: "60", Applied: "150"},
		{Key: "vm.dirty_ratio", Previous: "20"},
	}))
	if got != "vm.dirty_ratio=20 vm.swappiness=60" {
		t.Errorf("ratio in use: %s", got)
	}
	// Bytes were in use: restore the bytes.
	got = keys(orderForRestore([]Recorded{
		{Key: "vm.dirty_ratio", Previous: "0", Applied: "20"},
		{Key: "vm.dirty_bytes", Previous: "33554432"},
	}))
	if got != "vm.dirty_bytes=33554432" {
		t.Errorf("bytes in use: %s", got)
	}
	// Unpaired keys come back in reverse order.
	got = keys(orderForRestore([]Recorded{{Key: "a.b", Previous: "1"}, {Key: "c.d", Previous: "2"}}))
	if got != "c.d=2 a.b=1" {
		t.Errorf("reverse order: %s", got)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"version":1,"profile":"go-server","settings":[{"key":"net.core.somaxconn","previous":"4096","applied":"8192"}],"files":["/etc/sysctl.d/60-pitstop-go-server.conf"]}`))
	f.Add([]byte(`{"version":1,"profile":"../x"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseState(b)
		if err != nil {
			return
		}
		if !ValidName(st.Profile) {
			t.Errorf("accepted profile %q", st.Profile)
		}
		for _, r := range st.Settings {
			if strings.Contains(r.Key, "/") || strings.Contains(r.Key, "..") {
				t.Errorf("accepted key %q", r.Key)
			}
		}
	})
}
