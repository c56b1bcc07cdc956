package cli

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pitstop-go/pitstop/internal/testexe"
)

// The script service_home runs pitstop from a directory under /home, as
// `go install` leaves it in /home/pi/go/bin: $HOMEBIN holds that copy.
func init() {
	scriptSetups = append(scriptSetups, func(env *testscript.Env) error {
		if filepath.Base(env.WorkDir) != "script-service_home" {
			return nil
		}
		if os.Geteuid() != 0 {
			return nil // the script skips ([!root])
		}
		var src string
		for _, d := range filepath.SplitList(env.Getenv("PATH")) {
			if p := filepath.Join(d, "pitstop"); src == "" {
				if _, err := os.Stat(p); err == nil {
					src = p
				}
			}
		}
		if err := os.MkdirAll("/home", 0o755); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("/home", "pitstop-test-")
		if err != nil {
			return err
		}
		env.Defer(func() { os.RemoveAll(dir) })
		bin := filepath.Join(dir, "go", "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			return err
		}
		if err := copyExe(filepath.Join(bin, "pitstop"), src); err != nil {
			return err
		}
		env.Setenv("HOMEBIN", bin)
		env.Setenv("HOMEBIN_RE", strings.ReplaceAll(bin, ".", `\.`))
		return nil
	})
}

// copyExe copies the binary with testexe.WriteFile: a plain write would
// leave a descriptor open for writing it that a child forked meanwhile by a
// parallel test inherits until its exec, and running the copy would then
// fail with "text file busy" (golang.org/issue/22315).
func copyExe(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return testexe.WriteFile(dst, b, 0o755)
}
