package toolchain

import (
	"fmt"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// DistroGo is a Go installed by the distribution's package manager, which
// pitstop never touches.
type DistroGo struct{ host.DistroGo }

// RemoveHint says how to remove it with the package manager.
func (d DistroGo) RemoveHint() string {
	if len(d.Packages) > 0 {
		return "sudo apt remove " + strings.Join(d.Packages, " ")
	}
	return "remove it with your package manager"
}

func (d DistroGo) String() string {
	v := d.Version
	if v == "" {
		v = "Go"
	}
	return fmt.Sprintf("a distribution-managed %s is at %s; pitstop leaves it alone (to remove it: %s)", v, d.Path, d.RemoveHint())
}

// FindDistroGo looks for a packaged Go at /usr/bin/go (host.Root.DistroGo),
// nil when there is none. root nil means the live machine.
func FindDistroGo(root *host.Root) *DistroGo {
	if root == nil {
		root = host.Live()
	}
	if d := root.DistroGo(); d != nil {
		return &DistroGo{*d}
	}
	return nil
}
