package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

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
	exe, err := resolvedExe()
	if err != nil {
		return "", err
	}
	// Only the path: planning the copy compares the binaries, which every
	// command's help text (cache) must not pay for.
	return systemd.ExecutablePath(exe, unitBinDir), nil
}

// exeStep is the plan step that copies this binary where units can run it,
// or nil when they can run it where it is.
func exeStep() (*plan.Step, error) {
	_, step, err := unitExe()
	return step, err
}

func unitExe() (string, *plan.Step, error) {
	exe, err := resolvedExe()
	if err != nil {
		return "", nil, err
	}
	return systemd.Executable(exe, unitBinDir)
}

// resolvedExe is this binary's path with symbolic links resolved.
func resolvedExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(exe)
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

// limitFlags are the per-connection limits both servers take.
type limitFlags struct {
	progress time.Duration
	maxConns int
}

func (l *limitFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&l.progress, "progress-timeout", service.DefaultProgressTimeout,
		"cut off a request body or response that moves less than 32 KiB in this long (slow or stuck clients; 0: never)")
	f.IntVar(&l.maxConns, "max-conns", service.DefaultMaxConns, "serve at most this many connections at once; more wait (0: no cap)")
}

func (l *limitFlags) check() error {
	if l.progress < 0 {
		return usageError("--progress-timeout %v: want a positive duration such as 30s, or 0 for no limit", l.progress)
	}
	if l.maxConns < 0 {
		return usageError("--max-conns %d: want a count such as 512, or 0 for no cap", l.maxConns)
	}
	return nil
}

func (l *limitFlags) apply(s *service.Server) *service.Server {
	s.ProgressTimeout, s.MaxConns = l.progress, l.maxConns
	if l.progress == 0 {
		s.ProgressTimeout = -1
	}
	if l.maxConns == 0 {
		s.MaxConns = -1
	}
	return s
}

// tokenFrom resolves a server's or client's token: the file named by
// fileFlag (value file), else the environment variable env. Errors name the
// flag. A file others may read is worth a warning, returned in warn.
func tokenFrom(fileFlag, file, env string) (tok, warn string, err error) {
	if file == "" {
		return os.Getenv(env), "", nil
	}
	tok, err = service.ReadTokenFile(file)
	if err != nil {
		return "", "", usageError("%s %q: %v", fileFlag, file, err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		warn = fmt.Sprintf("%s %s can be read by other users (mode %v): chmod 600 it", fileFlag, file, fi.Mode().Perm())
	}
	return tok, warn, nil
}

// tokenOnCommandLine is the warning for a token given as a flag's value.
func tokenOnCommandLine(flag, fileFlag, env string) string {
	return fmt.Sprintf("%s puts the token on the command line, where any user of this machine can read it (ps); use %s or $%s", flag, fileFlag, env)
}
