package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/version"
)

// setVersion gives the root its --version flag: the same line as
// `pitstop version`.
func setVersion(root *cobra.Command) {
	root.Version = version.Get().String()
	root.SetVersionTemplate("{{.Version}}\n")
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print pitstop's version, commit, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := version.Get()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(in)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), in)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print it as a JSON object")
	return c
}
