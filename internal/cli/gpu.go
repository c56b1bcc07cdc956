package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/gpu"
)

func newGPUCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gpu",
		Short: "What this board's GPU offers to compute through Vulkan, and where it beats the CPU",
		Long: `gpu asks Vulkan what the GPU offers to compute (info) and measures SAXPY and
SGEMM compute shaders against Go on the CPU (bench). The Vulkan calls live in
the companion command pitstop-gpu (built with cgo), found next to pitstop or on
PATH; pitstop itself stays static and runs on boards with no Vulkan.

Exit status: 0 done, 1 a Vulkan call failed or a bench result differed from
the CPU's beyond the tolerance, 2 bad usage, 3 no Vulkan here (no companion,
no loader or no driver: the message says how to get it).`,
	}
	cmd.AddCommand(newGPUInfoCmd(), newGPUBenchCmd())
	return cmd
}

func newGPUInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Vulkan loader and instance, devices, queue families, memory and compute limits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := gpu.Companion{}.Info(cmd.Context())
			if err != nil {
				return gpuError(cmd.OutOrStdout(), asJSON, err)
			}
			if asJSON {
				return writeGPUJSON(cmd.OutOrStdout(), gpu.Reply{Schema: gpu.Schema, Info: info})
			}
			return gpu.WriteInfo(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the answer as JSON (schema pitstop-gpu/v1)")
	return cmd
}

func newGPUBenchCmd() *cobra.Command {
	var asJSON, quick bool
	var saxpy, sgemm string
	cfg := gpu.DefaultBenchConfig()
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "SAXPY and SGEMM on the GPU (upload, dispatch, read-back) against Go on the CPU",
		Example: `  pitstop gpu bench
  pitstop gpu bench --quick
  pitstop gpu bench --saxpy 65536,1048576 --sgemm 128,256 --reps 9 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if quick {
				q := gpu.QuickBenchConfig()
				if !cmd.Flags().Changed("saxpy") {
					cfg.SAXPYSizes = q.SAXPYSizes
				}
				if !cmd.Flags().Changed("sgemm") {
					cfg.SGEMMSizes = q.SGEMMSizes
				}
				if !cmd.Flags().Changed("reps") {
					cfg.Reps = q.Reps
				}
			}
			var err error
			if cmd.Flags().Changed("saxpy") {
				if cfg.SAXPYSizes, err = sizeList("--saxpy", saxpy); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("sgemm") {
				if cfg.SGEMMSizes, err = sizeList("--sgemm", sgemm); err != nil {
					return err
				}
			}
			if err := cfg.Check(); err != nil {
				return usageError("%v (see pitstop gpu bench --help)", err)
			}
			b, err := gpu.Companion{}.Bench(cmd.Context(), cfg)
			if err != nil {
				return gpuError(cmd.OutOrStdout(), asJSON, err)
			}
			if asJSON {
				err = writeGPUJSON(cmd.OutOrStdout(), gpu.Reply{Schema: gpu.Schema, Bench: b})
			} else {
				err = gpu.WriteBench(cmd.OutOrStdout(), b)
			}
			if err == nil && !b.OK {
				return &ExitError{Code: gpu.ExitFailed, Err: fmt.Errorf("GPU results differ from the CPU's by more than relative error %g", b.Tolerance)}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the answer as JSON (schema pitstop-gpu/v1)")
	f.BoolVar(&quick, "quick", false, "small sizes and 3 runs each: seconds, not minutes")
	f.StringVar(&saxpy, "saxpy", "", "SAXPY sizes, comma-separated element counts (default 1024 to 4194304)")
	f.StringVar(&sgemm, "sgemm", "", "SGEMM sizes, comma-separated matrix orders (default 16 to 512)")
	f.IntVar(&cfg.Reps, "reps", cfg.Reps, "timed runs per size (the median is reported)")
	f.Float64Var(&cfg.Tolerance, "tolerance", cfg.Tolerance, "largest relative error accepted against the CPU's result")
	return cmd
}

// sizeList parses a flag's comma-separated list of whole numbers.
func sizeList(flag, s string) ([]int, error) {
	v, err := gpu.ParseSizes(s)
	if err != nil {
		return nil, usageError("%s: %v", flag, err)
	}
	return v, nil
}

// gpuError turns a companion's problem into one line (or, with --json,
// the reply) and the documented exit code: 3 when there is no Vulkan
// here, 1 otherwise.
func gpuError(stdout io.Writer, asJSON bool, err error) error {
	code := gpu.ExitFailed
	if gpu.IsUnavailable(err) {
		code = gpu.ExitUnavailable
	}
	var ge *gpu.Error
	if asJSON && errors.As(err, &ge) {
		if werr := writeGPUJSON(stdout, gpu.Reply{Schema: gpu.Schema, Problem: &ge.Problem}); werr != nil {
			return werr
		}
	}
	return &ExitError{Code: code, Err: err}
}

func writeGPUJSON(w io.Writer, rep gpu.Reply) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
