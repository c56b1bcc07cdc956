package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/plan"
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

// unitBinDir is where install-service copies pitstop when units cannot
// see the running binary (tests point it at a scratch directory).
var unitBinDir = systemd.BinDir

// pitstopExe is the path a systemd unit runs: this binary, with symbolic
// links resolved, or its copy in unitBinDir when units cannot see it
// (exeStep plans that copy).
func pitstopExe() (string, error) {
	exe, _, err := unitExe()
	return exe, err
}

// exeStep is the plan step that copies this binary where units can run it,
// or nil when they can run it where it is.
func exeStep() (*plan.Step, error) {
	_, step, err := unitExe()
	return step, err
}

func unitExe() (string, *plan.Step, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", nil, err
	}
	return systemd.Executable(exe, unitBinDir)
}

// tlsFlags are the --tls-cert/--tls-key pair both servers take.
type tlsFlags struct{ cert, key string }

func (t *tlsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", "", "serve HTTPS with this PEM certificate (with --tls-key); the go command sends a token only over HTTPS")
	f.StringVar(&t.key, "tls-key", "", "the PEM private key of --tls-cert")
}

// check refuses a bad pair before anything starts.
func (t *tlsFlags) check() error {
	err := service.CheckTLS(t.cert, t.key)
	switch {
	case errors.Is(err, service.ErrTLSPair):
		return usageError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	case err != nil:
		return usageError("--tls-cert/--tls-key: %v", err)
	}
	return nil
}

// checkListen refuses a malformed --listen (flag names it) before anything
// starts.
func checkListen(flag, addr string) error {
	if err := service.CheckAddr(addr); err != nil {
		return usageError("%s %q: %v", flag, addr, err)
	}
	return nil
}

// listenFlag names --listen in a server's failure to listen.
func listenFlag(err error) error {
	var le *service.ListenError
	if errors.As(err, &le) {
		return fmt.Errorf("listen on %s: %v (is another server using the port? choose another with --listen)", le.Addr, le.Err)
	}
	return err
}

func (t *tlsFlags) apply(s *service.Server) *service.Server {
	s.TLSCertFile, s.TLSKeyFile = t.cert, t.key
	return s
}
