package cross

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// qemuArch is qemu-user's name of a GOARCH.
func qemuArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	case "ppc64le":
		return "ppc64le"
	}
	return goarch
}

// RunCommand returns the command that runs a program built for t on this
// machine: directly when t is the build machine's architecture, else
// under qemu-user (qemu-ARCH-static, else qemu-ARCH), with -L sysroot for
// a dynamically linked program so that the loader and libraries are the
// target's (none for sysroot "/": the system's multiarch libraries). An ARMv6 target runs on an emulated ARM1176 (a Pi 1 or Zero),
// so that ARMv7 instructions fail as they would there.
func (f Finder) RunCommand(t Target, sysroot string, static bool, prog string, args ...string) (*exec.Cmd, error) {
	if t.Arch.GOARCH == f.BuildGOARCH() {
		return exec.Command(prog, args...), nil
	}
	q := "qemu-" + qemuArch(t.Arch.GOARCH)
	qp, ok := f.look(q + "-static")
	if !ok {
		if qp, ok = f.look(q); !ok {
			return nil, &MissingToolError{Tool: q + "-static", Package: "qemu-user-static"}
		}
	}
	var qargs []string
	if !static && sysroot != "/" {
		if sysroot == "" || !dirExists(sysroot) {
			return nil, &MissingToolError{Tool: "the target's C library (/usr/" + t.Arch.Triplet + ")", Package: "libc6-" + t.Arch.Dpkg + "-cross"}
		}
		qargs = append(qargs, "-L", sysroot)
	}
	if t.Arch.GOARCH == "arm" && t.Arch.GOARM == 6 {
		qargs = append(qargs, "-cpu", "arm1176")
	}
	c := exec.Command(qp, append(append(qargs, prog), args...)...)
	return c, nil
}

// MissingToolError is a tool a step needs that is not installed.
type MissingToolError struct {
	Tool, Package string
}

func (e *MissingToolError) Error() string {
	return fmt.Sprintf("%s is not installed: install it with: sudo apt-get install -y %s", e.Tool, e.Package)
}

// RunResult is what a program did when run.
type RunResult struct {
	Command  string // the command line
	ExitCode int    // -1 when it did not exit (a signal)
	Err      error  // set when it did not start or did not exit 0
}

// Run runs prog (built for t with tc) with args, its output to stdout and
// stderr, and reports how it ended.
func (f Finder) Run(ctx context.Context, t Target, tc Toolchain, prog string, args []string, stdout, stderr io.Writer) (RunResult, error) {
	d, err := readStatic(prog)
	if err != nil {
		return RunResult{}, err
	}
	c, err := f.RunCommand(t, tc.Sysroot, d, prog, args...)
	if err != nil {
		return RunResult{}, err
	}
	cmd := exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = os.Environ()
	res := RunResult{Command: strings.Join(c.Args, " ")}
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode, res.Err = ee.ExitCode(), err
	default:
		res.ExitCode, res.Err = -1, err
	}
	return res, nil
}
