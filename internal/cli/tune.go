package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newTuneCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tune",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop tune is not built yet")
		},
	}
}
