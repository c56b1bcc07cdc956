package cli

import (
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/service"
)

// statusFlag is --status, who may see a server's status page (/ and
// /api/status).
type statusFlag struct{ mode string }

func (s *statusFlag) register(f *pflag.FlagSet) {
	f.StringVar(&s.mode, "status", "token", "who may see the status page at / and /api/status: \"token\" (whoever may read) or \"public\" (anyone who can reach the server)")
}

func (s *statusFlag) check() error {
	switch s.mode {
	case "token", "public":
		return nil
	}
	return usageError("--status %q: want \"token\" (the status page needs the read token, if one is set) or \"public\"", s.mode)
}

// apply mounts the status page of parts on srv.
func (s *statusFlag) apply(srv *service.Server, title string, parts ...service.StatusPart) *service.Server {
	srv.Status = &service.StatusPage{Title: title, Parts: parts}
	srv.StatusPublic = s.mode == "public"
	return srv
}
