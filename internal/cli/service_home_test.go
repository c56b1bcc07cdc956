package cli

import (
	"io"
	"os"
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

func copyExe(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
