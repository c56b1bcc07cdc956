// Package service runs pitstop's long-running HTTP servers (proxy serve,
// cache serve) the same way: listen, /healthz, Prometheus /metrics, slog
// access logs, request metrics, optional token auth, conservative timeouts
// and graceful shutdown when the context is cancelled.
//
// A capability provides an http.Handler; the CLI fills a Server and calls
// Run:
//
//	srv := &service.Server{Name: "proxy", Addr: addr, Handler: h, Logger: log, Registry: reg}
//	return srv.Run(ctx)
//
// Inside the handler, SetRoute(w, "zip") labels the request's metrics and
// access-log line with a route from a small fixed set.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults used when the corresponding Server field is zero.
const (
	DefaultAddr            = "localhost:8080"
	DefaultShutdownTimeout = 10 * time.Second
	DefaultRoute           = "other"
)

// Server is a long-running HTTP service. Set the exported fields, then call
// Run once. The zero value of every field but Handler is usable.
type Server struct {
	// Name names the service in logs and metric names: metrics are
	// "pitstop_<Name>_http_...". "" means plain "pitstop_http_...". Use
	// lower case letters, digits and underscores ("proxy", "cache").
	Name string

	// Addr is the TCP address to listen on, as in net.Listen ("host:port";
	// port 0 picks a free one). "" means DefaultAddr. Ignored if Listener
	// is set.
	Addr string

	// Listener, if set, is served instead of listening on Addr. Run closes
	// it when it returns.
	Listener net.Listener

	// Handler serves every request except /healthz and /metrics.
	Handler http.Handler

	// Logger receives the access log (one Info record per request, skipped
	// cheaply when Info is disabled) and the server's own messages.
	// nil means slog.Default(). A NewLogger logger buffers the access
	// lines (written within 100 ms, and when Run returns) and formats them
	// without slog's per-record work.
	Logger *slog.Logger

	// Registry is where the request metrics are registered and what
	// /metrics serves, together with the Go and process collectors. Put the
	// capability's own metrics in it too. nil means a new registry.
	Registry *prometheus.Registry

	// AuthToken, if set, is required on every request except /healthz
	// (and accepted for every access level, as one token for everything):
	// as "Authorization: Bearer <token>" or as the password of HTTP basic
	// auth (any user name), so it also works from a GOPROXY URL
	// (https://user:token@host/) or .netrc; the go command sends either
	// only over HTTPS (see TLSCertFile). Refused requests get 401 with
	// WWW-Authenticate.
	AuthToken string

	// Tokens are separate read, write and admin tokens (see Tokens for
	// what a level without one allows), taken like AuthToken. A valid token
	// of too low a level gets 403.
	Tokens Tokens

	// Access says what a request needs; nil means every request is Read.
	// /metrics is Read; /healthz needs nothing.
	Access func(*http.Request) Access

	// OpenWrites lets clients on other machines write without a token
	// when no write or admin token is set. Off, such writes get 403 and
	// only this machine's clients may write.
	OpenWrites bool

	// ProgressTimeout bounds how long a request body or a response may
	// wait on its client without ProgressBytes moving; then the
	// connection is cut off (the handler's body read or write fails, and
	// its descriptors are released; a response's write, within a quarter
	// more). 0 means DefaultProgressTimeout; negative disables the limit.
	ProgressTimeout time.Duration

	// MaxConns caps the connections served at once; further clients wait
	// in the listen backlog until one closes. 0 means DefaultMaxConns;
	// negative means no cap.
	MaxConns int

	// TLSCertFile and TLSKeyFile, if both set, make the server speak
	// HTTPS with that certificate (PEM files, as for http.ListenAndServeTLS).
	// The go command sends credentials (GOPROXY=https://user:token@host,
	// .netrc) only over HTTPS, so a token on a LAN needs them.
	TLSCertFile, TLSKeyFile string

	// Route labels a request for metrics and the access log when the
	// handler did not call SetRoute. It must return one of a small fixed
	// set of values. nil labels every such request DefaultRoute.
	Route func(*http.Request) string

	// Status, if set, is served at StatusPath ("/") and StatusAPIPath
	// (the handler gets neither), behind the read token unless
	// StatusPublic; every request the Handler serves is recorded into its
	// parts' Stats, and requests refused for want of a token into its
	// events.
	Status *StatusPage

	// StatusPublic serves the status page and its JSON without a token.
	StatusPublic bool

	// Ready, if set, is called once with the bound address as soon as the
	// server is listening, before it serves (useful with port 0 in tests).
	Ready func(addr net.Addr)

	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after ctx is cancelled; then their connections are closed.
	// 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// ReadHeaderTimeout bounds reading a request's headers; 0 means 10s.
	// There is deliberately no write timeout: zips and cache objects stream
	// for as long as they take. Idle keep-alive connections close after 2
	// minutes.
	ReadHeaderTimeout time.Duration
}

// Run listens and serves until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish within
// ShutdownTimeout, and returns nil. It returns an error if it cannot listen,
// if the metrics cannot be registered, or if serving fails.
func (s *Server) Run(ctx context.Context) error {
	if s.Handler == nil {
		return errors.New("service: no Handler")
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := s.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg, s.Name)
	if err != nil {
		return err
	}
	h := s.wrap(log, m, reg)

	tlsConfig, err := loadTLS(s.TLSCertFile, s.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("TLSCertFile %q, TLSKeyFile %q: %w", s.TLSCertFile, s.TLSKeyFile, err)
	}

	ln := s.Listener
	if ln == nil {
		addr := s.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		if err := CheckAddr(addr); err != nil {
			return fmt.Errorf("listen address %q: %w", addr, err)
		}
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return &ListenError{Addr: addr, Err: err}
		}
	}
	ln = newLimitListener(ln, defaulted(s.MaxConns, DefaultMaxConns), s.progressTimeout())
	rht := s.ReadHeaderTimeout
	if rht == 0 {
		rht = 10 * time.Second
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: rht,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	name := "pitstop"
	if s.Name != "" {
		name += " " + s.Name
	}
	log.Info(name+" listening", "addr", ln.Addr().String(), "auth", s.AuthToken != "" || s.Tokens.any(), "tls", tlsConfig != nil,
		"progress_timeout", s.progressTimeout().String(), "max_conns", defaulted(s.MaxConns, DefaultMaxConns))
	if !loopback(ln.Addr()) {
		if s.AuthToken == "" && s.Tokens.Read == "" {
			log.Warn(name + " is open to the network without a read token: anyone who can reach " + ln.Addr().String() + " can read from it")
		}
		if s.Access != nil && s.AuthToken == "" && s.Tokens.Write == "" && s.Tokens.Admin == "" {
			if s.OpenWrites {
				log.Warn(name + " accepts uploads from anyone who can reach " + ln.Addr().String() + " (open writes): any of them can change what the others receive")
			} else {
				log.Info(name + " has no write token: it accepts uploads only from this machine")
			}
		}
	}
	if s.Ready != nil {
		s.Ready(ln.Addr())
	}
	// Started: the pages of the binary that only starting needed go.
	if n, err := releaseStartupPages(); err != nil {
		log.Debug("releasing start-up pages", "err", err)
	} else {
		log.Debug("released start-up pages", "bytes", n)
	}

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		flushLog(log)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = DefaultShutdownTimeout
	}
	log.Info(name+" shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-errc // http.ErrServerClosed
	flushLog(log)
	if err != nil {
		hs.Close()
		log.Warn(name+" closed requests still running at the shutdown timeout", "timeout", timeout.String())
	} else {
		log.Info(name + " stopped")
	}
	return nil
}

// progressTimeout is ProgressTimeout with its default; 0 means no limit.
func (s *Server) progressTimeout() time.Duration {
	switch {
	case s.ProgressTimeout < 0:
		return 0
	case s.ProgressTimeout == 0:
		return DefaultProgressTimeout
	}
	return s.ProgressTimeout
}

// defaulted is v, or def when v is 0; negative means none (0).
func defaulted(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// CheckAddr reports whether addr is a listen address (HOST:PORT, :PORT),
// with an error that says how to write one; a CLI calls it to refuse a bad
// flag before starting anything, and names the flag.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port) // a number up to 65535, or a service name
	}
	if err != nil {
		return fmt.Errorf("%v: want HOST:PORT such as 127.0.0.1:9186 (or :9186 for every interface)", err)
	}
	return nil
}

// ListenError is a listen address Run could not listen on (in use, say).
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen on %s: %v (is another server using the port? choose another address)", e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ErrTLSPair is CheckTLS's answer to a certificate without its key, or a
// key without its certificate.
var ErrTLSPair = errors.New("a certificate and its key go together: give both, or neither for plain HTTP")

// CheckTLS reports whether certFile and keyFile (both "", or PEM files of
// a certificate chain and its private key) make a TLS configuration, as
// TLSCertFile and TLSKeyFile; a CLI calls it to refuse bad flags before
// starting anything, and names the flags.
func CheckTLS(certFile, keyFile string) error {
	_, err := loadTLS(certFile, keyFile)
	return err
}

// loadTLS returns the TLS configuration of certFile and keyFile; nil when
// both are "".
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, ErrTLSPair
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%v (want PEM files: the certificate chain and its private key)", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// loopback reports whether a listener's address accepts only local
// connections (127.0.0.0/8 or ::1).
func loopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
