package cli

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/spf13/pflag"
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
	c.AddCommand(newCacheProgCmd(), newCacheServeCmd(), newCacheStatsCmd(), newCacheTrimCmd(), newCacheForgetCmd(),
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
		server, dir, token, compress string
		tokenFile, signKey           string
		verifyKeys                   []string
		stats, noPrefetch, verbose   bool
		timeout, flush               time.Duration
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
flags are not given. Boards need no token unless the server has a read token;
machines that upload (CI) need the server's write token: without it the server
refuses uploads and the helper stops trying, while reads go on.

With --verify-key (or $PITSTOP_CACHE_VERIFY_KEY, comma-separated) the helper uses
only entries signed with one of those ed25519 keys; writers sign with
--sign-key FILE (or $PITSTOP_CACHE_SIGN_KEY). Make a key pair with
  openssl genpkey -algorithm ed25519 -out cache-sign.pem
  openssl pkey -in cache-sign.pem -pubout -out cache-sign.pub
See docs/security.md.`,
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
			token, err = clientToken(token, tokenFile, "PITSTOP_CACHE_TOKEN")
			if err != nil {
				return err
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
				if err := cacheKeys(cl, signKey, verifyKeys); err != nil {
					return err
				}
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
	f.StringVar(&token, "token", "", "bearer token for the server (default $PITSTOP_CACHE_TOKEN; --token-file keeps it out of ps)")
	f.StringVar(&tokenFile, "token-file", "", "read the server's token from this file")
	f.StringVar(&signKey, "sign-key", "", "sign uploads with the ed25519 private key (PEM) in this file (default $PITSTOP_CACHE_SIGN_KEY)")
	f.StringSliceVar(&verifyKeys, "verify-key", nil, "use only entries signed by this ed25519 public key: base64, or a PEM or base64 file (default $PITSTOP_CACHE_VERIFY_KEY)")
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
	var sy syncFlag
	var ff fleetFlags
	var readFile, writeFile, adminFile string
	var openWrites bool
	var tf tlsFlags
	var lf limitFlags
	var sf statusFlag
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a shared build cache over HTTP",
		Long: `serve keeps the shared build cache. Access has three levels, each with its own
token, read from a file or the environment (never needed on the command line):

  read   boards' lookups     --read-token-file  or $PITSTOP_CACHE_READ_TOKEN  (none: reads are open)
  write  uploads (CI)        --write-token-file or $PITSTOP_CACHE_WRITE_TOKEN
  admin  trim and forget     --admin-token-file or $PITSTOP_CACHE_ADMIN_TOKEN

A token grants its level and those below. Without a write (or admin) token,
only clients on this machine may upload, unless --open-writes; without an admin
token, only clients on this machine may trim or forget. An action, once mapped,
keeps its output: an upload of another output for it is refused (409) and
logged; "pitstop cache forget" repairs a bad entry. See docs/security.md.

$PITSTOP_CACHE_TOKEN (or the deprecated --auth-token) is one token for reading
and writing, as before; trim then needs the admin token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sy.check(); err != nil {
				return err
			}
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
			var tokens service.Tokens
			var warns []string
			for _, t := range []struct {
				tok        *string
				flag, file string
				env        string
			}{
				{&tokens.Read, "--read-token-file", readFile, "PITSTOP_CACHE_READ_TOKEN"},
				{&tokens.Write, "--write-token-file", writeFile, "PITSTOP_CACHE_WRITE_TOKEN"},
				{&tokens.Admin, "--admin-token-file", adminFile, "PITSTOP_CACHE_ADMIN_TOKEN"},
			} {
				tok, warn, err := tokenFrom(t.flag, t.file, t.env)
				if err != nil {
					return err
				}
				*t.tok = tok
				if warn != "" {
					warns = append(warns, warn)
				}
			}
			if cmd.Flags().Changed("auth-token") {
				warns = append(warns, tokenOnCommandLine("--auth-token", "--write-token-file", "PITSTOP_CACHE_WRITE_TOKEN"))
			} else {
				token = os.Getenv("PITSTOP_CACHE_TOKEN")
			}
			if token != "" {
				// The one token of earlier versions: reading and writing.
				if tokens.Read == "" {
					tokens.Read = token
				}
				if tokens.Write == "" {
					tokens.Write = token
				}
			}
			if tokens.Admin != "" && (tokens.Admin == tokens.Write || tokens.Admin == tokens.Read) {
				warns = append(warns, "the admin token is also the read or write token: whoever can read or write can trim")
			}
			for _, w := range warns {
				log.Warn(w)
			}
			var st *store.Disk
			fl, err := ff.open(cmd.Context(), log, func(key string) { st.Delete(context.Background(), key) })
			if err != nil {
				return err
			}
			st, err = store.Open(d, store.Options{MaxSize: max, NoSync: !sy.sync, Logger: log, CountBlocks: true})
			if err != nil {
				return err
			}
			defer st.Close()
			if stop := buildcache.StartProfile(); stop != nil {
				defer stop()
			}
			h := &buildcache.Server{Store: fl.trimmer(st, buildcache.MutableKey, log), Logger: log}
			reg := prometheus.NewRegistry()
			if err := fl.register(reg); err != nil {
				return err
			}
			for _, c := range h.Collectors() {
				if err := reg.Register(c); err != nil {
					return err
				}
			}
			srv := sf.apply(tf.apply(lf.apply(&service.Server{Name: "cache", Addr: listen, Handler: h, Logger: log, Registry: reg,
				Tokens: tokens, Access: h.Access, OpenWrites: openWrites})), "pitstop cache", service.StatusPart{Stats: buildcache.NewStats(), Usage: st.Usage})
			return listenFlag(srv.Run(cmd.Context()))
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", "localhost:3001", "address to listen on (\":3001\" for every interface: then set a write token, since only uploaders should change what every client builds with)")
	f.StringVar(&dir, "dir", defaultServeDir(), "store directory")
	f.StringVar(&maxSize, "max-size", "20G", "evict least recently used objects above this size (0: unlimited)")
	f.StringVar(&readFile, "read-token-file", "", "require the token in this file to read (default $PITSTOP_CACHE_READ_TOKEN; none: reads are open)")
	f.StringVar(&writeFile, "write-token-file", "", "require the token in this file to upload (default $PITSTOP_CACHE_WRITE_TOKEN; none: only this machine uploads)")
	f.StringVar(&adminFile, "admin-token-file", "", "require the token in this file to trim or forget (default $PITSTOP_CACHE_ADMIN_TOKEN; none: only this machine)")
	f.BoolVar(&openWrites, "open-writes", false, "with no write token, accept uploads from other machines too (anyone on the network can then change what others build with)")
	f.StringVar(&token, "auth-token", "", "deprecated (visible in ps): one token for reading and writing; use the token files or $PITSTOP_CACHE_TOKEN")
	tf.register(f)
	lf.register(f)
	sf.register(f)
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	sy.register(f)
	ff.add(f)
	return c
}

func newCacheStatsCmd() *cobra.Command {
	var dir, server, token, tokenFile string
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
				cl, err := remoteClient(server, token, tokenFile, "PITSTOP_CACHE_TOKEN")
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
	f.StringVar(&tokenFile, "token-file", "", "read the server's token from this file")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// cacheKeys sets the client's signing and verification keys from the
// flags or the environment.
func cacheKeys(cl *buildcache.Client, signKey string, verifyKeys []string) error {
	if signKey == "" {
		signKey = os.Getenv("PITSTOP_CACHE_SIGN_KEY")
	}
	if signKey != "" {
		data, err := os.ReadFile(signKey)
		if err == nil {
			cl.SignKey, err = buildcache.ParseSigningKey(data)
		}
		if err != nil {
			return usageError("--sign-key %q: %v", signKey, err)
		}
	}
	if len(verifyKeys) == 0 {
		if v := os.Getenv("PITSTOP_CACHE_VERIFY_KEY"); v != "" {
			verifyKeys = strings.Split(v, ",")
		}
	}
	for _, v := range verifyKeys {
		data := []byte(v)
		if b, err := os.ReadFile(v); err == nil {
			data = b
		}
		k, err := buildcache.ParseVerifyKey(data)
		if err != nil {
			return usageError("--verify-key %q: %v", v, err)
		}
		cl.VerifyKeys = append(cl.VerifyKeys, k)
	}
	return nil
}

// clientToken is a client's token: --token, else --token-file, else the
// first of envs set.
func clientToken(token, tokenFile string, envs ...string) (string, error) {
	if token != "" {
		return token, nil
	}
	if tokenFile != "" {
		tok, err := service.ReadTokenFile(tokenFile)
		if err != nil {
			return "", usageError("--token-file %q: %v", tokenFile, err)
		}
		return tok, nil
	}
	for _, e := range envs {
		if v := os.Getenv(e); v != "" {
			return v, nil
		}
	}
	return "", nil
}

func remoteClient(server, token, tokenFile string, envs ...string) (*buildcache.Client, error) {
	token, err := clientToken(token, tokenFile, envs...)
	if err != nil {
		return nil, err
	}
	cl, err := buildcache.NewClient(server, token)
	if err != nil {
		return nil, usageError("--server: %v", err)
	}
	cl.HTTP.Timeout = 5 * time.Minute
	return cl, nil
}

func newCacheTrimCmd() *cobra.Command {
	var dir, server, token, tokenFile, maxSize string
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
				cl, err := remoteClient(server, token, tokenFile, "PITSTOP_CACHE_ADMIN_TOKEN", "PITSTOP_CACHE_TOKEN")
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
	f.StringVar(&server, "server", "", "also trim this cache server (needs its admin token)")
	f.StringVar(&token, "token", "", "the server's admin token (default $PITSTOP_CACHE_ADMIN_TOKEN; --token-file keeps it out of ps)")
	f.StringVar(&tokenFile, "token-file", "", "read the server's admin token from this file")
	f.StringVar(&maxSize, "max-size", "", "keep at most this much, e.g. 2G")
	return c
}

func newCacheForgetCmd() *cobra.Command {
	var server, token, tokenFile string
	c := &cobra.Command{
		Use:   "forget ACTION-ID... --server URL",
		Short: "Unmap actions on a cache server (repair a bad entry; needs the admin token)",
		Long: `forget removes what each action (64 hex digits, as in the server's log of a
refused upload) maps to on the server, so the next build that needs it compiles
it and uploads the result. The server keeps an action's first output and
refuses others; forget is how an admin replaces a bad one.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" {
				return usageError("forget needs --server, e.g. --server http://pi5.local:3001")
			}
			var ids []buildcache.ID
			for _, a := range args {
				id, err := buildcache.ParseHexID(a)
				if err != nil {
					return usageError("action %q: %v", a, err)
				}
				ids = append(ids, id)
			}
			cl, err := remoteClient(server, token, tokenFile, "PITSTOP_CACHE_ADMIN_TOKEN", "PITSTOP_CACHE_TOKEN")
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, id := range ids {
				switch err := cl.Forget(cmd.Context(), id); {
				case errors.Is(err, buildcache.ErrMiss):
					fmt.Fprintf(out, "%s: not on the server\n", id)
				case err != nil:
					return fmt.Errorf("server %s: %w", server, err)
				default:
					fmt.Fprintf(out, "%s: forgotten\n", id)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&server, "server", os.Getenv("PITSTOP_CACHE_SERVER"), "the cache server")
	f.StringVar(&token, "token", "", "the server's admin token (default $PITSTOP_CACHE_ADMIN_TOKEN; --token-file keeps it out of ps)")
	f.StringVar(&tokenFile, "token-file", "", "read the server's admin token from this file")
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
# Optional tokens (see docs/security.md): PITSTOP_CACHE_WRITE_TOKEN=... for
# uploaders, PITSTOP_CACHE_ADMIN_TOKEN=... for trim and forget,
# PITSTOP_CACHE_READ_TOKEN=... to close reads. Keep this file mode 600.
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
			if err := checkServerUnitFlags(listen, maxSize); err != nil {
				return err
			}
			return pf.installServerUnit(cmd, unitDir, cacheUnitName, cacheUnit, listen, maxSize, nil)
		},
	}
	f := c.Flags()
	f.StringVar(&listen, "listen", ":3001", "address the service listens on")
	f.StringVar(&maxSize, "max-size", "20G", "size cap of the store")
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	pf.register(f)
	return c
}

// syncFlag is a build cache server's --sync. Like Go's own cache, the
// server does not fsync by default: a power cut may lose or tear recent
// uploads, which clients detect (they check every object's sha256) and the
// server heals (a lost output is replaced by the next upload). --no-sync,
// the old way to ask for that, is still accepted.
type syncFlag struct{ sync, noSync bool }

func (s *syncFlag) register(f *pflag.FlagSet) {
	f.BoolVar(&s.sync, "sync", false, "fsync each upload before acknowledging it (slower, above all on SD cards; without it, as in Go's own cache, a power cut may lose or tear recent uploads: clients check every object's sha256 and the server replaces an output it lost)")
	f.BoolVar(&s.noSync, "no-sync", false, "do not fsync uploads (the default)")
	_ = f.MarkDeprecated("no-sync", "it is the default now (--sync asks for fsync)")
}

func (s syncFlag) check() error {
	if s.sync && s.noSync {
		return usageError("--sync and --no-sync: choose one (not syncing is the default)")
	}
	return nil
}
