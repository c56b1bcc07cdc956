package cli

import (
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/service"
)

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
