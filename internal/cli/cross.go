package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/cross"
)

// crossTargetFlags pick the target: a name, or a doctor capture of the
// board, with the C library and glibc version.
type crossTargetFlags struct {
	target, forCapture, libc, glibc string
}

func (f *crossTargetFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "", "the board: "+strings.Join(cross.TargetNames(), ", ")+" (default pi5)")
	fl.StringVar(&f.forCapture, "for", "", "a capture of the board (pitstop doctor --capture FILE.tar.gz): its architecture, float ABI and glibc")
	fl.StringVar(&f.libc, "libc", "", "glibc (the board's, dynamic; default), static (glibc linked in) or musl (linked in)")
	fl.StringVar(&f.glibc, "glibc", "", "the board's glibc version, e.g. 2.36 (Raspberry Pi OS 12) or 2.31 (11); a capture says it")
}

// resolve returns the target the flags describe.
func (f *crossTargetFlags) resolve() (cross.Target, error) {
	var libc cross.Libc
	if f.libc != "" {
		var err error
		if libc, err = cross.ParseLibc(f.libc); err != nil {
			return cross.Target{}, crossError(err)
		}
	}
	var t cross.Target
	var err error
	switch {
	case f.forCapture != "" && f.target != "":
		return t, usageError("give --target or --for, not both: a capture names its board's target")
	case f.forCapture != "":
		t, err = cross.TargetFromCapture(f.forCapture, libc)
	default:
		name := f.target
		if name == "" {
			name = "pi5"
		}
		if libc == "" {
			libc = cross.Glibc
		}
		t, err = cross.ParseTarget(name, libc)
	}
	if err != nil {
		return t, crossError(err)
	}
	if f.glibc != "" {
		if t.Glibc, err = cross.ParseGlibc(f.glibc); err != nil {
			return t, crossError(err)
		}
	}
	return t, nil
}

// crossError maps the cross library's errors to flags and exit codes:
// bad values and a missing toolchain exit 2 with the fix, a failed build
// exits 1.
func crossError(err error) error {
	var se *cross.SettingError
	var mt *cross.MissingToolchainError
	var mtool *cross.MissingToolError
	var be *cross.BuildError
	switch {
	case errors.As(err, &se):
		switch se.Setting {
		case "Target":
			return usageError("unknown --target %q: use one of %s, or --for a capture of the board", se.Value, se.Want)
		case "Libc":
			return usageError("unknown --libc %q: use glibc, static or musl", se.Value)
		case "Glibc":
			return usageError("--glibc %q is no version: give the board's glibc as ldd --version prints it, e.g. 2.36", se.Value)
		case "Capture":
			return usageError("--for %s: %v: give a capture written by pitstop doctor --capture FILE.tar.gz", se.Value, se.Err)
		case "Args":
			return usageError("go build arguments %q: %v", se.Value, se.Err)
		}
		return usageError("%v", err)
	case errors.As(err, &mt):
		msg := mt.Error()
		if len(mt.Packages) > 0 {
			msg += " (or: sudo pitstop cross build --install --target " + mt.Target.Platform() + ")"
		}
		return &ExitError{Code: 2, Err: errors.New(msg)}
	case errors.As(err, &mtool):
		return &ExitError{Code: 2, Err: err}
	case errors.As(err, &be):
		return &ExitError{Code: 1, Err: err}
	}
	return err
}

func newCrossCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cross",
		Short: "cgo builds for a Raspberry Pi from any machine, checked against the board before they are copied over",
		Long: `pitstop cross builds Go programs that use cgo for another Linux machine (a
Raspberry Pi, from a laptop or a build server) with a C cross compiler it finds
(Debian's gcc-aarch64-linux-gnu and gcc-arm-linux-gnueabihf, clang with the
target's sysroot, or zig), then checks the ELF it made against the board:
machine and float ABI, dynamic loader, every needed library and every
versioned glibc symbol. --run runs the result under qemu-user. See
docs/cross.md.`,
		Args: groupArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCrossBuildCmd(), newCrossCheckCmd())
	return cmd
}

func newCrossBuildCmd() *cobra.Command {
	var (
		tf      crossTargetFlags
		pf      planFlags
		run     bool
		runArgs string
		install bool
		libs    []string
	)
	cmd := &cobra.Command{
		Use:   "build [flags] [-- go build flags and packages]",
		Short: "Build with cgo for the board and check the binary against it",
		Example: `  pitstop cross build --target pi5 -- -o myapp ./cmd/myapp
  pitstop cross build --for pi.tar.gz --run -- -o myapp .
  sudo pitstop cross build --install --lib libsqlite3-dev --target pi5`,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tf.resolve()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			finder := cross.Finder{}
			if install {
				p := cross.InstallPlan(t, libs, finder.BuildGOARCH())
				if err := pf.run(cmd, p); err != nil {
					if errors.Is(err, cross.ErrNotRoot) {
						return fmt.Errorf("%w: run it with sudo (or --dry-run to see the plan)", err)
					}
					return err
				}
				if pf.dryRun {
					return nil
				}
			} else if pf.dryRun || pf.json || len(libs) > 0 {
				return usageError("--dry-run, --json and --lib go with --install")
			}
			tc, err := finder.Find(t)
			if err != nil {
				return crossError(err)
			}
			fmt.Fprintf(out, "building for %s with %s (%s)\n", t, tc.CC, tc.Kind)
			if tc.Note != "" {
				fmt.Fprintf(out, "note: %s\n", tc.Note)
			}
			b := &cross.Build{Target: t, Toolchain: tc, Args: args, Stdout: out, Stderr: cmd.ErrOrStderr()}
			bin, err := b.Run(cmd.Context())
			if err != nil {
				return crossError(err)
			}
			fmt.Fprintf(out, "built %s\n", bin)
			if err := crossCheck(out, bin, t); err != nil {
				return err
			}
			if !run {
				return nil
			}
			res, err := finder.Run(cmd.Context(), t, tc, bin, strings.Fields(runArgs), out, cmd.ErrOrStderr())
			if err != nil {
				return crossError(err)
			}
			if res.Err != nil {
				err := fmt.Errorf("ran %s: %v", res.Command, res.Err)
				if strings.Contains(res.Err.Error(), "illegal instruction") && t.Arch.GOARM == 6 {
					err = fmt.Errorf("%w: code for a newer CPU than the target's ARMv6 (see the note above)", err)
				}
				return &ExitError{Code: 1, Err: err}
			}
			fmt.Fprintf(out, "ran %s: exit 0\n", res.Command)
			return nil
		},
	}
	tf.register(cmd)
	pf.register(cmd.Flags())
	f := cmd.Flags()
	f.BoolVar(&run, "run", false, "run the binary under qemu-user with the target's C library (or directly on a machine of its architecture)")
	f.StringVar(&runArgs, "run-args", "", "arguments for --run, separated by spaces")
	f.BoolVar(&install, "install", false, "install the cross compilers (and --lib target libraries) with apt-get first; as root")
	f.StringSliceVar(&libs, "lib", nil, "with --install: a Debian library package for the target, e.g. libsqlite3-dev (installed as libsqlite3-dev:arm64)")
	return cmd
}

// crossCheck checks bin against t and prints the report; a binary that
// does not fit is exit 1.
func crossCheck(out io.Writer, bin string, t cross.Target) error {
	r, err := cross.Check(bin, t)
	if err != nil {
		return &ExitError{Code: 1, Err: err}
	}
	r.Write(out)
	if !r.Fits() {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s does not fit %s (see FAIL above)", bin, t)}
	}
	return nil
}

func newCrossCheckCmd() *cobra.Command {
	var (
		tf     crossTargetFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check BINARY",
		Short: "Check a binary built by other means against the board: machine, float ABI, loader, libraries, glibc symbols",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("check needs one binary, e.g. pitstop cross check --for pi.tar.gz ./myapp")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := tf.resolve()
			if err != nil {
				return err
			}
			if !asJSON {
				return crossCheck(cmd.OutOrStdout(), args[0], t)
			}
			r, err := cross.Check(args[0], t)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				return err
			}
			if !r.Fits() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	tf.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}
