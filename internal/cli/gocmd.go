package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/toolchain"
)

// goOpts are the flags every `pitstop go` subcommand takes.
type goOpts struct {
	dir    string
	system bool
}

func (o *goOpts) layout() (toolchain.Layout, error) {
	switch {
	case o.system && o.dir != "":
		return toolchain.Layout{}, usageError("--dir and --system exclude each other")
	case o.system:
		return toolchain.SystemLayout(), nil
	case o.dir != "":
		return toolchain.DirLayout(o.dir), nil
	}
	l, err := toolchain.UserLayout()
	return l, goError(err)
}

// goError names the flags behind the settings toolchain's errors name.
func goError(err error) error {
	var de *toolchain.DiskError
	var uv *toolchain.UnknownVersionError
	switch {
	case errors.As(err, &de):
		return &flagError{de.Explain("--dir", "--system"), err}
	case errors.Is(err, toolchain.ErrNoHome):
		return &flagError{"cannot find the home directory: set HOME or pass --dir", err}
	case errors.Is(err, toolchain.ErrSumDBOff):
		return &flagError{err.Error() + " or pass --insecure", err}
	case errors.As(err, &uv) && len(uv.Closest) == 0:
		return &flagError{err.Error() + "; see `pitstop go list --remote`", err}
	}
	return err
}

// flagError is a library error retold with the flags that set what it
// names.
type flagError struct {
	msg string
	err error
}

func (e *flagError) Error() string { return e.msg }
func (e *flagError) Unwrap() error { return e.err }

func newGoCmd() *cobra.Command {
	o := &goOpts{}
	cmd := &cobra.Command{
		Use:   "go",
		Short: "Install, switch and remove verified Go toolchains from your module proxy",
		Long: `pitstop go installs Go releases from the golang.org/toolchain module on the
module proxies in your GOPROXY (so a pitstop proxy on the LAN serves every
board), verified against the checksum database as the go command does.

Toolchains live in ~/.local/share/pitstop/go/<version> (--dir to choose,
--system for /usr/local/go); the active one is reached through one PATH
entry, <dir>/current/bin (see pitstop go shellenv).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.PersistentFlags().StringVar(&o.dir, "dir", "", "keep toolchains in `DIR` (default ~/.local/share/pitstop/go)")
	cmd.PersistentFlags().BoolVar(&o.system, "system", false, "system-wide: versions in "+toolchain.SystemDir+", "+toolchain.SystemLink+" links to the active one")
	cmd.AddCommand(newGoInstallCmd(o), newGoUseCmd(o), newGoListCmd(o), newGoRemoveCmd(o), newGoShellenvCmd(o), newGoEnvCmd(o))
	return cmd
}

// targetFor returns the machine's target and the one --os/--arch ask for.
func targetFor(goos, goarch string) (native, target toolchain.Target, err error) {
	native, err = toolchain.DetectTarget(nil)
	if err != nil {
		return native, native, err
	}
	target = native
	if goos != "" {
		target.GOOS = strings.ToLower(goos)
	}
	if goarch != "" {
		target.GOARCH = toolchain.NormalizeArch(goarch)
	}
	for _, s := range []string{target.GOOS, target.GOARCH} {
		if s == "" || strings.ContainsAny(s, "-./ ") {
			return native, target, usageError("invalid --os/--arch %q: want e.g. --os linux --arch arm64 (or armv6l)", s)
		}
	}
	// A name Go has no port for is a typo, not a release the proxy lacks.
	if goos != "" && !slices.Contains(knownGOOS, target.GOOS) {
		return native, target, usageError("invalid --os/--arch %q: --os is one of %s", goos, strings.Join(knownGOOS, ", "))
	}
	if goarch != "" && !slices.Contains(knownGOARCH, target.GOARCH) {
		return native, target, usageError("invalid --os/--arch %q: --arch is one of %s (or armv6l, armv7l, aarch64, x86_64)", goarch, strings.Join(knownGOARCH, ", "))
	}
	return native, target, nil
}

// knownGOOS and knownGOARCH are the operating systems and architectures of
// Go's ports (go tool dist list).
var (
	knownGOOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownGOARCH = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

func newGoInstallCmd(o *goOpts) *cobra.Command {
	var goos, goarch string
	var insecure, noUse bool
	var backoff time.Duration
	cmd := &cobra.Command{
		Use:   "install [VERSION]",
		Short: "Install a Go toolchain (1.22.5, go1.22.5, 1.22, latest, go.mod) and make it active",
		Long: `Install a Go release and make it the active one.

VERSION is 1.22.5 or go1.22.5 (that release), 1.22 (its newest patch),
1.23rc1, latest (the default: the newest stable release) or go.mod (the
toolchain or go line of the module in the current directory).

The zip comes from your GOPROXY list (go env GOPROXY) with the go command's
fallback rules, and is verified against the checksum database (go env
GOSUMDB); pitstop refuses to install when that is off, unless --insecure.
By default the target is this machine's userland (linux-arm for a 32-bit
Raspberry Pi OS even on a 64-bit kernel); --os/--arch prepare a toolchain
for another machine without activating it.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			arg := "latest"
			if len(args) == 1 {
				arg = args[0]
			}
			q, err := toolchain.ParseQuery(arg)
			if err != nil {
				return usageError("%v", err)
			}
			l, err := o.layout()
			if err != nil {
				return err
			}
			native, target, err := targetFor(goos, goarch)
			if err != nil {
				return err
			}
			env, err := toolchainGoEnv(ctx)
			if err != nil {
				return err
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			in := &toolchain.Installer{
				Layout: l, Env: env, Native: native, Target: target,
				Insecure: insecure, NoUse: noUse, Out: out, Backoff: backoff,
				Source: toolchain.FetcherSource(toolchain.NewFetcher(env, &toolchain.ResumeTransport{Backoff: backoff})),
			}
			if isTerminal(errw) {
				in.Progress, in.ProgressDone = toolchain.ProgressBar(errw, "  ")
				in.UnpackProgress, in.UnpackProgressDone = toolchain.ProgressBar(errw, "  unpacking")
			}
			res, err := in.Install(ctx, q)
			if err != nil {
				return goError(err)
			}
			if res.Active {
				pathHints(out, l)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&goos, "os", "", "target `GOOS` (default: this machine's)")
	cmd.Flags().StringVar(&goarch, "arch", "", "target `GOARCH` (arm64, arm or armv6l, amd64, ...; default: this machine's userland)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow installing with the checksum database off (GOSUMDB=off)")
	cmd.Flags().BoolVar(&noUse, "no-use", false, "install without making it the active toolchain")
	cmd.Flags().DurationVar(&backoff, "backoff", 0, "first pause before retrying a failed download (doubles each time)")
	cmd.Flags().MarkHidden("backoff") // for tests
	return cmd
}

// pathHints tells how to reach the active toolchain, and about a packaged
// Go that pitstop leaves alone.
func pathHints(w io.Writer, l toolchain.Layout) {
	bin := l.BinDir()
	onPath := false
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if filepath.Clean(d) == bin {
			onPath = true
			break
		}
	}
	if !onPath {
		fmt.Fprintf(w, "to put %s on PATH: pitstop go shellenv --write%s (then open a new shell)\n", bin, dirFlags(l))
	} else if p, err := exec.LookPath("go"); err == nil {
		if rp, _ := filepath.EvalSymlinks(p); !strings.HasPrefix(p, bin+"/") && !strings.HasPrefix(rp, l.Dir+"/") {
			fmt.Fprintf(w, "note: %s comes before %s on PATH; pitstop go shellenv --write puts it first\n", p, bin)
		}
	}
	if d := toolchain.FindDistroGo(nil); d != nil {
		fmt.Fprintf(w, "note: %s\n", d)
	}
}

// activeRemoveError says how to remove the active toolchain name: switch to
// another installed one, or to none when it is the only one.
func activeRemoveError(l toolchain.Layout, name string) error {
	var others []string
	if all, err := l.List(); err == nil {
		for _, in := range all {
			if in.Name != name && in.Foreign == (toolchain.Target{}) {
				others = append(others, in.Name)
			}
		}
	}
	if len(others) == 0 {
		return fmt.Errorf("%s is the active toolchain and the only one installed: make none active first (pitstop go use --none%s), then remove it", name, dirFlags(l))
	}
	return fmt.Errorf("%s is the active toolchain: switch first (pitstop go use %s%s) or make none active (pitstop go use --none%s), then remove it", name, others[len(others)-1], dirFlags(l), dirFlags(l))
}

// dirFlags repeats --dir/--system for commands printed as advice.
func dirFlags(l toolchain.Layout) string {
	if l == toolchain.SystemLayout() {
		return " --system"
	}
	if u, err := toolchain.UserLayout(); err == nil && u == l {
		return ""
	}
	return " --dir " + l.Dir
}

// find is the layout and the installed toolchain a VERSION argument names;
// a malformed VERSION is a usage error.
func (o *goOpts) find(version string) (toolchain.Layout, toolchain.Installed, error) {
	l, err := o.layout()
	if err != nil {
		return l, toolchain.Installed{}, err
	}
	in, err := l.Find(version)
	if errors.Is(err, toolchain.ErrMalformed) {
		err = usageError("%v", err)
	}
	return l, in, err
}

func newGoUseCmd(o *goOpts) *cobra.Command {
	var none bool
	c := &cobra.Command{
		Use:   "use VERSION | --none",
		Short: "Switch the active toolchain (atomically) to an installed version, or to none",
		Long: `use points <dir>/current at an installed version. With --none it removes the
link, so that no pitstop toolchain is active (the versions stay installed;
go remove can then remove the last one).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if none {
				if len(args) > 0 {
					return usageError("--none takes no VERSION: give one or the other")
				}
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if none {
				l, err := o.layout()
				if err != nil {
					return err
				}
				was, err := l.Unuse()
				if err != nil {
					return err
				}
				if was == "" {
					fmt.Fprintf(cmd.OutOrStdout(), "no toolchain was active (%s does not exist)\n", l.Link)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "no toolchain is active: removed %s (it pointed at %s, which stays installed; undo: pitstop go use %s%s)\n", l.Link, was, was, dirFlags(l))
				return nil
			}
			l, in, err := o.find(args[0])
			if err != nil {
				return err
			}
			native, err := toolchain.DetectTarget(nil)
			if err != nil {
				return err
			}
			if in.Foreign != (toolchain.Target{}) && in.Foreign != native {
				return fmt.Errorf("%s is built for %s, not this machine (%s): copy it there instead", in.Name, in.Foreign, native)
			}
			t := native
			if in.Foreign != (toolchain.Target{}) {
				t = in.Foreign
			}
			line, err := toolchain.Check(cmd.Context(), in, t)
			if err != nil {
				return err
			}
			if err := l.Use(in.Name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\nactive: %s -> %s\n", line, l.Link, in.Name)
			pathHints(cmd.OutOrStdout(), l)
			return nil
		},
	}
	c.Flags().BoolVar(&none, "none", false, "make no toolchain active: remove the current link")
	return c
}

func newGoListCmd(o *goOpts) *cobra.Command {
	var remote bool
	var goos, goarch string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List installed toolchains (--remote: the releases your module proxy lists)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := o.layout()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			installed, err := l.List()
			if err != nil {
				return err
			}
			if remote {
				_, target, err := targetFor(goos, goarch)
				if err != nil {
					return err
				}
				env, err := toolchainGoEnv(cmd.Context())
				if err != nil {
					return err
				}
				r, err := toolchain.ListRemote(cmd.Context(), toolchain.FetcherSource(toolchain.NewFetcher(env, nil)), target)
				if err != nil {
					return err
				}
				have := map[toolchain.Version]bool{}
				for _, in := range installed {
					have[in.Version] = true
				}
				if len(r.ForTarget) == 0 {
					fmt.Fprintf(out, "the module proxy lists no Go release for %s\n", target)
				}
				for i := len(r.ForTarget) - 1; i >= 0; i-- {
					v := r.ForTarget[i]
					mark := ""
					if have[v] {
						mark = "  (installed)"
					}
					fmt.Fprintf(out, "%s%s\n", v.Go(), mark)
				}
				fmt.Fprintf(out, "(%d releases for %s; a proxy lists only toolchains it has served: pitstop go install VERSION asks for others directly)\n", len(r.ForTarget), target)
				return nil
			}
			if len(installed) == 0 {
				fmt.Fprintf(out, "no toolchains in %s; install one: pitstop go install latest%s\n", l.Dir, dirFlags(l))
			}
			for _, in := range installed {
				mark := "  "
				if in.Active {
					mark = "* "
				}
				fmt.Fprintf(out, "%s%-24s %s\n", mark, in.Name, in.Path)
			}
			if d := toolchain.FindDistroGo(nil); d != nil {
				fmt.Fprintf(out, "note: %s\n", d)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&remote, "remote", false, "list the releases the module proxy offers for this machine")
	cmd.Flags().StringVar(&goos, "os", "", "with --remote: target `GOOS`")
	cmd.Flags().StringVar(&goarch, "arch", "", "with --remote: target `GOARCH`")
	return cmd
}

func newGoRemoveCmd(o *goOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "remove VERSION",
		Short: "Remove an installed toolchain (not the active one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, in, err := o.find(args[0])
			if err != nil {
				return err
			}
			if err := l.Remove(in.Name); errors.Is(err, toolchain.ErrActive) {
				return activeRemoveError(l, in.Name)
			} else if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s (%s)\n", in.Name, in.Path)
			return nil
		},
	}
}

// newGoEnvCmd is shellenv's old name, kept working: it says so on stderr
// (stdout is what eval reads).
func newGoEnvCmd(o *goOpts) *cobra.Command {
	c := newGoShellenvCmd(o)
	c.Use = "env"
	c.Short = "Old name of shellenv (prints the PATH lines, not Go's settings as go env does)"
	c.Hidden = true // help and completion offer shellenv
	run := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		fmt.Fprintln(cmd.ErrOrStderr(), "note: pitstop go env is now pitstop go shellenv (go env prints Go's settings; this prints PATH lines); the old name keeps working")
		return run(cmd, args)
	}
	return c
}

func newGoShellenvCmd(o *goOpts) *cobra.Command {
	var shell, rc string
	var write, remove, dryRun, asJSON, noGoBin bool
	cmd := &cobra.Command{
		Use:   "shellenv",
		Short: "Print (or --write into your shell's rc file) the PATH lines for the active toolchain",
		Long: `Print the lines that put the active toolchain's bin directory first on
PATH (and GOBIN, or GOPATH/bin, at its end, so that commands from
go install run by name), for bash, zsh or fish (default: $SHELL).

  eval "$(pitstop go shellenv)"        this shell only
  pitstop go shellenv --write          add them to ~/.bashrc (~/.zshrc,
                                       fish's config.fish) inside a marked
                                       block; running it again changes
                                       nothing
  pitstop go shellenv --remove         take the block out again

(pitstop go env is its old name and still works.)
  --dry-run                       print the plan of --write/--remove
  --json                          print that plan as JSON (with --dry-run),
                                  or the plan that ran`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if write && remove {
				return usageError("--write and --remove exclude each other")
			}
			if shell == "" {
				shell = toolchain.ShellFromEnv()
			}
			l, err := o.layout()
			if err != nil {
				return err
			}
			var after []string
			if !noGoBin {
				if d := goBinDir(goenv.Load(cmd.Context())); d != "" && d != l.BinDir() {
					after = append(after, d)
				}
			}
			lines, err := toolchain.EnvLines(shell, l.BinDir(), after...)
			if err != nil {
				return usageError("%v", err)
			}
			out := cmd.OutOrStdout()
			if !write && !remove {
				if dryRun || asJSON {
					return usageError("--dry-run and --json go with --write or --remove")
				}
				fmt.Fprint(out, lines)
				return nil
			}
			if rc == "" {
				home, err := os.UserHomeDir()
				if err != nil || home == "" {
					return errors.New("cannot find the home directory: set HOME or pass --rc FILE")
				}
				if rc, err = toolchain.RCFile(shell, home); err != nil {
					return usageError("%v", err)
				}
			}
			body := lines
			if remove {
				body = ""
			}
			p, file, err := toolchain.PlanRC(rc, body)
			if err != nil {
				return err
			}
			if dryRun {
				return printPlan(out, p, asJSON, true)
			}
			if err := p.Apply(cmd.Context(), nil); err != nil {
				return err
			}
			switch {
			case asJSON:
				return p.JSON(out)
			case p.Empty() && remove:
				fmt.Fprintf(out, "%s has no pitstop block; nothing to remove\n", file)
			case p.Empty():
				fmt.Fprintf(out, "%s already has the PATH lines; nothing changed\n", file)
			case remove:
				fmt.Fprintf(out, "removed the pitstop block from %s\n", file)
			default:
				// The undo names the same rc file: --rc as given, else
				// --shell when it was given.
				undo := "pitstop go shellenv --remove"
				if cmd.Flags().Changed("rc") {
					abs, err := filepath.Abs(rc)
					if err != nil {
						abs = rc
					}
					undo += " --rc " + toolchain.ShellQuote(abs)
				} else if cmd.Flags().Changed("shell") {
					undo += " --shell " + shell
				}
				fmt.Fprintf(out, "written to %s:\n%s\n%s%s\n", file, toolchain.BlockBegin, lines, toolchain.BlockEnd)
				fmt.Fprintf(out, "open a new shell (or: source %s); undo with: %s\n", file, undo)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&shell, "shell", "", "bash, zsh or fish (default: from $SHELL)")
	cmd.Flags().BoolVar(&write, "write", false, "write the lines into the shell's rc file, inside a marked block (idempotent)")
	cmd.Flags().BoolVar(&remove, "remove", false, "remove the marked block from the rc file")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "with --write/--remove: print the plan, change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --write/--remove: print the plan as JSON (with --dry-run) or the plan that ran")
	cmd.Flags().StringVar(&rc, "rc", "", "the rc `FILE` to edit (default: the shell's usual one)")
	cmd.Flags().BoolVar(&noGoBin, "no-gobin", false, "leave GOBIN/GOPATH/bin off PATH")
	return cmd
}

// goBinDir is where go install puts commands: GOBIN, else GOPATH/bin.
func goBinDir(env goenv.Env) string {
	if d := env.Get("GOBIN"); d != "" {
		return d
	}
	if gp := filepath.SplitList(env.Get("GOPATH")); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "bin")
	}
	return ""
}

// toolchainGoEnv is the go command's environment, or the process's when no
// go command runs yet (a fresh machine): then GOPROXY must be set in it.
func toolchainGoEnv(ctx context.Context) (goenv.Env, error) {
	env, rerr := goenv.Read(ctx, "")
	if rerr != nil {
		env = goenv.FromOS()
	}
	if _, err := env.Proxies(); err != nil {
		if rerr != nil && errors.Is(err, goenv.ErrNoProxy) {
			return nil, errors.New("no go command to ask for GOPROXY, and GOPROXY is not set: run it as GOPROXY=<your module proxy> pitstop go ... (a pitstop proxy on your LAN, or what go env GOPROXY says on another machine)")
		}
		return nil, err
	}
	return env, nil
}
