package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRamdiskCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ramdisk",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop ramdisk is not built yet")
		},
	}
}
