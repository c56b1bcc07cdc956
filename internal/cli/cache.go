package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/buildcache"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/systemd"
	"github.com/pitstop-go/pitstop/internal/units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

func newCacheCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cache",
		Short: "Share the Go build cache between machines (GOCACHEPROG helper and server)",
		Long: `pitstop cache shares compiled packages between boards. Run "pitstop cache serve"
on one machine and point every go command at it:

  go env -w GOCACHEPROG="` + gocacheprogValue("--server http://pi5.local:3001") + `"

GOCACHEPROG names this binary by its absolute path: the go command runs it
with its own PATH, where pitstop may not be. Build with -trimpath so that
builds from other checkout paths share entries.`,
	}
	c.AddCommand(newCacheProgCmd(), newCacheServeCmd(), newCacheStatsCmd(), newCacheTrimCmd(),
		newCacheInstallCmd(), newUninstallServiceCmd("Stop and remove the pitstop-cache systemd service (the cached data stays)", cacheUnitName))
	return c
}

// defaultCacheDir is the helper's local tier: $XDG_CACHE_HOME/pitstop/buildcache.
func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pitstop", "buildcache")
}

func cacheDirFlag(dir string) (string, error) {
	if dir == "" {
		return "", usageError("no cache directory: $HOME and $XDG_CACHE_HOME are unset; pass --dir")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", usageError("--dir %q: %v", dir, err)
	}
	return abs, nil
}

func newCacheProgCmd() *cobra.Command {
	var (
		server, dir, token, tokenFile, compress string
		stats, noPrefetch, verbose              bool
		timeout, flush                          time.Duration
	)
	c := &cobra.Command{
		Use:   "prog",
		Short: "The GOCACHEPROG helper the go command runs (speaks JSON on stdin/stdout)",
		Long: `prog is started by the go command when GOCACHEPROG names it. It keeps objects in
--dir (the fast tier) and, with --server, shares them: gets try the local tier,
then the server; puts are stored locally at once and uploaded in the
background. A slow or broken server only turns into misses.

PITSTOP_CACHE_STATS=1 (or --stats) prints a summary line at the end of each go
command; PITSTOP_CACHE_STATS=json prints it as JSON. PITSTOP_CACHE_SERVER and PITSTOP_CACHE_TOKEN are read when the
flags are not given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if isTerminalReader(cmd.InOrStdin()) {
				return usageError("cache prog is the GOCACHEPROG helper the go command starts, speaking JSON on stdin/stdout, not a command to type: set go env -w GOCACHEPROG=%q and run go build", gocacheprogValue(""))
			}
			d, err := cacheDirFlag(dir)
			if err != nil {
				return err
			}
			if compress != "auto" && compress != "on" && compress != "off" {
				return usageError("--compress %q: want auto, on or off", compress)
			}
			if server == "" {
				server = os.Getenv("PITSTOP_CACHE_SERVER")
			}
			if token == "" && tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return usageError("--token-file: %v", err)
				}
				token = strings.TrimSpace(string(b))
			}
			if token == "" {
				token = os.Getenv("PITSTOP_CACHE_TOKEN")
			}
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			p := &buildcache.Prog{
				Local:        &buildcache.Local{Dir: d},
				Logger:       log.With("prog", "pitstop cache"),
				FlushTimeout: flush,
			}
			if server != "" {
				cl, err := buildcache.NewClient(server, token)
				if err != nil {
					return usageError("--server: %v", err)
				}
				cl.Timeout = timeout
				switch compress {
				case "on":
					cl.Compress = true
				case "off":
					cl.Compress = false
				}
				p.Remote = cl
				if !noPrefetch {
					if wd, err := os.Getwd(); err == nil {
						p.ManifestKey = buildcache.ManifestKey(wd, os.Getenv)
					}
				}
			}
			switch os.Getenv("PITSTOP_CACHE_STATS") {
			case "1":
				stats = true
			case "json":
				stats, p.StatsJSON = true, true
			}
			if stats {
				p.StatsOut = cmd.ErrOrStderr()
			}
			// The go command closes our stdin when it is done; a signal
			// must not cut an answer in half, so the helper runs on
			// without ctx. Ctrl-C reaches the go command too, which then
			// closes stdin; a helper whose stdin stays open (started by
			// hand) is left behind once that grace has passed.
			done := make(chan error, 1)
			go func() {
				done <- p.Run(context.WithoutCancel(cmd.Context()), cmd.InOrStdin(), cmd.OutOrStdout())
			}()
			select {
			case err := <-done:
				return err
			case <-cmd.Context().Done():
			}
			select {
			case err := <-done:
				return err
			case <-time.After(progStopGrace):
				return context.Cause(cmd.Context())
			}
		},
	}
	f := c.Flags()
	f.StringVar(&server, "server", "", "cache server URL, e.g. http://pi5.local:3001 (default $PITSTOP_CACHE_SERVER; none: local only)")
	f.StringVar(&dir, "dir", defaultCacheDir(), "local tier directory")
	f.StringVar(&token, "token", "", "bearer token for the server (default $PITSTOP_CACHE_TOKEN)")
	f.StringVar(&tokenFile, "token-file", "", "read the bearer token from this file (kept out of ps, unlike --token)")
	f.StringVar(&compress, "compress", "auto", "ask for gzip on the wire: auto (not on loopback), on, off")
	f.BoolVar(&stats, "stats", false, "print a stats line at close (also PITSTOP_CACHE_STATS=1)")
	f.BoolVar(&noPrefetch, "no-prefetch", false, "do not prefetch what the last build of this module used")
	f.BoolVarP(&verbose, "verbose", "v", false, "log every remote failure")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "give up on one server get after this long (a miss)")
	f.DurationVar(&flush, "flush-timeout", 10*time.Second, "how long close waits for pending uploads")
	return c
}

// progStopGrace is how long cache prog, once signalled, waits for the go
// command to close its stdin before it gives up on the session.
const progStopGrace = 2 * time.Second

// gocacheprogValue is a GOCACHEPROG value that runs this binary's cache
// prog with args: the binary by its absolute path, since the go command
// looks GOCACHEPROG up on its own PATH.
func gocacheprogValue(args string) string {
	exe, err := pitstopExe()
	if err != nil {
		exe = "pitstop"
	}
	v := exe + " cache prog"
	if args != "" {
		v += " " + args
	}
	return v
}

// defaultServeDir is where the server keeps its store.
func defaultServeDir() string {
	if os.Geteuid() == 0 {
		return "/var/cache/pitstop/buildcache-server"
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "pitstop", "buildcache-server")
}

func newCacheServeCmd() *cobra.Command {
	var listen, dir, maxSize, token, logFormat string
	var tf tlsFlags
	var noSync bool
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a shared build cache over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := cacheDirFlag(dir)
			if err != nil {
				return err
			}
			max, err := parseMaxSize(maxSize)
			if err != nil {
				return usageError("--max-size: %v", err)
			}
			log, err := service.NewLogger(logFormat, cmd.ErrOrStderr())
			if err != nil {
				return usageError("--log-format: %v", err)
			}
			if token == "" {
				token = os.Getenv("PITSTOP_CACHE_TOKEN")
			}
			if err := checkListen("--listen", listen); err != nil {
				return err
			}
			if err := tf.check(); err != nil {
				return err
			}
			st, err := store.Open(d, store.Options{MaxSize: max, NoSync: noSync, Logger: log})
			if err != nil {
				return err
			}
			defer st.Close()
			h := &buildcache.Server{Store: st, Logger: log}
			reg := prometheus.NewRegistry()
			for _, c := range h.Collectors() {
				if err := reg.Register(c); err != nil {
					return err
				}
			}
			srv := tf.apply(&service.Server{Name: "cache", Addr: listen, Handler: h, Logger: log, Registry: reg, AuthToken: token})
			return listenFlag(srv.Run(cmd.Context()))
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "localhost:3001", "address to listen on (\":3001\" for every interface: then set --auth-token, since whoever can reach it can write entries every client builds with)")
	f.StringVar(&dir, "dir", defaultServeDir(), "store directory")
	f.StringVar(&maxSize, "max-size", "20G", "evict least recently used objects above this size (0: unlimited)")
	f.StringVar(&token, "auth-token", "", "require this bearer token (default $PITSTOP_CACHE_TOKEN; none: open)")
	tf.register(f)
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&noSync, "no-sync", false, "skip fsync on writes (faster on SD cards; a crash may lose recent uploads, which clients detect by sha256)")
	return c
}

func newCacheStatsCmd() *cobra.Command {
	var dir, server, token string
	var asJSON bool
	c := &cobra.Command{
		Use:   "stats",
		Short: "Show how much the local tier (and the server, with --server) holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			report := map[string]any{}
			if dir != "" {
				d, err := cacheDirFlag(dir)
				if err != nil {
					return err
				}
				u, err := (&buildcache.Local{Dir: d}).Usage()
				if err != nil {
					return err
				}
				report["local"] = map[string]any{"dir": d, "usage": u}
				if !asJSON {
					fmt.Fprintf(out, "local  %s: %d files, %s\n", d, u.Objects, units.HumanSize(u.Bytes))
				}
			}
			if server != "" {
				cl, err := remoteClient(server, token)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
				defer cancel()
				st, err := cl.Stats(ctx)
				if err != nil {
					return fmt.Errorf("server %s: %w", server, err)
				}
				report["server"] = map[string]any{"url": server, "usage": st}
				if !asJSON {
					limit := "unlimited"
					if st.MaxSize > 0 {
						limit = units.HumanSize(st.MaxSize)
					}
					fmt.Fprintf(out, "server %s: %d files, %s (cap %s)\n", server, st.Objects, units.HumanSize(st.Bytes), limit)
				}
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", defaultCacheDir(), "local tier directory (\"\" to skip)")
	f.StringVar(&server, "server", os.Getenv("PITSTOP_CACHE_SERVER"), "also ask this cache server")
	f.StringVar(&token, "token", "", "bearer token for the server (default $PITSTOP_CACHE_TOKEN)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func remoteClient(server, token string) (*buildcache.Client, error) {
	if token == "" {
		token = os.Getenv("PITSTOP_CACHE_TOKEN")
	}
	cl, err := buildcache.NewClient(server, token)
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	cl.HTTP.Timeout = 5 * time.Minute
	return cl, nil
}

func newCacheTrimCmd() *cobra.Command {
	var dir, server, token, maxSize string
	c := &cobra.Command{
		Use:   "trim --max-size SIZE",
		Short: "Evict least recently used objects from the local tier (and the server, with --server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxSize == "" {
				return usageError("trim needs --max-size, e.g. --max-size 2G (0 empties the cache)")
			}
			max, err := parseMaxSize(maxSize)
			if err != nil {
				return usageError("--max-size: %v", err)
			}
			out := cmd.OutOrStdout()
			if dir != "" {
				d, err := cacheDirFlag(dir)
				if err != nil {
					return err
				}
				r, err := (&buildcache.Local{Dir: d}).Trim(max)
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "local  %s: removed %d files (%s)\n", d, r.Objects, units.HumanSize(r.Bytes))
			}
			if server != "" {
				cl, err := remoteClient(server, token)
				if err != nil {
					return err
				}
				r, err := cl.Trim(cmd.Context(), max)
				if err != nil {
					return fmt.Errorf("server %s: %w", server, err)
				}
				fmt.Fprintf(out, "server %s: removed %d files (%s)\n", server, r.Objects, units.HumanSize(r.Bytes))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "dir", defaultCacheDir(), "local tier directory (\"\" to skip)")
	f.StringVar(&server, "server", "", "also trim this cache server")
	f.StringVar(&token, "token", "", "bearer token for the server (default $PITSTOP_CACHE_TOKEN)")
	f.StringVar(&maxSize, "max-size", "", "keep at most this much, e.g. 2G")
	return c
}

const cacheUnitName = "pitstop-cache.service"

const cacheUnit = `[Unit]
Description=pitstop shared Go build cache
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
DynamicUser=yes
CacheDirectory=pitstop-cache
# Optional: PITSTOP_CACHE_TOKEN=... to require a bearer token.
EnvironmentFile=-/etc/pitstop/cache.env
ExecStart={{.Exe}} cache serve --listen {{.Listen}} --dir /var/cache/pitstop-cache --max-size {{.MaxSize}} --log-format json
{{.Service}}

[Install]
WantedBy=multi-user.target
`

func newCacheInstallCmd() *cobra.Command {
	var listen, maxSize, unitDir string
	var pf planFlags
	c := &cobra.Command{
		Use:   "install-service [--dry-run] [--json]",
		Short: "Install and start the pitstop-cache systemd service (undo: uninstall-service)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := parseMaxSize(maxSize); err != nil {
				return usageError("--max-size: %v", err)
			}
			if err := checkListen("--listen", listen); err != nil {
				return err
			}
			exe, err := pitstopExe()
			if err != nil {
				return err
			}
			content, err := systemd.Render(cacheUnit, map[string]string{"Exe": exe, "Listen": listen, "MaxSize": maxSize, "Service": systemd.NetworkService})
			if err != nil {
				return err
			}
			return pf.installUnits(cmd, unitDir, []systemd.Unit{{Name: cacheUnitName, Content: content}}, []string{cacheUnitName})
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":3001", "address the service listens on")
	f.StringVar(&maxSize, "max-size", "20G", "size cap of the store")
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	pf.register(f)
	return c
}
