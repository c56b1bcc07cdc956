package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newProxyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "proxy",
		Short: "(in progress)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("pitstop proxy is not built yet")
		},
	}
}
