package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newGoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "go",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop go is not built yet")
		},
	}
}
