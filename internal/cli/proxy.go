package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/goversion"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/systemd"
	"github.com/pitstop-go/pitstop/internal/units"
)

func newProxyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "proxy",
		Short: "A caching Go module proxy for a house, a classroom or a fleet of boards",
		Long: `pitstop proxy serves the GOPROXY protocol and the checksum database from a local
store, fetching misses from your upstream (go env GOPROXY) and verifying every
zip against the checksum database before keeping it. Point clients at it:

  go env -w GOPROXY=http://HOST:3000

"warm" fills it with a project's whole module graph so a room can go offline.`,
	}
	c.AddCommand(newProxyServeCmd(), newProxyGCCmd(), newProxyWarmCmd(),
		newProxyInstallCmd(), newProxyPolicyCmd(), newProxyVulnDBCmd(), newUninstallServiceCmd("Stop and remove the pitstop-proxy systemd service (the store stays)", proxyUnitName))
	return c
}

// defaultProxyDir is the store: /var/cache/pitstop-proxy for root (as the
// systemd unit uses), else $XDG_CACHE_HOME/pitstop/proxy.
func defaultProxyDir() string { return serviceDir("/var/cache/pitstop-proxy", "proxy") }

// serviceDir is rootDir for root (as the systemd units use), else
// $XDG_CACHE_HOME/pitstop/name; "" when neither $HOME nor $XDG_CACHE_HOME
// is set.
func serviceDir(rootDir, name string) string {
	if os.Geteuid() == 0 {
		return rootDir
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pitstop", name)
}

func proxyDirFlag(dir string) (string, error) {
	if dir == "" {
		return "", usageError("no store directory: $HOME and $XDG_CACHE_HOME are unset; pass --dir")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usageError("--dir %q: %v", dir, err)
	}
	return abs, nil
}

// proxyConfig is what serve and warm share: flags to a handler.
type proxyConfig struct {
	dir, upstream, gosumdb, maxSize, logFormat string
	listTTL, abandonGrace                      time.Duration
	maxZipFiles, maxZipFetches, maxMetaFetches int
	// serve-only: clients choose module paths, so direct is limited
	// unless these allow it.
	serve, allowDirect, allowPrivateHosts bool
	fleet                                 fleetFlags
}

func (pc *proxyConfig) flags(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&pc.dir, "dir", defaultProxyDir(), "store directory")
	f.StringVar(&pc.upstream, "upstream", "", "GOPROXY list to fetch from, with the go command's ',' '|' direct off rules (default: go env GOPROXY)")
	f.StringVar(&pc.gosumdb, "gosumdb", "", "checksum database to verify against, as GOSUMDB takes it (default: go env GOSUMDB)")
	f.StringVar(&pc.maxSize, "max-size", "auto", "evict least recently used files above this size, e.g. 20G (auto: 70% of the free disk plus what the store holds, measured at start; 0: unlimited)")
	f.StringVar(&pc.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&pc.listTTL, "list-ttl", modproxy.DefaultListTTL, "refresh @v/list and @latest after this long (stale copies answer while the upstream is down)")
	pc.fleet.add(f)
	pc.limitFlags(f)
}

// limitFlags registers the upstream-fetch limits, for every command that
// serves or warms the proxy (proxy serve, proxy warm, pitstop serve).
func (pc *proxyConfig) limitFlags(f *pflag.FlagSet) {
	f.IntVar(&pc.maxZipFiles, "max-zip-files", modfetch.DefaultMaxZipFiles, "refuse module zips with more files (counted before the zip is checked)")
	f.IntVar(&pc.maxZipFetches, "max-zip-fetches", modproxy.DefaultMaxZipFetches, "zips fetched and verified at once (more wait their turn)")
	f.IntVar(&pc.maxMetaFetches, "max-fetches", modproxy.DefaultMaxMetaFetches, "other files (.mod, .info, lists) fetched at once")
	f.DurationVar(&pc.abandonGrace, "abandon-grace", modproxy.DefaultAbandonGrace, "cancel a zip fetch this long after its last client left (0: never)")
}

// autoMaxSizeShare is the part of (free disk + the store's own bytes) the
// default --max-size takes: 70%, so that with the direct-fetch cache (a
// quarter of the cap) the proxy leaves an eighth of the disk free.
const autoMaxSizeShare = 0.7

// checkFlags refuses bad values of the flags serve and warm share, before
// anything is opened or created.
func (pc *proxyConfig) checkFlags() error {
	switch {
	case pc.listTTL < 0:
		return usageError("--list-ttl %v: negative; give a duration such as 1m (0: the default, %v)", pc.listTTL, modproxy.DefaultListTTL)
	case pc.abandonGrace < 0:
		return usageError("--abandon-grace %v: negative; give a duration such as 10s", pc.abandonGrace)
	case pc.maxZipFiles < 1:
		return usageError("--max-zip-files %d: give a positive count such as %d", pc.maxZipFiles, modfetch.DefaultMaxZipFiles)
	case pc.maxZipFetches < 1:
		return usageError("--max-zip-fetches %d: give a positive count such as %d", pc.maxZipFetches, modproxy.DefaultMaxZipFetches)
	case pc.maxMetaFetches < 1:
		return usageError("--max-fetches %d: give a positive count such as %d", pc.maxMetaFetches, modproxy.DefaultMaxMetaFetches)
	}
	if pc.upstream != "" {
		list, err := goenv.ParseProxyList(pc.upstream)
		if err != nil {
			return usageError("--upstream: %v", err)
		}
		for _, p := range list {
			if p.Direct() || p.Off() {
				continue
			}
			u, err := url.Parse(p.URL)
			if err != nil || u.Host == "" && u.Scheme != "file" {
				return usageError("--upstream %q: an entry names no host; want URLs such as http://HOST:PORT", pc.upstream)
			}
		}
	}
	return nil
}

// checkWritable refuses a store directory this process cannot write: the
// directory itself, or, if it does not exist yet, the nearest existing
// parent that will hold it. Nothing is created.
func checkWritable(dir string) error {
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return usageError("--dir %s: %s is not a directory; choose a directory for the store", dir, p)
			}
			if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
				return usageError("--dir %s: %s is not writable (%v); choose a directory this user can write, or fix its permissions or mount", dir, p, err)
			}
			return nil
		}
		if errors.Is(err, unix.ENOTDIR) {
			return usageError("--dir %s: a parent of it is not a directory; choose a directory for the store", dir)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return usageError("--dir %s: %v", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// autoMaxSize is the default cap: autoMaxSizeShare of the bytes available
// on dir's filesystem plus what the store already holds.
func autoMaxSize(dir string, stored int64) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	return max(int64(float64(avail+stored)*autoMaxSizeShare), 1<<20), nil
}

// open builds the store and handler.
func (pc *proxyConfig) open(ctx context.Context, cmd *cobra.Command, reg prometheus.Registerer) (*modproxy.Handler, *store.Disk, error) {
	d, err := proxyDirFlag(pc.dir)
	if err != nil {
		return nil, nil, err
	}
	auto := strings.TrimSpace(pc.maxSize) == "auto"
	var max int64
	if !auto {
		if max, err = parseMaxSize(pc.maxSize); err != nil {
			return nil, nil, usageError("--max-size: %v", err)
		}
	}
	if err := pc.checkFlags(); err != nil {
		return nil, nil, err
	}
	log, err := service.NewLogger(pc.logFormat, cmd.ErrOrStderr())
	if err != nil {
		return nil, nil, usageError("--log-format: %v", err)
	}
	env := goenv.Load(ctx)
	if pc.upstream != "" {
		env["GOPROXY"] = pc.upstream
	}
	if pc.gosumdb != "" {
		env["GOSUMDB"] = pc.gosumdb
	}
	proxies, err := env.Proxies()
	if err != nil {
		if pc.upstream != "" {
			return nil, nil, usageError("--upstream: %v", err)
		}
		return nil, nil, fmt.Errorf("%v (or pass --upstream)", err)
	}
	if _, err := env.SumDB(); err != nil && !errors.Is(err, goenv.ErrSumDBOff) {
		if pc.gosumdb != "" {
			return nil, nil, usageError("--gosumdb: %v", err)
		}
		return nil, nil, fmt.Errorf("%v (fix with go env -w GOSUMDB=... or pass --gosumdb)", err)
	}
	var st *store.Disk
	fl, err := pc.fleet.open(ctx, log, func(key string) { st.Delete(context.Background(), key) })
	if err != nil {
		return nil, nil, err
	}
	if err := checkWritable(d); err != nil {
		fl.close()
		return nil, nil, err
	}
	st, err = store.Open(d, store.Options{MaxSize: max, Logger: log, CountBlocks: true})
	if err != nil {
		return nil, nil, err
	}
	if auto {
		if max, err = autoMaxSize(d, st.Usage().Bytes); err != nil {
			return nil, nil, fmt.Errorf("sizing the store's default cap: %v (pass --max-size)", err)
		}
		st.SetMaxSize(max)
		log.Info("pitstop proxy store cap", "max", units.HumanSize(max), "rule", "70% of the free disk plus what the store holds (--max-size auto)")
	}
	token := make([]byte, 12)
	rand.Read(token)
	loop := hex.EncodeToString(token)
	f := &modfetch.Fetcher{
		Header:    http.Header{modproxy.LoopHeader: {loop}},
		Env:       env,
		Proxies:   proxies,
		DirectDir: filepath.Join(d, ".direct"),
		SumDBDir:  filepath.Join(d, ".sumdb-client"),
		Logger:    log,

		MaxZipFiles: pc.maxZipFiles,

		DirectNoProxyOnly:     pc.serve && !pc.allowDirect,
		DirectPublicHostsOnly: pc.serve && !pc.allowPrivateHosts,
	}
	if max > 0 {
		// The VCS clones of direct fetches sit outside the store: bound
		// them by a quarter of its cap (at most the default 1 GiB).
		f.DirectMaxSize = min(modfetch.DefaultDirectMaxSize, max/4)
	}
	if err := fl.register(reg); err != nil {
		return nil, nil, err
	}
	grace := pc.abandonGrace
	if grace == 0 {
		grace = -1 // 0 on the command line: never cancel
	}
	h := &modproxy.Handler{Fetcher: f, Store: fl.tier(st, modproxy.MutableKey, log), Coord: fl.coord, Logger: log, Registry: reg, ListTTL: pc.listTTL, BaseContext: ctx, LoopToken: loop,
		MaxZipFetches: pc.maxZipFetches, MaxMetaFetches: pc.maxMetaFetches, AbandonGrace: grace}
	if err := h.Init(); err != nil {
		return nil, nil, err
	}
	return h, st, nil
}

func newProxyServeCmd() *cobra.Command {
	var pc proxyConfig
	var listen, token, tokenFile, memLimit, policyPath string
	var tf tlsFlags
	var lf limitFlags
	var sf statusFlag
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the caching module proxy",
		Long: `serve answers the GOPROXY protocol (and /sumdb/NAME/ for the checksum database)
on --listen. The default, localhost:3000, is for this machine only; for a LAN
use --listen :3000 and, on each client:

  go env -w GOPROXY=http://HOST:3000

With --auth-token-file (or $PITSTOP_PROXY_TOKEN) clients must send the token, as
"Authorization: Bearer TOKEN" or as the basic-auth password (/healthz stays
open). The go command sends credentials only over https, never to an http://
GOPROXY, so for go clients add --tls-cert and --tls-key (or put a TLS reverse
proxy in front) and use GOPROXY=https://user:TOKEN@HOST:3000 (or a .netrc
entry for HOST); clients of a self-signed certificate set SSL_CERT_FILE.

Clients choose module paths, so serve fetches "direct" (from version control,
with the go command) only the modules GOPRIVATE/GONOPROXY match, and never
from a host that is an IP address or resolves to a loopback, link-local or
private address; --allow-direct and --allow-private-hosts lift these limits.
A checksum-database lookup for a GOPRIVATE/GONOSUMDB path is answered here,
never forwarded.`,
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
			if err := lf.check(); err != nil {
				return err
			}
			memMax, err := units.ParseSize(memLimit)
			if err != nil || memMax < 0 {
				return usageError("--memory-limit %q: want a size such as 40M (0: none)", memLimit)
			}
			if file, ok := policyFile(policyPath); ok {
				// A bad policy is refused before the store is opened
				// (or created); attachPolicy reads it again to serve.
				if _, _, err := policy.Load(file); err != nil {
					return usageError("--policy: %v", err)
				}
			}
			var tokenWarn string
			if cmd.Flags().Changed("auth-token") {
				tokenWarn = tokenOnCommandLine("--auth-token", "--auth-token-file", "PITSTOP_PROXY_TOKEN")
			} else {
				if token, tokenWarn, err = tokenFrom("--auth-token-file", tokenFile, "PITSTOP_PROXY_TOKEN"); err != nil {
					return err
				}
			}
			if memMax > 0 && (cmd.Flags().Changed("memory-limit") || os.Getenv("GOMEMLIMIT") == "") {
				// A soft limit: the garbage collector works harder near it
				// instead of letting garbage double the heap.
				debug.SetMemoryLimit(memMax)
			}
			ctx := cmd.Context()
			// Upstream fetches outlive SIGTERM until the server has drained,
			// so clients waiting on a zip still get it.
			base, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			reg := prometheus.NewRegistry()
			h, st, err := pc.open(base, cmd, reg)
			if err != nil {
				return err
			}
			defer st.Close()
			stopPolicy, err := attachPolicy(base, policyPath, h, reg, h.Logger)
			if err != nil {
				return err
			}
			defer stopPolicy()
			log := h.Logger
			if tokenWarn != "" {
				log.Warn(tokenWarn)
			}
			u := st.Usage()
			log.Info("pitstop proxy store", "dir", st.Dir(), "bytes", u.Bytes, "objects", u.Objects, "max", u.MaxSize)
			h.UseStats(modproxy.NewStats())
			srv := sf.apply(tf.apply(lf.apply(&service.Server{Name: "proxy", Addr: listen, Handler: h, Logger: log, Registry: reg, AuthToken: token})), "pitstop proxy", service.StatusPart{Stats: h.Status, Usage: st.Usage, Toolchains: modproxy.Toolchains(st)})
			return listenFlag(srv.Run(ctx))
		},
	}
	pc.flags(c)
	pc.serve = true
	f := c.Flags()
	f.BoolVar(&pc.allowDirect, "allow-direct", false, "let \"direct\" in the upstream list fetch any module from its version control host (default: only GOPRIVATE/GONOPROXY modules)")
	f.BoolVar(&pc.allowPrivateHosts, "allow-private-hosts", false, "allow direct fetches of modules whose host is an IP address or resolves to a loopback, link-local or private address")
	f.StringVar(&listen, "listen", "localhost:3000", "address to listen on (:3000 for the LAN)")
	f.StringVar(&token, "auth-token", "", "require this token as bearer or basic-auth password (visible in ps: prefer --auth-token-file or $PITSTOP_PROXY_TOKEN; none: open)")
	f.StringVar(&tokenFile, "auth-token-file", "", "require the token in this file (default $PITSTOP_PROXY_TOKEN)")
	f.StringVar(&memLimit, "memory-limit", "40M", "soft memory limit for the Go runtime: collect garbage harder near it (default unless $GOMEMLIMIT is set; 0: none)")
	tf.register(f)
	lf.register(f)
	sf.register(f)
	policyFlag(c, &policyPath)
	return c
}

func newProxyGCCmd() *cobra.Command {
	var dir, maxSize string
	var ff fleetFlags
	c := &cobra.Command{
		Use:   "gc --max-size SIZE",
		Short: "Evict least recently used files until the store holds at most SIZE",
		Long: `gc evicts least recently used files from the proxy's store until it holds at
most --max-size. With --store s3://BUCKET/PREFIX it collects the shared bucket
down to --fleet-max-size (ordered by last use across the fleet with --redis,
which also keeps it from running while a replica collects; by upload time
without), and --max-size, if given, trims this machine's local tier (--dir).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ff.store != "" {
				return proxyGCShared(cmd, &ff, dir, maxSize)
			}
			if cmd.Flags().Changed("fleet-max-size") {
				return usageError("--fleet-max-size needs --store s3://BUCKET/PREFIX (without it, --max-size caps --dir)")
			}
			if maxSize == "" {
				return usageError("gc needs --max-size, e.g. --max-size 10G (0 empties the store)")
			}
			max, err := parseMaxSize(maxSize)
			if err != nil {
				return usageError("--max-size: %v", err)
			}
			d, err := proxyDirFlag(dir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(d); err != nil {
				return fmt.Errorf("store %s: %v (pass the proxy's --dir)", d, err)
			}
			return proxyGCDir(cmd, d, max)
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", defaultProxyDir(), "store directory (with --store: this machine's local tier)")
	f.StringVar(&maxSize, "max-size", "", "keep at most this much in --dir, e.g. 10G")
	ff.add(f)
	return c
}

// proxyGCDir trims the disk store in d to max bytes and empties its
// direct-fetch module cache.
func proxyGCDir(cmd *cobra.Command, d string, max int64) error {
	st, err := store.Open(d, store.Options{CountBlocks: true})
	if err != nil {
		return err
	}
	before := st.Usage()
	if err := st.Trim(cmd.Context(), max); err != nil {
		return err
	}
	after := st.Usage()
	printTrim(cmd, d, before, after)
	// The direct-fetch module cache (VCS clones of GOPRIVATE
	// modules) is outside the store's count: gc empties it; the next
	// direct fetch clones again.
	direct := filepath.Join(d, ".direct", "modcache")
	if n, err := removeTree(direct); err != nil {
		return fmt.Errorf("direct-fetch cache %s: %v", direct, err)
	} else if n > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: removed the direct-fetch module cache (%s)\n", direct, units.HumanSize(n))
	}
	return nil
}

func printTrim(cmd *cobra.Command, what string, before, after store.Usage) {
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d files, %s -> %d files, %s (evicted %d files, %s)\n",
		what, before.Objects, units.HumanSize(before.Bytes), after.Objects, units.HumanSize(after.Bytes),
		before.Objects-after.Objects, units.HumanSize(before.Bytes-after.Bytes))
}

// proxyGCShared collects the bucket behind --store down to
// --fleet-max-size, and the local tier down to --max-size if given.
func proxyGCShared(cmd *cobra.Command, ff *fleetFlags, dir, maxSize string) error {
	fleetGiven := cmd.Flags().Changed("fleet-max-size")
	if !fleetGiven && maxSize == "" {
		return usageError("gc with --store needs --fleet-max-size (the bucket's cap, e.g. 100G) and/or --max-size (this machine's local tier)")
	}
	var localMax int64
	var d string
	if maxSize != "" {
		var err error
		if localMax, err = parseMaxSize(maxSize); err != nil {
			return usageError("--max-size: %v", err)
		}
		if d, err = proxyDirFlag(dir); err != nil {
			return err
		}
	}
	fleetMax, err := parseMaxSize(ff.maxSize)
	if err != nil {
		return usageError("--fleet-max-size: %v", err)
	}
	ff.maxSize = "0" // open's cap evicts on writes; gc trims below
	fl, err := ff.open(cmd.Context(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer fl.close()
	if fleetGiven {
		before := fl.remote.Usage()
		if err := fl.remote.Trim(cmd.Context(), fleetMax); err != nil {
			return fmt.Errorf("%s: %w", ff.store, err)
		}
		printTrim(cmd, ff.store, before, fl.remote.Usage())
	}
	if d != "" {
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("local tier %s: %v (pass the replica's --dir)", d, err)
		}
		return proxyGCDir(cmd, d, localMax)
	}
	return nil
}

func newProxyWarmCmd() *cobra.Command {
	var pc proxyConfig
	var proxyURL, platforms string
	c := &cobra.Command{
		Use:   "warm [DIR|go.mod|module@version ...]",
		Short: "Fetch module graphs (and their toolchains) into the proxy, for offline use",
		Long: `warm fetches every module a project needs, and the Go toolchain its go.mod names,
into the proxy's store. With --proxy it fills a running proxy; otherwise it
opens --dir itself (a running server on the same --dir sees the files at once).
Targets default to the current directory.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var plats []string
			for _, p := range strings.Split(platforms, ",") {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				if _, _, ok := goversion.ParsePlatform(p); !ok {
					return usageError("--toolchains %q: want GOOS-GOARCH names such as linux-arm64,linux-arm", platforms)
				}
				if _, ok := host.ArchByToolchain(p); strings.HasPrefix(p, "linux-") && !ok {
					return usageError("--toolchains: %s is no toolchain platform (32-bit ARM is linux-arm; only the release tarballs say armv6l)", p)
				}
				plats = append(plats, p)
			}
			env := goenv.Load(ctx)
			if pc.gosumdb != "" {
				env["GOSUMDB"] = pc.gosumdb
			}
			if proxyURL == "" {
				h, st, err := pc.open(ctx, cmd, nil)
				if err != nil {
					return err
				}
				defer st.Close()
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(ln)
				defer srv.Close()
				proxyURL = "http://" + ln.Addr().String()
			} else if !strings.HasPrefix(proxyURL, "http://") && !strings.HasPrefix(proxyURL, "https://") {
				return usageError("--proxy %q: want an http:// or https:// URL", proxyURL)
			}
			wm := &modproxy.Warm{ProxyURL: proxyURL, Env: env, Platforms: plats, Out: cmd.OutOrStdout()}
			_, err := wm.Run(ctx, args)
			return err
		},
	}
	pc.flags(c)
	f := c.Flags()
	f.StringVar(&proxyURL, "proxy", "", "URL of a running pitstop proxy to fill (default: open --dir directly)")
	f.StringVar(&platforms, "toolchains", "linux-arm64,linux-arm,"+modproxy.HostPlatform(), "toolchain platforms to fetch for go.mod's go/toolchain line (\"\": none)")
	return c
}

const proxyUnitName = "pitstop-proxy.service"

const proxyUnit = `[Unit]
Description=pitstop caching Go module proxy
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
DynamicUser=yes
CacheDirectory=pitstop-proxy
# Optional: PITSTOP_PROXY_TOKEN=... to require a token from clients.
EnvironmentFile=-/etc/pitstop/proxy.env
Environment=HOME=/var/cache/pitstop-proxy
# GOPRIVATE modules are fetched with the go command (and git).
Environment=PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
ExecStart={{.Exe}} proxy serve --listen {{.Listen}} --dir /var/cache/pitstop-proxy --max-size {{.MaxSize}} --upstream "{{.Upstream}}"{{if .SumDB}} --gosumdb "{{.SumDB}}"{{end}} --log-format json
{{.Service}}

[Install]
WantedBy=multi-user.target
`

func newProxyInstallCmd() *cobra.Command {
	var listen, maxSize, upstream, unitDir string
	var pf planFlags
	c := &cobra.Command{
		Use:   "install-service [--dry-run] [--json]",
		Short: "Install and start the pitstop-proxy systemd service (undo: uninstall-service)",
		Long: `install-service writes /etc/systemd/system/pitstop-proxy.service and starts it.
The unit runs "pitstop proxy serve" as a dynamic user with its store in
/var/cache/pitstop-proxy; the upstream and GOSUMDB are taken from your go env
now (or --upstream) and written into the unit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServerUnitFlags(listen, maxSize); err != nil {
				return err
			}
			env := goenv.Load(cmd.Context())
			upstream, err := unitUpstream(env, upstream)
			if err != nil {
				return err
			}
			sumdb := env.Get("GOSUMDB")
			if def := strings.SplitN(goenv.DefaultSumDBKey, "+", 2)[0]; sumdb == def || sumdb == goenv.DefaultSumDBKey {
				sumdb = "" // the default needs no flag
			}
			if strings.ContainsAny(sumdb, "\"\\\n%$") {
				return fmt.Errorf("GOSUMDB %q cannot go into a unit file", sumdb)
			}
			return pf.installServerUnit(cmd, unitDir, proxyUnitName, proxyUnit, listen, maxSize,
				map[string]string{"Upstream": upstream, "SumDB": sumdb})
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":3000", "address the service listens on")
	f.StringVar(&maxSize, "max-size", "20G", "size cap of the store")
	f.StringVar(&upstream, "upstream", "", "GOPROXY list to fetch from (default: go env GOPROXY)")
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	pf.register(f)
	return c
}

// unitUpstream is the --upstream a unit file gets: the flag, or go env
// GOPROXY, checked as a GOPROXY list that fits in a unit file.
func unitUpstream(env goenv.Env, upstream string) (string, error) {
	if upstream == "" {
		upstream = env.Get("GOPROXY")
	}
	if _, err := goenv.ParseProxyList(upstream); err != nil {
		return "", usageError("--upstream: %v", err)
	}
	if strings.ContainsAny(upstream, "\"\\\n%$") {
		return "", usageError("--upstream %q: quotes, backslashes, %% and $ cannot go into a unit file", upstream)
	}
	return upstream, nil
}

// removeTree removes dir (a go module cache, whose directories the go
// command may have made read-only) and returns the bytes of the files it
// held. A missing dir is not an error.
func removeTree(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if de.IsDir() {
			return os.Chmod(p, 0o755)
		}
		if fi, err := de.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, os.RemoveAll(dir)
}
