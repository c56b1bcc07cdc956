package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/ramdisk"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/systemd"
	"github.com/pitstop-go/pitstop/internal/units"
)

// ramdiskFlags are the flags every ramdisk subcommand shares.
type ramdiskFlags struct {
	config, runDir, hostRoot, logFormat string
}

func (rf *ramdiskFlags) manager(cmd *cobra.Command, level slog.Level) (*ramdisk.Manager, error) {
	log, err := service.NewLoggerLevel(rf.logFormat, cmd.ErrOrStderr(), level)
	if err != nil {
		return nil, usageError("--log-format: %v", err)
	}
	m := &ramdisk.Manager{ConfigFile: rf.config, RunDir: rf.runDir, Log: log, Out: cmd.OutOrStdout()}
	if rf.hostRoot != "" {
		m.Root = host.At(rf.hostRoot)
	}
	return m, nil
}

func newRamdiskCmd() *cobra.Command {
	rf := &ramdiskFlags{}
	c := &cobra.Command{
		Use:   "ramdisk",
		Short: "Keep Go's module and build caches in RAM to spare the SD card",
		Long: `pitstop ramdisk keeps GOMODCACHE and GOCACHE in RAM: a tmpfs holds the upper
layer of an overlay whose lower layer is the directory on disk, mounted over
the directory itself. Nothing is copied at start; all writes go to RAM.
"sync" writes the changes back (journaled: after a power cut the disk copy is
the last complete sync, never a mix); a watch syncs early at a high-water
mark, then reclaims RAM or grows the tmpfs within max-size.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	pf := c.PersistentFlags()
	pf.StringVar(&rf.config, "config", ramdisk.DefaultConfigFile, "config file (what to mount at boot)")
	pf.StringVar(&rf.runDir, "run-dir", ramdisk.DefaultRunDir, "directory for the live mounts' private parts")
	pf.StringVar(&rf.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&rf.hostRoot, "host-root", "", "read the machine from this captured root (with --dry-run)")
	pf.MarkHidden("host-root")
	c.AddCommand(
		newRamdiskEnableCmd(rf), newRamdiskDisableCmd(rf), newRamdiskSyncCmd(rf), newRamdiskStatusCmd(rf),
		newRamdiskStartCmd(rf), newRamdiskStopCmd(rf), newRamdiskWatchCmd(rf),
		newRamdiskInstallCmd(rf),
		newUninstallServiceCmd("Remove the systemd units (stopping them syncs and unmounts the RAM disks; the config stays)",
			ramdiskWatchUnit, ramdiskTimerUnit, ramdiskSyncUnit, ramdiskUnit),
	)
	return c
}

func newRamdiskEnableCmd(rf *ramdiskFlags) *cobra.Command {
	var size, maxSize, unitDir string
	var paths []string
	var skipBuild bool
	var pf planFlags
	var highWater int
	c := &cobra.Command{
		Use:   "enable [--size SIZE] [--path DIR ...] [--dry-run] [--json]",
		Short: "Put GOMODCACHE and GOCACHE (or --path DIRs) in RAM, now and at every boot",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := rf.manager(cmd, slog.LevelWarn)
			if err != nil {
				return err
			}
			if err := rf.captured(&pf); err != nil {
				return err
			}
			if highWater != 0 && (highWater < 1 || highWater > 99) {
				return usageError("--high-water %d: want a percentage from 1 to 99", highWater)
			}
			var sz, max uint64
			if size != "" {
				if sz, err = parseRamdiskSize("--size", size); err != nil {
					return err
				}
			}
			if maxSize != "" {
				if max, err = parseRamdiskSize("--max-size", maxSize); err != nil {
					return err
				}
			}
			if sz != 0 && max != 0 && max < sz {
				return usageError("--max-size %s is smaller than --size %s: give at least --size, or leave --max-size out (twice --size)", maxSize, size)
			}
			modcache, gocache := "", ""
			if len(paths) == 0 || skipBuild {
				modcache, gocache, err = ramdisk.GoCaches(cmd.Context())
				if err != nil {
					return err
				}
			}
			create := false
			if len(paths) == 0 {
				paths = []string{modcache, gocache}
				create = true // as Go itself would make them on first use
			}
			if sz == 0 {
				if sz, err = m.DefaultSize(len(paths)); err != nil {
					return err
				}
			}
			if max == 0 {
				max = 2 * sz
			}
			var ps []ramdisk.Path
			for _, p := range paths {
				if p == "" {
					return usageError("--path: empty directory name")
				}
				abs, _ := filepath.Abs(p)
				ps = append(ps, ramdisk.Path{Dir: abs, Size: sz, MaxSize: max, SkipSync: skipBuild && sameDir(abs, gocache), Create: create})
			}
			if err := pf.needRoot(cmd, "mounts filesystems and writes under /etc and /run"); err != nil {
				return err
			}
			p, err := m.PlanEnable(cmd.Context(), ps, highWater)
			var se *ramdisk.SettingError
			if errors.As(err, &se) && ramdiskEnableFlags[se.Setting] != "" {
				return errors.New(se.Named(ramdiskEnableFlags[se.Setting]))
			}
			if err != nil {
				return err
			}
			if err := pf.run(cmd, p); err != nil {
				return err
			}
			if next := ramdiskNext(unitDir); next != "" && !pf.json {
				fmt.Fprintln(cmd.OutOrStdout(), next)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory, where install-service puts the units")
	f.StringVar(&size, "size", "", "tmpfs size per directory, e.g. 512M or 2G (default: a quarter of available RAM shared out, at most 1G each)")
	f.StringVar(&maxSize, "max-size", "", "how far the watch may grow a busy tmpfs past the high-water mark (default: twice --size)")
	f.StringArrayVar(&paths, "path", nil, "`DIR` to keep in RAM (repeatable; default: GOMODCACHE and GOCACHE as go env reports them)")
	f.BoolVar(&skipBuild, "skip-build-cache", false, "never write GOCACHE's changes back to disk (it is disposable)")
	f.IntVar(&highWater, "high-water", 0, "fill level in percent that triggers an early sync (default 75)")
	pf.register(f)
	return c
}

// ramdiskEnableFlags names enable's flags for the settings a
// ramdisk.SettingError names.
var ramdiskEnableFlags = map[string]string{"size": "--size"}

// captured refuses a real run on a captured machine (--host-root).
func (rf *ramdiskFlags) captured(pf *planFlags) error {
	if rf.hostRoot != "" && !pf.dryRun {
		return usageError("--host-root reads a captured machine: use it with --dry-run")
	}
	return nil
}

func sameDir(a, b string) bool {
	if b == "" {
		return false
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// minRamdiskSize is the smallest --size (and --max-size) enable takes.
const minRamdiskSize = 16 << 20

// parseRamdiskSize reads enable's --size or --max-size: at least
// minRamdiskSize (a bare number is bytes: --size 2 would be a 2-byte
// tmpfs) and at most ramdisk.SizeLimit.
func parseRamdiskSize(flag, s string) (uint64, error) {
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, usageError("%s: %v", flag, err)
	}
	if n < minRamdiskSize {
		return 0, usageError("%s %s is %s: too small to hold a Go cache (at least %s); sizes without a unit are bytes, e.g. %s 2G", flag, s, units.HumanSize(n), units.FormatSize(minRamdiskSize), flag)
	}
	if n > ramdisk.SizeLimit {
		return 0, usageError("%s %s is more than %s", flag, s, units.FormatSize(ramdisk.SizeLimit))
	}
	return uint64(n), nil
}

func newRamdiskDisableCmd(rf *ramdiskFlags) *cobra.Command {
	var pf planFlags
	c := &cobra.Command{
		Use:   "disable [DIR...] [--dry-run] [--json]",
		Short: "Sync, unmount and forget the RAM disks (all, or the DIRs named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := rf.manager(cmd, slog.LevelWarn)
			if err != nil {
				return err
			}
			if err := rf.captured(&pf); err != nil {
				return err
			}
			if err := pf.needRoot(cmd, "unmounts filesystems and writes under /etc and /run"); err != nil {
				return err
			}
			p, err := m.PlanDisable(cmd.Context(), args)
			if err != nil {
				return err
			}
			return pf.run(cmd, p)
		},
	}
	pf.register(c.Flags())
	return c
}

func newRamdiskSyncCmd(rf *ramdiskFlags) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "sync [DIR...]",
		Short: "Write the changes held in RAM back to disk (all RAM disks, or the DIRs named)",
		RunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelWarn
			if reason != "manual" {
				level = slog.LevelInfo // from a unit: the journal wants the record
			}
			m, err := rf.manager(cmd, level)
			if err != nil {
				return err
			}
			recs, err := m.Sync(cmd.Context(), args, reason)
			if err == nil && len(recs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to sync: no RAM disk is mounted (pitstop ramdisk status lists them)")
			}
			for _, r := range recs {
				if r.Result == "ok" {
					fmt.Fprintf(cmd.OutOrStdout(), "synced %s (generation %d): %d files (%s), %d deletions in %s\n", r.Dir, r.Gen, r.Files, units.HumanSize(r.Bytes), r.Dels, r.Duration.Round(time.Millisecond))
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "sync %s: %s\n", r.Dir, r.Result)
				}
			}
			return err
		},
	}
	c.Flags().StringVar(&reason, "reason", "manual", "why the sync runs, as status reports it (timer, shutdown, ...)")
	return c
}

func newRamdiskStatusCmd(rf *ramdiskFlags) *cobra.Command {
	var asJSON bool
	var unitDir string
	c := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show the RAM disks: size, use, bytes not yet synced, last sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := rf.manager(cmd, slog.LevelWarn)
			if err != nil {
				return err
			}
			sts, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			boot := ramdiskBoot(unitDir)
			for i := range sts {
				if sts[i].Boot = boot; !sts[i].Configured {
					sts[i].Boot = "no (not in " + rf.config + ")"
				}
			}
			if asJSON {
				if sts == nil {
					sts = []ramdisk.Status{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(sts)
			}
			printRamdiskStatus(cmd.OutOrStdout(), sts, time.Now())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory, where install-service puts the boot unit")
	return c
}

// ramdiskBoot says whether the configured RAM disks mount at boot: only
// when the boot unit is installed in unitDir and enabled.
func ramdiskBoot(unitDir string) string {
	switch installed, enabled := systemd.UnitState(unitDir, ramdiskUnit, "multi-user.target"); {
	case !installed:
		return "no (the boot unit is not installed: sudo pitstop ramdisk install-service)"
	case !enabled:
		return "no (" + ramdiskUnit + " is not enabled: sudo systemctl enable " + ramdiskUnit + ")"
	}
	return "yes"
}

// ramdiskNext is what enable says when the units are not installed: the
// RAM disks last until reboot and nothing syncs them on its own.
func ramdiskNext(unitDir string) string {
	if installed, _ := systemd.UnitState(unitDir, ramdiskUnit, "multi-user.target"); installed {
		return ""
	}
	return "next: sudo pitstop ramdisk install-service (without it the RAM disks are gone after a reboot, and nothing syncs them early at the high-water mark, hourly or at shutdown: only pitstop ramdisk sync does)"
}

func printRamdiskStatus(w io.Writer, sts []ramdisk.Status, now time.Time) {
	if len(sts) == 0 {
		fmt.Fprintln(w, "no RAM disk configured or mounted (pitstop ramdisk enable adds GOMODCACHE and GOCACHE)")
		return
	}
	for i, s := range sts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := "not mounted"
		if s.Active {
			state = "in RAM"
		}
		fmt.Fprintf(w, "%s: %s (mounted at boot: %s)\n", s.Dir, state, s.Boot)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		if s.Active && s.Partial {
			fmt.Fprintf(tw, "  RAM:\t%s tmpfs (use, unsynced bytes and last sync attempt: run as root)\n", units.HumanSize(s.Size))
		} else if s.Active {
			fmt.Fprintf(tw, "  RAM:\t%s used of %s (%d%%), may grow to %s; early sync at %d%%\n", units.HumanSize(s.Used), units.HumanSize(s.Size), s.UsedPercent, units.HumanSize(s.MaxSize), s.HighWater)
		} else {
			fmt.Fprintf(tw, "  RAM:\t%s configured, may grow to %s\n", units.HumanSize(s.Size), units.HumanSize(s.MaxSize))
		}
		if s.Unsynced != nil {
			note := ""
			if s.SkipSync {
				note = " (skip-sync: never written back)"
			}
			fmt.Fprintf(tw, "  not synced:\t%d files (%s), %d deletions%s\n", s.Unsynced.Files, units.HumanSize(s.Unsynced.Bytes), s.Unsynced.Dels, note)
		}
		if r := s.LastSync; r != nil {
			fmt.Fprintf(tw, "  last sync:\t%s (%s ago, %s): %s\n", r.Start.Format(time.RFC3339), now.Sub(r.Start).Round(time.Second), r.Reason, r.Result)
		}
		if r := s.LastComplete; r != nil {
			fmt.Fprintf(tw, "  on disk:\tgeneration %d, complete at %s: %d files (%s), %d deletions\n", r.Gen, r.Start.Format(time.RFC3339), r.Files, units.HumanSize(r.Bytes), r.Dels)
		} else {
			fmt.Fprintf(tw, "  on disk:\tnever synced since enabled (the directory as it was)\n")
		}
		switch {
		case s.Watch == ramdisk.WatchRunning:
			fmt.Fprintf(tw, "  watch:\trunning (syncs early at %d%%)\n", s.HighWater)
		case s.Watch == ramdisk.WatchNotRunning && s.Active && !s.SkipSync:
			fmt.Fprintf(tw, "  watch:\tnone running: nothing syncs early at %d%% (sudo pitstop ramdisk install-service runs one)\n", s.HighWater)
		case s.Watch == ramdisk.WatchNotRunning:
			fmt.Fprintf(tw, "  watch:\tnone running\n")
		}
		if s.Reclaims+s.Grows > 0 {
			fmt.Fprintf(tw, "  high-water:\t%d reclaims, %d grows\n", s.Reclaims, s.Grows)
		}
		if s.Full != "" {
			fmt.Fprintf(tw, "  FULL:\t%s\n", s.Full)
		}
		if s.Interrupted {
			fmt.Fprintf(tw, "  interrupted:\ta sync was cut short; the next sync or start finishes or drops it\n")
		}
		if s.Error != "" {
			fmt.Fprintf(tw, "  error:\t%s\n", s.Error)
		}
		tw.Flush()
	}
}

func newRamdiskStartCmd(rf *ramdiskFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "start",
		Short: "Mount every configured RAM disk (the boot unit runs this)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := rf.manager(cmd, slog.LevelInfo)
			if err != nil {
				return err
			}
			return m.Start(cmd.Context())
		},
	}
}

func newRamdiskStopCmd(rf *ramdiskFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Sync and unmount every RAM disk, keeping the config (the unit runs this at shutdown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := rf.manager(cmd, slog.LevelInfo)
			if err != nil {
				return err
			}
			// Shutdown must not be cut short by SIGTERM half-way through
			// a sync: finish it (the unit's TimeoutStopSec bounds it).
			return m.Disable(context.WithoutCancel(cmd.Context()), nil, true)
		},
	}
}

func newRamdiskWatchCmd(rf *ramdiskFlags) *cobra.Command {
	var interval time.Duration
	var listen string
	c := &cobra.Command{
		Use:   "watch [--interval 10s] [--listen ADDR]",
		Short: "Watch the high-water mark: sync early, then reclaim RAM or grow the tmpfs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return usageError("--interval %s: want a positive duration such as 10s", interval)
			}
			if listen != "" {
				if err := checkListen("--listen", listen); err != nil {
					return err
				}
			}
			m, err := rf.manager(cmd, slog.LevelInfo)
			if err != nil {
				return err
			}
			if listen == "" {
				return m.Watch(cmd.Context(), interval)
			}
			// /healthz and /metrics (pitstop_ramdisk_*) beside the watch.
			reg := prometheus.NewRegistry()
			if err := reg.Register(m.Collector()); err != nil {
				return err
			}
			srv := &service.Server{Name: "ramdisk", Addr: listen, Handler: http.NotFoundHandler(), Logger: m.Log, Registry: reg}
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error { return listenFlag(srv.Run(ctx)) })
			g.Go(func() error { return m.Watch(ctx, interval) })
			return g.Wait()
		},
	}
	c.Flags().DurationVar(&interval, "interval", 10*time.Second, "how often to look at the fill level")
	c.Flags().StringVar(&listen, "listen", "", "serve /healthz and /metrics on this address, e.g. 127.0.0.1:9186 (default: none)")
	return c
}

const (
	ramdiskUnit      = "pitstop-ramdisk.service"
	ramdiskSyncUnit  = "pitstop-ramdisk-sync.service"
	ramdiskTimerUnit = "pitstop-ramdisk-sync.timer"
	ramdiskWatchUnit = "pitstop-ramdisk-watch.service"
)

var ramdiskUnits = map[string]string{
	ramdiskUnit: `[Unit]
Description=pitstop ramdisk: Go caches in RAM (tmpfs under an overlay)
DefaultDependencies=no
After=local-fs.target
Before=systemd-user-sessions.service multi-user.target shutdown.target
Conflicts=shutdown.target
ConditionPathExists={{.Config}}

[Service]
Type=oneshot
RemainAfterExit=yes
# Finishes an interrupted sync, then mounts every path in the config.
ExecStart={{.Exe}} ramdisk start --config {{.Config}} --log-format json
# At shutdown (and on uninstall): sync, then unmount what is not busy.
ExecStop={{.Exe}} ramdisk stop --config {{.Config}} --log-format json
TimeoutStopSec=15min

[Install]
WantedBy=multi-user.target
`,
	ramdiskSyncUnit: `[Unit]
Description=pitstop ramdisk: write Go caches held in RAM back to disk
After=pitstop-ramdisk.service
Requisite=pitstop-ramdisk.service

[Service]
Type=oneshot
ExecStart={{.Exe}} ramdisk sync --reason timer --config {{.Config}} --log-format json
Nice=10
IOSchedulingClass=idle
`,
	ramdiskTimerUnit: `[Unit]
Description=pitstop ramdisk: sync Go caches to disk every {{.Every}}

[Timer]
OnBootSec={{.Every}}
OnUnitActiveSec={{.Every}}
AccuracySec=1min

[Install]
WantedBy=timers.target
`,
	ramdiskWatchUnit: `[Unit]
Description=pitstop ramdisk: high-water watch (sync early, reclaim or grow)
After=pitstop-ramdisk.service
BindsTo=pitstop-ramdisk.service

[Service]
Type=simple
ExecStart={{.Exe}} ramdisk watch --interval {{.Interval}}{{if .Listen}} --listen {{.Listen}}{{end}} --config {{.Config}} --log-format json
Restart=on-failure
RestartSec=5

[Install]
WantedBy=pitstop-ramdisk.service
`,
}

func newRamdiskInstallCmd(rf *ramdiskFlags) *cobra.Command {
	var pf planFlags
	var every, interval time.Duration
	var unitDir, listen string
	c := &cobra.Command{
		Use:   "install-service [--dry-run] [--json]",
		Short: "Install the systemd units: mount at boot, sync hourly and at shutdown, watch the high-water mark",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if every < time.Minute {
				return usageError("--sync-every %s: want at least 1m", every)
			}
			if interval <= 0 {
				return usageError("--watch-interval %s: want a positive duration such as 10s", interval)
			}
			if listen != "" {
				if service.CheckAddr(listen) != nil { // the unit would fail at every boot
					return usageError("--metrics-listen %q: want HOST:PORT such as 127.0.0.1:9186, or \"\" for none", listen)
				}
			}
			if err := pf.needRoot(cmd, "writes "+unitDir); err != nil {
				return err
			}
			exe, err := pitstopExe()
			if err != nil {
				return err
			}
			data := map[string]any{"Exe": exe, "Config": rf.config, "Every": systemdSpan(every), "Interval": interval.String(), "Listen": listen}
			var units []systemd.Unit
			for _, name := range []string{ramdiskUnit, ramdiskSyncUnit, ramdiskTimerUnit, ramdiskWatchUnit} {
				text, err := systemd.Render(ramdiskUnits[name], data)
				if err != nil {
					return err
				}
				units = append(units, systemd.Unit{Name: name, Content: text})
			}
			return pf.installUnits(cmd, unitDir, units, []string{ramdiskUnit, ramdiskTimerUnit, ramdiskWatchUnit},
				fmt.Sprintf("RAM disks from %s mount at boot, sync every %s and at shutdown; undo: pitstop ramdisk uninstall-service", rf.config, systemdSpan(every)))
		},
	}
	f := c.Flags()
	pf.register(f)
	f.DurationVar(&every, "sync-every", time.Hour, "how often the timer syncs")
	f.DurationVar(&interval, "watch-interval", 10*time.Second, "how often the watch looks at the fill level")
	f.StringVar(&unitDir, "unit-dir", systemd.DefaultDir, "systemd unit directory")
	f.StringVar(&listen, "metrics-listen", "127.0.0.1:9186", "where the watch serves /healthz and /metrics (\"\": nowhere)")
	return c
}

// systemdSpan prints a duration as systemd reads it: 1h, 30min, 90s.
func systemdSpan(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dmin", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
