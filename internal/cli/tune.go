package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/tune"
)

func newTuneCmd() *cobra.Command {
	var (
		t       tune.Tuner
		rootDir string
	)
	tuner := func(cmd *cobra.Command) *tune.Tuner {
		if rootDir != "" {
			t.Root = host.At(rootDir)
		}
		t.Out = cmd.OutOrStdout()
		return &t
	}
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Kernel and limits profiles for Go servers and builds, with show, apply and revert",
		Long: `pitstop tune sets sysctls (and, with --persist, file-descriptor limits) from
named profiles: go-server, go-build, go-pi (both), and yours in
/etc/pitstop/tune.d/NAME.conf (same INI format; include= pulls in others).
Every setting carries its reason. apply records the previous values in
/var/lib/pitstop/tune/state.json; revert puts them back exactly. One profile is
applied at a time: revert before applying another.`,
		Args: groupArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&t.ProfileDir, "profile-dir", tune.DefaultProfileDir, "directory of user profiles (NAME.conf)")
	pf.StringVar(&t.StateDir, "state-dir", tune.DefaultStateDir, "directory of the state file recording previous values")
	pf.StringVar(&t.SysctlDir, "sysctl-dir", tune.DefaultSysctlDir, "where --persist writes 60-pitstop-PROFILE.conf")
	pf.StringVar(&t.SystemdDir, "systemd-dir", tune.DefaultSystemdDir, "where --persist writes system.conf.d/ and user.conf.d/ drop-ins")
	pf.StringVar(&t.LimitsDir, "limits-dir", tune.DefaultLimitsDir, "where --persist writes a pam_limits file")
	pf.StringVar(&rootDir, "root", "", "a directory standing for / (its proc/sys is read and written as plain files; for tests)")
	for _, f := range []string{"profile-dir", "state-dir", "sysctl-dir", "systemd-dir", "limits-dir", "root"} {
		_ = pf.MarkHidden(f)
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the known profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := tuner(cmd).Catalog()
			if err != nil {
				return err
			}
			for _, n := range cat.Names() {
				p, _ := cat.Profile(n)
				src := p.Source
				if len(p.Includes) > 0 {
					src += ", includes " + joinComma(p.Includes)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%-12s %s (%s)\n", n, p.Summary, src)
			}
			return nil
		},
	}

	var asJSON bool
	show := &cobra.Command{
		Use:   "show [PROFILE]",
		Short: "Compare a profile's values (all profiles' without one) with the live ones; * marks what apply would change",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reps, err := tuner(cmd).Show(args...)
			if err != nil {
				return tuneError(err)
			}
			return tune.WriteReports(cmd.OutOrStdout(), reps, asJSON)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var persist, applyDry, applyJSON bool
	apply := &cobra.Command{
		Use:   "apply PROFILE",
		Short: "Set a profile's sysctls (and with --persist write them and the limits to /etc), recording the previous values",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("apply needs one profile name, e.g. pitstop tune apply go-server (see pitstop tune list)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t := tuner(cmd)
			if applyDry {
				p, err := t.PlanApply(args[0], persist)
				if err != nil {
					return tuneError(err)
				}
				return printPlan(cmd.OutOrStdout(), p, applyJSON, true)
			}
			if applyJSON {
				t.Out = nil
			}
			p, err := t.Apply(cmd.Context(), args[0], persist)
			if err != nil {
				return tuneError(err)
			}
			return printPlan(cmd.OutOrStdout(), p, applyJSON, false)
		},
	}
	apply.Flags().BoolVar(&persist, "persist", false, "also write /etc/sysctl.d/60-pitstop-PROFILE.conf and the limits drop-ins, for the next boot")
	apply.Flags().BoolVar(&applyDry, "dry-run", false, "print the plan and change nothing")
	apply.Flags().BoolVar(&applyJSON, "json", false, "print the plan as JSON (with --dry-run) or, after applying, the plan that ran")

	var revertDry, revertJSON bool
	revert := &cobra.Command{
		Use:   "revert",
		Short: "Restore the values recorded by apply and remove what --persist wrote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := tuner(cmd)
			if revertDry {
				p, err := t.PlanRevert()
				if err != nil {
					return tuneError(err)
				}
				return printPlan(cmd.OutOrStdout(), p, revertJSON, true)
			}
			if revertJSON {
				t.Out = nil
			}
			p, err := t.Revert(cmd.Context())
			if err != nil {
				return tuneError(err)
			}
			return printPlan(cmd.OutOrStdout(), p, revertJSON, false)
		},
	}
	revert.Flags().BoolVar(&revertDry, "dry-run", false, "print the plan and change nothing")
	revert.Flags().BoolVar(&revertJSON, "json", false, "print the plan as JSON (with --dry-run) or, after reverting, the plan that ran")

	status := &cobra.Command{
		Use:   "status",
		Short: "Show the applied profile and its recorded values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := tuner(cmd).Status()
			return tuneError(err)
		},
	}
	cmd.AddCommand(list, show, apply, revert, status)
	return cmd
}

// tuneError makes an unknown profile a usage error (exit 2); others exit 1.
func tuneError(err error) error {
	var up *tune.UnknownProfileError
	switch {
	case errors.As(err, &up):
		return &ExitError{Code: 2, Err: err}
	case errors.Is(err, tune.ErrNotRoot):
		return fmt.Errorf("%w (or use --dry-run to preview)", err)
	}
	return err
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
