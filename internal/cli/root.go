// Package cli builds pitstop's command tree. Each command group lives in a
// file of its own (doctor.go, gocmd.go, proxy.go, cache.go, ramdisk.go,
// tune.go, cross.go) and only turns flags into a capability's config and calls it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// ExitError carries a process exit code through cobra. A nil Err means the
// command already printed what it had to say.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks bad command-line input; it exits 2.
func usageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// Main runs pitstop with args (without the program name) and returns the
// process exit code: 0 on success, 2 for bad usage, 130 when Ctrl-C
// (SIGINT, seen as the cause Run gives ctx) ended it, otherwise what the
// command asked for (1 by default).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := NewRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if code, ok := interruptedCode(ctx, err, stderr); ok {
		return code
	}
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "pitstop: %v\n", ee.Err)
		}
		return ee.Code
	}
	if isUsage(err) {
		fmt.Fprintf(stderr, "pitstop: %s\n", usageLine(cmd, err))
		return 2
	}
	fmt.Fprintf(stderr, "pitstop: %v\n", err)
	return 1
}

// usageLine turns one of cobra's usage errors into one line that also says
// what to do: cobra's "Did you mean this?" block becomes a clause, a leaf
// command given an argument says it takes none, and every line ends by
// naming the command's usage or --help.
func usageLine(cmd *cobra.Command, err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimSpace(msg)
	if cmd == nil {
		return msg
	}
	path := cmd.CommandPath()
	if arg, ok := unknownCommandArg(msg); ok {
		if cmd.HasAvailableSubCommands() {
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on the root
			}
			if sug := cmd.SuggestionsFor(arg); len(sug) > 0 {
				return fmt.Sprintf("%s: did you mean %s? (see %s --help)", msg, strings.Join(sug, " or "), path)
			}
			return fmt.Sprintf("%s: see %s --help for its commands", msg, path)
		}
		return fmt.Sprintf("%s: %s takes no arguments (see %s --help)", msg, path, path)
	}
	if strings.Contains(msg, "arg(s)") {
		return fmt.Sprintf("%s; usage: %s", msg, strings.TrimSuffix(cmd.UseLine(), " [flags]"))
	}
	return fmt.Sprintf("%s (see %s --help)", msg, path)
}

// unknownCommandArg returns the X of cobra's `unknown command "X" for ...`.
func unknownCommandArg(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "unknown command ")
	if !ok {
		return "", false
	}
	var arg string
	if _, err := fmt.Sscanf(rest, "%q", &arg); err != nil {
		return "", false
	}
	return arg, true
}

// groupArgs is the Args of a command group (a command with subcommands and
// a RunE that prints help): an unknown subcommand is a usage error, not a
// silent help page with exit 0.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// isUsage reports whether err came from cobra's own flag or argument parsing.
func isUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "accepts ", "requires at least", "requires at most", "bad flag syntax"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// NewRoot returns the whole command tree, wired to the given streams.
func NewRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "pitstop",
		Short: "Make Go on a Raspberry Pi correct and fast",
		Long: `pitstop diagnoses a Go-on-Raspberry-Pi machine (doctor), installs verified Go
toolchains from any module proxy (go), serves a caching module proxy (proxy)
and a shared build cache (cache), keeps Go's caches in RAM (ramdisk), tunes
the kernel for Go servers and builds (tune), builds cgo programs for the board
from any machine, checked against it (cross), and measures what the GPU offers
to compute through Vulkan (gpu).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newDoctorCmd(),
		newGoCmd(),
		newProxyCmd(),
		newCacheCmd(),
		newRamdiskCmd(),
		newTuneCmd(),
		newCrossCmd(),
		newFleetServeCmd(),
		newJoinCmd(),
		newLeaveCmd(),
		newVersionCmd(),
		newGPUCmd(),
		newBenchCmd(),
	)
	setVersion(root)
	guardGroups(root)
	return root
}

// guardGroups makes every command group below the root (proxy, cache, ...)
// refuse an unknown subcommand with a usage error: cobra's default prints
// the group's help and exits 0, so `pitstop proxy sevre` would "succeed".
func guardGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.HasSubCommands() && sub.Args == nil {
			sub.Args = groupArgs
			if sub.Run == nil && sub.RunE == nil {
				sub.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
			}
		}
		guardGroups(sub)
	}
}
