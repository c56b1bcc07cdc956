package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/systemd"
	"github.com/pitstop-go/pitstop/internal/units"
)

// parseMaxSize parses a store's --max-size. 0 keeps its meaning for the
// command; a cap under 1 MiB is refused, since a bare number is bytes and
// "--max-size 10" would empty the store.
func parseMaxSize(s string) (int64, error) {
	const least = 1 << 20
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n > 0 && n < least {
		if t := strings.TrimSpace(s); strings.Trim(t, "0123456789.") == "" {
			return 0, fmt.Errorf("%q is %d bytes, too small for a store: a bare number is bytes; add a unit such as %sG", s, n, t)
		}
		return 0, fmt.Errorf("%q is %s, too small for a store: give at least %s", s, units.HumanSize(n), units.FormatSize(least))
	}
	return n, nil
}

// pitstopExe is the path a systemd unit runs: this binary, with symbolic
// links resolved.
func pitstopExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
}

// newUninstallServiceCmd is the `uninstall-service` of a service group:
// stop, disable and remove its units (what install-service wrote).
func newUninstallServiceCmd(short string, units ...string) *cobra.Command {
	var unitDir string
	var dryRun bool
	c := &cobra.Command{
		Use:   "uninstall-service",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := &systemd.Installer{Dir: unitDir, DryRun: dryRun, Out: cmd.OutOrStdout()}
			return in.Remove(units...)
		},
	}
	f := c.Flags()
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	f.BoolVar(&dryRun, "dry-run", false, "print what would change, change nothing")
	return c
}

// tlsFlags are the --tls-cert/--tls-key pair both servers take.
type tlsFlags struct{ cert, key string }

func (t *tlsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", "", "serve HTTPS with this PEM certificate (with --tls-key); the go command sends a token only over HTTPS")
	f.StringVar(&t.key, "tls-key", "", "the PEM private key of --tls-cert")
}

func (t *tlsFlags) apply(s *service.Server) *service.Server {
	s.TLSCertFile, s.TLSKeyFile = t.cert, t.key
	return s
}
