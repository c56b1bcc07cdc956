package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/bench"
	"github.com/pitstop-go/pitstop/internal/host"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg      bench.Config
		asJSON   bool
		format   string
		htmlFile string
		rootDir  string
	)
	run := func(cmd *cobra.Command, which ...string) error {
		switch format {
		case "text", "json", "bench":
		default:
			return usageError("--format %q: want text, json or bench", format)
		}
		if asJSON {
			format = "json"
		}
		if f := cmd.Flags().Lookup("duration"); f != nil && f.Changed && cfg.SchedDuration <= 0 {
			return usageError("--duration %v: want a positive duration such as 30s", cfg.SchedDuration)
		}
		if rootDir != "" {
			cfg.Root = host.At(rootDir)
		}
		cfg.Log = cmd.ErrOrStderr()
		rep, err := bench.Run(cmd.Context(), cfg, which...)
		if err != nil {
			var ns *bench.NoSpaceError
			var de *bench.DirError
			if errors.As(err, &ns) || errors.As(err, &de) {
				return &ExitError{Code: 2, Err: err}
			}
			return err
		}
		if htmlFile != "" {
			if err := atomicfile.Write(htmlFile, 0o644, rep.WriteHTML); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", htmlFile)
		}
		out := cmd.OutOrStdout()
		switch format {
		case "json":
			return rep.WriteJSON(out)
		case "bench":
			return rep.WriteBench(out)
		}
		return rep.WriteText(out)
	}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure memory, the GC, module-cache storage and throughput under heat; compare two runs",
		Long: `pitstop bench measures what matters to Go on this board and records the board,
kernel, Go version, governor, temperature and throttle word at start and end:
  mem    STREAM copy/scale/add/triad bandwidth and pointer-chase latency
  gc     binary trees and map churn across GOGC, GOMEMLIMIT and GOMAXPROCS
  io     the module cache's workload on each --dir (default: the temp dir)
  sched  CPU-bound goroutines' throughput next to temperature and frequency
Without a subcommand it runs all four. --quick is a short pass. Results print
as a table; --json, --format bench (for benchstat) and --html FILE (charts in
one self-contained file) keep them; pitstop bench compare A.json B.json tells
what changed. See docs/bench.md.`,
		Args: groupArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&cfg.Quick, "quick", false, "a short pass: smaller arrays, fewer runs, shorter durations")
	pf.BoolVar(&asJSON, "json", false, "print the report as JSON (same as --format json)")
	pf.StringVar(&format, "format", "text", "output: text, json, or bench (Go benchmark format, for benchstat)")
	pf.StringVar(&htmlFile, "html", "", "also write the report with charts to this HTML `file`")
	pf.StringArrayVar(&cfg.Dirs, "dir", nil, "a `directory` for the io benchmark (repeat for several; default the temp dir)")
	pf.DurationVar(&cfg.SchedDuration, "duration", 0, "how long sched runs at each GOMAXPROCS (default 10s, 2s with --quick)")
	pf.StringVar(&rootDir, "root", "", "a directory standing for / (board, thermal and frequency files; for tests)")
	_ = pf.MarkHidden("root")

	for _, b := range []struct{ name, short string }{
		{bench.Mem, "Memory bandwidth (STREAM kernels) and latency (pointer chase) per GOMAXPROCS"},
		{bench.GC, "GC CPU, assist time, pauses and heap across GOGC, GOMEMLIMIT and GOMAXPROCS"},
		{bench.IO, "The module-cache workload (unpack, walk, random reads, fsync'd writes) per --dir"},
		{bench.Sched, "CPU-bound goroutines' throughput every 250ms next to temperature, frequency, throttle"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   b.name,
			Short: b.short,
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, b.name) },
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "compare A.json B.json",
		Short: "Compare two reports: medians, 95% confidence intervals, and whether a change is significant",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var reps [2]*bench.Report
			for i, name := range args {
				r, err := readReport(name)
				if err != nil {
					return usageError("%v", err)
				}
				reps[i] = r
			}
			return bench.Compare(cmd.OutOrStdout(), reps[0], reps[1])
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:    "gc-child",
		Short:  "Run one gc configuration (started by pitstop bench gc)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !bench.IsGCChild() {
				return usageError("gc-child is started by pitstop bench gc, not by hand")
			}
			return bench.RunGCChild(cmd.Context(), cmd.OutOrStdout())
		},
	})
	return cmd
}

func readReport(name string) (*bench.Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := bench.ReadReport(io.Reader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}
