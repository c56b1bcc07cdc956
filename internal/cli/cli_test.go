package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// TestMain lets testscript run this test binary as the `pitstop` command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"pitstop": func() {
			os.Exit(Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs every testdata/script/*.txtar: each capability adds its
// own scripts (doctor_*.txtar, proxy_*.txtar, ...).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			case "cap_sys_resource":
				// root may raise hard limits (prlimit): some containers
				// drop the capability even for root.
				return hasCapability(unix.CAP_SYS_RESOURCE), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			// Scripts must not depend on the developer's go env.
			env.Setenv("GOFLAGS", "-buildvcs=false")
			for _, setup := range scriptSetups {
				if err := setup(env); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// hasCapability reports whether this process has capability c in its
// effective set (/proc/self/status, CapEff).
func hasCapability(c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<uint(c)) != 0
		}
	}
	return false
}
