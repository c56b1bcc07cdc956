package tune

import (
	"os"

	"github.com/pitstop-go/pitstop/internal/host"
)

// netnsSuffix names the variant of a profile for a container or network
// namespace: only the sysctls the namespace owns.
const netnsSuffix = "-netns"

// hostOnlySysctl is a sysctl only the host's first network namespace may
// set: elsewhere (a container, unshare -n) /proc/sys shows it read-only.
const hostOnlySysctl = "net.core.rmem_max"

// ForHere returns the profile to recommend for name where this process
// runs: name's -netns variant (go-server-netns) when there is one and the
// host-wide sysctls are read-only here, else name.
func ForHere(name string) string {
	if _, ok := Embedded().profiles[name+netnsSuffix]; !ok {
		return name
	}
	fi, err := os.Stat(host.SysctlPath(hostOnlySysctl))
	if err != nil || fi.Mode().Perm()&0o222 != 0 {
		return name
	}
	return name + netnsSuffix
}
