package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCacheCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cache",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop cache is not built yet")
		},
	}
}
