package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDoctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop doctor is not built yet")
		},
	}
}
