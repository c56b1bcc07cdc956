package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/pitstop-go/pitstop/internal/buildcache"
	"github.com/pitstop-go/pitstop/internal/fleet"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modproxy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/systemd"
	"github.com/pitstop-go/pitstop/internal/version"
)

// defaultFleetDir is serve's store root: proxy/ and cache/ below it.
func defaultFleetDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/pitstop-serve"
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pitstop", "serve")
}

// fleetHandler routes one listener: /.pitstop says who we are, /cache/ is
// the build cache (a module path's first element needs a dot, so "cache"
// is no module), everything else the module proxy (with /sumdb/ and the
// toolchain modules), so GOPROXY=URL works unchanged.
func fleetHandler(id, cache, proxy http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == fleet.IdentityPath:
			service.SetRoute(w, "identity")
			id.ServeHTTP(w, r)
		case strings.HasPrefix(p, fleet.CachePrefix+"/"):
			http.StripPrefix(fleet.CachePrefix, cache).ServeHTTP(w, r)
		default:
			proxy.ServeHTTP(w, r)
		}
	})
}

func newFleetServeCmd() *cobra.Command {
	var pc proxyConfig
	var listen, token, cacheMax string
	var tf tlsFlags
	var sf statusFlag
	var noAnnounce bool
	var sy syncFlag
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the module proxy and the build cache on one port (for a classroom or a cluster)",
		Long: `serve runs the caching module proxy (with the checksum database and the Go
toolchains) and the shared build cache behind one listener and one store
directory (proxy/ and cache/ below --dir). The proxy answers at the root, so
GOPROXY=URL works unchanged; the cache answers under /cache/. GET /.pitstop
says it is pitstop; /healthz and /metrics are served once.

Clients set themselves up with "pitstop join URL" (or "pitstop join" alone,
which finds the server by DNS-SD on the LAN unless --no-announce).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkListen("--listen", listen); err != nil {
				return err
			}
			if err := tf.check(); err != nil {
				return err
			}
			if err := sf.check(); err != nil {
				return err
			}
			if err := sy.check(); err != nil {
				return err
			}
			root, err := proxyDirFlag(pc.dir)
			if err != nil {
				return err
			}
			cmax, err := parseMaxSize(cacheMax)
			if err != nil {
				return usageError("--cache-max-size: %v", err)
			}
			if token == "" {
				token = os.Getenv("PITSTOP_TOKEN")
			}
			ctx := cmd.Context()
			base, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			reg := prometheus.NewRegistry()
			pc.dir = filepath.Join(root, "proxy")
			ph, pst, err := pc.open(base, cmd, reg)
			if err != nil {
				return err
			}
			defer pst.Close()
			log := ph.Logger
			cst, err := store.Open(filepath.Join(root, "cache"), store.Options{MaxSize: cmax, NoSync: !sy.sync, Logger: log, CountBlocks: true})
			if err != nil {
				return err
			}
			defer cst.Close()
			ch := &buildcache.Server{Store: cst, Logger: log}
			for _, c := range ch.Collectors() {
				if err := reg.Register(c); err != nil {
					return err
				}
			}
			id := fleet.Identity{API: fleet.API, Version: version.Get().Version, Features: []string{"proxy", "sumdb", "toolchains", "cache"}}
			log.Info("pitstop serve stores", "dir", root, "proxy_bytes", pst.Usage().Bytes, "cache_bytes", cst.Usage().Bytes)
			ph.UseStats(modproxy.NewStats())
			srv := sf.apply(tf.apply(&service.Server{Name: "serve", Addr: listen, Logger: log, Registry: reg, AuthToken: token,
				Handler: fleetHandler(fleet.IdentityHandler(id), ch, ph)}), "pitstop serve",
				service.StatusPart{Stats: buildcache.NewStats(), Usage: cst.Usage, Prefix: fleet.CachePrefix + "/"},
				service.StatusPart{Stats: ph.Status, Usage: pst.Usage, Toolchains: modproxy.Toolchains(pst)})
			if !noAnnounce {
				fp, err := certFingerprint(tf.cert)
				if err != nil {
					return usageError("--tls-cert: %v", err)
				}
				srv.Ready = func(a net.Addr) { announce(ctx, log, a, fleet.TXT(id, fp)) }
			}
			return listenFlag(srv.Run(ctx))
		},
	}
	pc.serve = true
	f := c.Flags()
	f.StringVar(&pc.dir, "dir", defaultFleetDir(), "store directory (proxy/ and cache/ below it)")
	f.StringVar(&pc.upstream, "upstream", "", "GOPROXY list to fetch from, with the go command's ',' '|' direct off rules (default: go env GOPROXY)")
	f.StringVar(&pc.gosumdb, "gosumdb", "", "checksum database to verify against, as GOSUMDB takes it (default: go env GOSUMDB)")
	f.StringVar(&pc.maxSize, "proxy-max-size", "auto", "evict the proxy's least recently used files above this size, e.g. 20G (auto: 70% of the free disk plus what the store holds, measured at start; 0: unlimited)")
	f.StringVar(&cacheMax, "cache-max-size", "20G", "evict the build cache's least recently used objects above this size (0: unlimited)")
	f.StringVar(&pc.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&pc.listTTL, "list-ttl", 10*time.Minute, "refresh @v/list and @latest after this long")
	f.BoolVar(&pc.allowDirect, "allow-direct", false, "let \"direct\" in the upstream list fetch any module from its version control host")
	f.BoolVar(&pc.allowPrivateHosts, "allow-private-hosts", false, "allow direct fetches from hosts with private addresses")
	pc.limitFlags(f)
	sy.register(f)
	f.StringVar(&listen, "listen", "localhost:3000", "address to listen on (:3000 for the LAN: then set --auth-token, since whoever reaches it can write cache entries every client builds with)")
	f.StringVar(&token, "auth-token", "", "require this token from every client (default $PITSTOP_TOKEN; none: open)")
	f.BoolVar(&noAnnounce, "no-announce", false, "do not announce the server on the LAN (DNS-SD _pitstop._tcp over multicast DNS)")
	tf.register(f)
	sf.register(f)
	c.AddCommand(newFleetInstallCmd(), newUninstallServiceCmd("Stop and remove the pitstop-serve systemd service (the stores stay)", fleetUnitName))
	return c
}

const fleetUnitName = "pitstop-serve.service"

const fleetUnit = `[Unit]
Description=pitstop module proxy and build cache
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
DynamicUser=yes
CacheDirectory=pitstop-serve
# Optional: PITSTOP_TOKEN=... to require a token from clients.
EnvironmentFile=-/etc/pitstop/serve.env
Environment=HOME=/var/cache/pitstop-serve
Environment=PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
ExecStart={{.Exe}} serve --listen {{.Listen}} --dir /var/cache/pitstop-serve --cache-max-size {{.MaxSize}} --upstream "{{.Upstream}}" --log-format json
{{.Service}}

[Install]
WantedBy=multi-user.target
`

func newFleetInstallCmd() *cobra.Command {
	var listen, maxSize, upstream, unitDir string
	var pf planFlags
	c := &cobra.Command{
		Use:   "install-service [--dry-run] [--json]",
		Short: "Install and start the pitstop-serve systemd service (undo: uninstall-service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServerUnitFlags(listen, maxSize); err != nil {
				return err
			}
			upstream, err := unitUpstream(goenv.Load(cmd.Context()), upstream)
			if err != nil {
				return err
			}
			return pf.installServerUnit(cmd, unitDir, fleetUnitName, fleetUnit, listen, maxSize, map[string]string{"Upstream": upstream},
				"clients: pitstop join http://THIS-HOST"+portOf(listen))
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":3000", "address the service listens on")
	f.StringVar(&maxSize, "max-size", "20G", "size cap of the build cache")
	f.StringVar(&upstream, "upstream", "", "GOPROXY list to fetch from (default: go env GOPROXY)")
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	pf.register(f)
	return c
}

func portOf(listen string) string {
	if i := strings.LastIndex(listen, ":"); i >= 0 {
		return listen[i:]
	}
	return ""
}

// joinPaths is where join keeps its state: $XDG_CONFIG_HOME/pitstop.
func joinPaths() (fleet.Paths, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return fleet.Paths{}, fmt.Errorf("no configuration directory for the join state: %v (set HOME or XDG_CONFIG_HOME)", err)
	}
	return fleet.Paths{Dir: filepath.Join(d, "pitstop")}, nil
}

func newJoinCmd() *cobra.Command {
	var tokenFile, goPath string
	var browse time.Duration
	var pf planFlags
	c := &cobra.Command{
		Use:   "join [URL] [--token-file FILE] [--dry-run] [--json]",
		Short: "Point this machine's go command at a pitstop serve (GOPROXY first, GOCACHEPROG); undo: leave",
		Long: `join checks that URL answers as pitstop, then sets, with go env -w:

  GOPROXY=URL|<your previous GOPROXY>   (a server that is off falls through)
  GOCACHEPROG=<this binary> cache prog --server URL/cache

and records what it replaced so "pitstop leave" puts it back exactly. Without
URL it looks for a server on the LAN (DNS-SD _pitstop._tcp) for a few seconds.
A token is read from --token-file: it is copied to a private file that cache
prog reads, and put in GOPROXY's URL (the go command sends it only over https).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw string
			if len(args) == 1 {
				raw = args[0]
			} else {
				found, err := browseServers(cmd.Context(), browse)
				if err != nil {
					return err
				}
				switch len(found) {
				case 0:
					return usageError("no pitstop server answered on the LAN within %v: give its URL, pitstop join http://HOST:3000", browse)
				case 1:
					raw = found[0].URL
					fmt.Fprintln(cmd.ErrOrStderr(), "found "+describeFound(found[0]))
				default:
					var list []string
					for _, f := range found {
						list = append(list, describeFound(f))
					}
					return usageError("%d pitstop servers on the LAN: %s; choose one: pitstop join URL", len(found), strings.Join(list, ", "))
				}
			}
			server, err := fleet.NormalizeURL(raw)
			if err != nil {
				return usageError("%v", err)
			}
			var token string
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return usageError("--token-file: %v", err)
				}
				token = strings.TrimSpace(string(b))
				if token == "" {
					return usageError("--token-file %s is empty", tokenFile)
				}
				if strings.HasPrefix(server, "http://") {
					return usageError("the go command sends a token only over https: serve with --tls-cert/--tls-key and join https://...")
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			if _, err := fleet.Check(ctx, nil, server, token); err != nil {
				switch {
				case errors.Is(err, fleet.ErrTokenRefused):
					return usageError("%v: pass the server's token with --token-file", err)
				default:
					return usageError("%v", err)
				}
			}
			// The go command runs GOCACHEPROG as this user: this binary
			// where it is (not the copy units run).
			exe, err := os.Executable()
			if err == nil {
				exe, err = filepath.EvalSymlinks(exe)
			}
			if err != nil {
				return err
			}
			paths, err := joinPaths()
			if err != nil {
				return err
			}
			j := &fleet.Join{Server: server, Token: token, Exe: exe, Paths: paths, Go: fleet.GoCmd{Path: goPath}}
			p, err := j.Plan(cmd.Context())
			switch {
			case errors.Is(err, fleet.ErrGoTooOld):
				return usageError("%v: install go1.24 or later (pitstop go install) and join again", err)
			case errors.Is(err, fleet.ErrJoined):
				return usageError("%v: run pitstop leave first", err)
			case err != nil:
				return err
			}
			if p.Empty() && !pf.json {
				fmt.Fprintln(cmd.OutOrStdout(), "already joined "+server)
				return nil
			}
			return pf.run(cmd, p)
		},
	}
	f := c.Flags()
	f.StringVar(&tokenFile, "token-file", "", "read the server's token from this file")
	f.StringVar(&goPath, "go", "go", "the go command to set up")
	f.DurationVar(&browse, "browse", 3*time.Second, "without URL: how long to look for servers on the LAN")
	pf.register(f)
	return c
}

func newLeaveCmd() *cobra.Command {
	var goPath string
	var pf planFlags
	c := &cobra.Command{
		Use:   "leave [--dry-run] [--json]",
		Short: "Undo pitstop join: put GOPROXY and GOCACHEPROG back as they were",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			paths, err := joinPaths()
			if err != nil {
				return err
			}
			l := &fleet.Leave{Paths: paths, Go: fleet.GoCmd{Path: goPath}}
			p, err := l.Plan(cmd.Context())
			if err != nil {
				return err
			}
			if p.Empty() && !pf.json {
				fmt.Fprintln(cmd.OutOrStdout(), "not joined: nothing to undo")
				return nil
			}
			return pf.run(cmd, p)
		},
	}
	c.Flags().StringVar(&goPath, "go", "go", "the go command join set up")
	pf.register(c.Flags())
	return c
}

// browseServers finds servers on the LAN by DNS-SD.
func browseServers(ctx context.Context, d time.Duration) ([]fleet.Found, error) {
	found, err := fleet.Browse(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("%v: give the server's URL, pitstop join http://HOST:3000", err)
	}
	return found, nil
}

// describeFound is a found server's URL and, for TLS, the fingerprint it
// announced, to compare with the server's certificate.
func describeFound(f fleet.Found) string {
	if fp := f.TXT["tls"]; fp != "" {
		return f.URL + " (certificate " + fp + ")"
	}
	return f.URL
}

// announce announces a server bound to a on the LAN until ctx is done; a
// loopback listener is not announced (no one else could reach it), and a
// failure only costs the announcement.
func announce(ctx context.Context, log *slog.Logger, a net.Addr, txt []string) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() {
		log.Info("not announced on the LAN: the server listens on loopback only")
		return
	}
	ips := []net.IP{ta.IP}
	if ta.IP.IsUnspecified() {
		ips = fleet.LANAddrs()
	}
	if len(ips) == 0 {
		log.Warn("not announced on the LAN: no multicast interface with an IPv4 address")
		return
	}
	if err := fleet.Announce(ctx, fleet.Announcement{Port: ta.Port, IPs: ips, TXT: txt}); err != nil {
		log.Warn("not announced on the LAN", "err", err)
		return
	}
	log.Info("announced on the LAN", "service", fleet.Service, "addrs", fmt.Sprint(ips), "port", ta.Port)
}

// certFingerprint is the SHA-256 (hex) of the first certificate in a PEM
// file; "" for no file.
func certFingerprint(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s holds no PEM certificate", file)
	}
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:]), nil
}
