package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
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

// copyExe copies the binary with cp(1), so that no descriptor open for
// writing it ever exists in this process: a child forked meanwhile by a
// parallel test would inherit it until its exec, and running the copy would
// then fail with "text file busy" (golang.org/issue/22315).
func copyExe(dst, src string) error {
	out, err := exec.Command("cp", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp %s %s: %v: %s", src, dst, err, out)
	}
	return os.Chmod(dst, 0o755)
}
