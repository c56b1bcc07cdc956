package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/doctor"
	"github.com/pitstop-go/pitstop/internal/fleet"
	"github.com/pitstop-go/pitstop/internal/ramdisk"
	"github.com/pitstop-go/pitstop/internal/tune"
)

func newDoctorCmd() *cobra.Command {
	var cfg doctor.Config
	var color string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Diagnose Go on this machine: board, go, storage, network, cgo, kernel, gpu",
		Long: `doctor runs every check concurrently (each with its own timeout) and prints
one line per check: ✓ ok, ! warning, ✗ failure, - skipped, with a fix line
under each warning and failure. Exit status: 0 all ok, 1 warnings,
2 failures or bad usage.

--capture FILE.tar.gz saves every file the checks read and the probes of the
live host (page size, uname, syscalls, command outputs) for a bug report;
--root DIR|FILE.tar.gz replays such a capture (probes it lacks are skipped).`,
		Example: `  pitstop doctor
  pitstop doctor --only board,storage.gocache -v
  pitstop doctor --json > doctor.json
  pitstop doctor --capture doctor.tar.gz
  pitstop doctor --root doctor.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch color {
			case "auto":
				cfg.Color = isTerminal(cmd.OutOrStdout()) && os.Getenv("NO_COLOR") == ""
			case "always":
				cfg.Color = true
			case "never":
				cfg.Color = false
			default:
				return usageError("--color %q: want auto, always or never", color)
			}
			if cfg.Timeout <= 0 {
				return usageError("--timeout %v: want a positive duration such as 10s", cfg.Timeout)
			}
			if cfg.Capture != "" && cfg.List {
				return usageError("--capture and --list do not go together: --list runs nothing to capture")
			}
			profile := doctorProfile
			if cfg.Root == "" {
				profile = tune.ForHere(doctorProfile) // go-server-netns in a container
			}
			cfg.Tuning, cfg.RamdiskActive = doctorTuning(profile), ramdisk.Active
			if cfg.Root == "" {
				cfg.Fleet = doctorFleet()
			}
			code, err := cfg.Execute(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			var ue *doctor.UsageError
			if errors.As(err, &ue) {
				return doctorUsageError(ue)
			}
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.JSON, "json", false, "print the report as JSON (schema pitstop-doctor/v1)")
	f.StringSliceVar(&cfg.Only, "only", nil, "run only these check IDs or sections (comma-separated; see --list)")
	f.BoolVar(&cfg.List, "list", false, "list the checks (ID, section, title) and exit")
	f.BoolVarP(&cfg.Verbose, "verbose", "v", false, "print each check's details")
	f.StringVar(&cfg.Capture, "capture", "", "also write a capture of this run to `FILE.tar.gz`")
	f.StringVar(&cfg.Root, "root", "", "replay a capture (`DIR|FILE.tar.gz`) instead of this machine")
	f.DurationVar(&cfg.Timeout, "timeout", doctor.DefaultTimeout, "default timeout of each check")
	f.StringVar(&color, "color", "auto", "colour the report: auto (on a terminal, unless NO_COLOR is set), always, never")
	return cmd
}

// doctorUsageError words a doctor.UsageError with the flag of its setting
// and the hints of this command; it exits 2.
func doctorUsageError(ue *doctor.UsageError) error {
	var uc *doctor.UnknownCheckError
	switch {
	case ue.Setting == "Only" && errors.As(ue.Err, &uc):
		return usageError("%v: see `pitstop doctor --list` for the IDs and sections", uc)
	case ue.Setting == "Only":
		return usageError("--only %q %v (see `pitstop doctor --list`)", ue.Value, ue.Err)
	case ue.Setting == "Root" && (errors.Is(ue.Err, fs.ErrNotExist) || errors.Is(ue.Err, doctor.ErrNotCapture)):
		return usageError("--root %s: %v; give a capture directory or a .tar.gz written by `pitstop doctor --capture FILE.tar.gz`", ue.Value, ue.Err)
	case ue.Setting == "Root":
		return usageError("--root %s: %v; give a readable capture directory or .tar.gz", ue.Value, ue.Err)
	case ue.Setting == "Capture":
		return usageError("--capture %s: %v", ue.Value, ue.Err)
	}
	return &ExitError{Code: 2, Err: ue}
}

// doctorProfile is the tune profile the doctor's kernel checks recommend.
const doctorProfile = "go-server"

// doctorTuning hands the doctor the values of profile.
func doctorTuning(profile string) doctor.Tuning {
	t := doctor.Tuning{Profile: profile, Values: map[string]string{}}
	for k, s := range tune.Recommended(profile) {
		t.Values[k] = s.Value
	}
	return t
}

// doctorFleet hands the doctor this machine's join (pitstop join), read
// from the join state; nil when not joined.
func doctorFleet() *doctor.Fleet {
	paths, err := joinPaths()
	if err != nil {
		return nil
	}
	st, err := fleet.ReadState(paths.State())
	if err != nil || st == nil {
		return nil
	}
	var token string
	if st.TokenFile != "" {
		if b, err := os.ReadFile(st.TokenFile); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	return &doctor.Fleet{Server: st.Server, Identify: func(ctx context.Context) error {
		_, err := fleet.Check(ctx, nil, st.Server, token)
		return err
	}}
}
