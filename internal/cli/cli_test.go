package cli

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
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
