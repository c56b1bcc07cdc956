package host

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// SysctlPath turns a dotted sysctl key (net.core.somaxconn) into its path
// under /proc/sys.
func SysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// Sysctl reads a sysctl's value, with runs of white space folded to one
// space (net.ipv4.ip_local_port_range reads "32768 60999").
func (r *Root) Sysctl(key string) (string, error) {
	b, err := r.ReadFile(SysctlPath(key))
	if err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(string(b)), " "), nil
}

// ErrNotLive is returned when a change is asked of a captured root.
var ErrNotLive = errors.New("not the live machine: a capture can only be read")

// SetSysctl writes a sysctl's value on the live machine.
func (r *Root) SetSysctl(key, value string) error {
	if !r.live {
		return ErrNotLive
	}
	f, err := os.OpenFile(SysctlPath(key), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return f.Close()
}
