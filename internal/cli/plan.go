package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/plan"
	"github.com/pitstop-go/pitstop/internal/systemd"
)

// planFlags are --dry-run and --json of a command that changes the
// system: it builds a plan, then prints it or applies exactly it.
type planFlags struct{ dryRun, json bool }

func (pf *planFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&pf.dryRun, "dry-run", false, "print the plan: every change, from what to what; change nothing")
	f.BoolVar(&pf.json, "json", false, "print the plan as JSON (with a real run: the plan it carried out)")
}

// run prints p (--dry-run, as text or --json) or applies it: the title,
// a line per step done and the notes, or with --json the plan it applied.
func (pf *planFlags) run(cmd *cobra.Command, p *plan.Plan) error {
	out := cmd.OutOrStdout()
	switch {
	case pf.dryRun:
		return printPlan(out, p, pf.json, true)
	case pf.json:
		if err := p.Apply(cmd.Context(), nil); err != nil {
			return err
		}
		return printPlan(out, p, true, false)
	case p.Empty():
		return p.Write(out)
	}
	fmt.Fprintln(out, p.Title)
	if err := p.Apply(cmd.Context(), out); err != nil {
		return err
	}
	for _, n := range p.Notes {
		fmt.Fprintln(out, "note: "+n)
	}
	return nil
}

// printPlan prints a system change's plan: for a dry run the plan and that
// nothing changed; with asJSON the plan as JSON, dry or after it ran (the
// run itself printed its steps as it went).
func printPlan(w io.Writer, p *plan.Plan, asJSON, dry bool) error {
	switch {
	case asJSON:
		return p.JSON(w)
	case dry:
		if err := p.Write(w); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, "dry run: nothing changed")
		return err
	}
	return nil
}

// needRoot refuses a real run of cmd by another user: it changes what
// only root may (what says what).
func (pf *planFlags) needRoot(cmd *cobra.Command, what string) error {
	if pf.dryRun || os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("%s must run as root (it %s): try sudo, or --dry-run", cmd.CommandPath(), what)
}

// systemctl runs systemctl for the service commands; nil runs the real
// one when systemd is running (tests set a fake).
var systemctl func(args ...string) error

// installUnits plans writing units into unitDir and enabling the named
// ones, then runs the plan with notes added.
// checkServerUnitFlags checks an install-service's --listen and --max-size
// before anything else is read.
func checkServerUnitFlags(listen, maxSize string) error {
	if _, err := parseMaxSize(maxSize); err != nil {
		return usageError("--max-size: %v", err)
	}
	return checkListen("--listen", listen)
}

// installServerUnit is the rest of a server's install-service (proxy,
// cache, serve): it renders tmpl with Exe, Listen, MaxSize and Service added
// to vars, and installs and starts the one unit.
func (pf *planFlags) installServerUnit(cmd *cobra.Command, unitDir, name, tmpl, listen, maxSize string, vars map[string]string, notes ...string) error {
	exe, err := pitstopExe()
	if err != nil {
		return err
	}
	all := map[string]string{"Exe": exe, "Listen": listen, "MaxSize": maxSize, "Service": systemd.NetworkService}
	for k, v := range vars {
		all[k] = v
	}
	content, err := systemd.Render(tmpl, all)
	if err != nil {
		return err
	}
	return pf.installUnits(cmd, unitDir, []systemd.Unit{{Name: name, Content: content}}, []string{name}, notes...)
}

func (pf *planFlags) installUnits(cmd *cobra.Command, unitDir string, units []systemd.Unit, enable []string, notes ...string) error {
	in := &systemd.Installer{Dir: unitDir, Systemctl: systemctl}
	p, err := in.PlanInstall(units, enable...)
	if err != nil {
		return err
	}
	step, err := exeStep()
	if err != nil {
		return err
	}
	if step != nil { // first: the units run the copy
		p.Steps = append([]plan.Step{*step}, p.Steps...)
		notes = append(notes, step.Target+" stays after uninstall-service")
	}
	p.Notes = append(p.Notes, notes...)
	return pf.run(cmd, p)
}

// newUninstallServiceCmd is the `uninstall-service` of a service group:
// stop, disable and remove its units (what install-service wrote).
func newUninstallServiceCmd(short string, units ...string) *cobra.Command {
	var unitDir string
	var pf planFlags
	c := &cobra.Command{
		Use:   "uninstall-service [--dry-run] [--json]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.needRoot(cmd, "removes units from "+unitDir); err != nil {
				return err
			}
			in := &systemd.Installer{Dir: unitDir, Systemctl: systemctl}
			p, err := in.PlanRemove(units...)
			if err != nil {
				return err
			}
			return pf.run(cmd, p)
		},
	}
	f := c.Flags()
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	pf.register(f)
	return c
}
