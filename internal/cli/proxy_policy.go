package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"golang.org/x/mod/module"

	"github.com/pitstop-go/pitstop/internal/modproxy"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/modproxy/vulndb"
)

// policyFlag registers --policy on a proxy command.
func policyFlag(c *cobra.Command, file *string) {
	c.Flags().StringVar(file, "policy", "", "policy file gating which module and toolchain versions are served (default "+policy.DefaultFile+" when it exists; \"none\" for no policy; see docs/policy.md)")
}

// policyFile resolves --policy: "" means the default file if it exists.
func policyFile(flag string) (string, bool) {
	switch flag {
	case "none":
		return "", false
	case "":
		if _, err := os.Stat(policy.DefaultFile); err == nil {
			return policy.DefaultFile, true
		}
		return "", false
	}
	return flag, true
}

// attachPolicy opens the policy file for h, reloads it when it changes or
// on SIGHUP until ctx ends. A bad file is a usage error naming its line
// and column.
func attachPolicy(ctx context.Context, flag string, h *modproxy.Handler, reg prometheus.Registerer, log *slog.Logger) (func(), error) {
	file, ok := policyFile(flag)
	if !ok {
		return func() {}, nil
	}
	src, err := policy.Open(file, policy.Options{Logger: log, Registry: reg})
	if err != nil {
		return nil, usageError("--policy: %v", err)
	}
	h.Policy = src
	p := src.Policy()
	log.Info("policy loaded", "file", file, "rules", len(p.Rules), "vulndb", p.VulnDB, "audit", p.Audit.File)
	wctx, cancel := context.WithCancel(ctx)
	go src.Watch(wctx, 0)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-wctx.Done():
				return
			case <-hup:
				src.Reload()
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		src.Close()
	}, nil
}

func newProxyPolicyCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "policy",
		Short: "Check a policy file, or explain which rule decides a module version",
		Long: `A policy gates which module and toolchain versions the proxy serves: allow and
deny rules by module path pattern and version range, pins, a cooldown for new
versions, retractions and vulnerability advisories. See docs/policy.md.`,
	}
	c.AddCommand(newProxyPolicyCheckCmd(), newProxyPolicyExplainCmd())
	return c
}

func newProxyPolicyCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Lint a policy file: every mistake with its line and column",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := policy.Load(args[0])
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: ok: %d rules; default: %s", args[0], len(p.Rules), p.Default.Action)
			if p.Default.MinAge > 0 {
				fmt.Fprintf(out, ", cooldown %s", p.Default.MinAge)
			}
			fmt.Fprintf(out, ", retracted %s, vulnerabilities %s\n", p.Default.Retracted, p.Default.Vulns)
			for _, w := range p.Shadowed() {
				fmt.Fprintf(out, "%s: warning: %s\n", args[0], w)
			}
			return nil
		},
	}
}

func newProxyPolicyExplainCmd() *cobra.Command {
	var pc proxyConfig
	var file string
	var asJSON bool
	c := &cobra.Command{
		Use:   "explain MODULE@VERSION",
		Short: "Say which rule of the policy decides a module version, and why",
		Long: `explain decides MODULE@VERSION as the proxy would, fetching what the policy
needs to know (the version's publication time, the module's retractions) from
the upstream through the proxy's store, and prints the deciding rule, its file
and line, and the reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mod, vers, ok := strings.Cut(args[0], "@")
			if !ok || module.Check(mod, vers) != nil || module.CanonicalVersion(vers) != vers {
				return usageError("%q: want MODULE@VERSION with a canonical version, e.g. example.com/m@v1.2.3", args[0])
			}
			if _, ok := policyFile(file); !ok {
				return usageError("no policy: pass --policy FILE (or create %s)", policy.DefaultFile)
			}
			ctx := cmd.Context()
			h, st, err := pc.open(ctx, cmd, nil)
			if err != nil {
				return err
			}
			defer st.Close()
			done, err := attachPolicy(ctx, file, h, nil, h.Logger)
			if err != nil {
				return err
			}
			defer done()
			d, err := h.Explain(ctx, mod, vers)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Module, Version string
					policy.Decision
				}{mod, vers, d})
			}
			fmt.Fprintf(out, "%s@%s: %s\n  rule:   %s\n  reason: %s\n", mod, vers, d.Verdict, d.Rule, d.Reason)
			if len(d.Advisories) > 0 {
				fmt.Fprintf(out, "  advisories: %s\n", strings.Join(d.Advisories, ", "))
			}
			return nil
		},
	}
	pc.flags(c)
	policyFlag(c, &file)
	c.Flags().BoolVar(&asJSON, "json", false, "print the decision as JSON")
	return c
}

func defaultVulnDBDir() string { return serviceDir("/var/lib/pitstop/vulndb", "vulndb") }

func newProxyVulnDBCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "vulndb",
		Short: "Keep a local mirror of a Go vulnerability database for the policy",
	}
	var from, dir string
	var timeout time.Duration
	sync := &cobra.Command{
		Use:   "sync --from URL",
		Short: "Copy a Go vulnerability database into --dir, replacing the old copy whole",
		Long: `sync copies the Go vulnerability database at --from (an https URL, a file://
URL or a directory, in the layout the public database serves: index/db.json,
index/modules.json, index/vulns.json, ID/GO-YYYY-NNNN.json) into --dir. The new
copy is built beside the old one and swapped in with renames; advisories that
did not change are copied, not fetched; nothing is fetched when index/db.json
is unchanged. Name --dir in the policy file as vulndb = "DIR". Run it from a
timer (a daily systemd timer or cron entry) to keep it fresh.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usageError("--from: name the vulnerability database to copy (a URL or a directory)")
			}
			if dir == "" {
				return usageError("--dir: no default ($HOME and $XDG_CACHE_HOME are unset)")
			}
			if strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://") || strings.HasPrefix(from, "file://") {
				// fine
			} else if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
				return usageError("--from %q: not a URL (https://..., file://...) or a directory", from)
			}
			res, err := vulndb.Syncer{Client: &http.Client{Timeout: timeout}}.Sync(cmd.Context(), from, dir)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Unchanged {
				fmt.Fprintf(out, "%s: up to date (modified %s, %d advisories)\n", dir, res.Modified.Format(time.RFC3339), res.Entries)
				return nil
			}
			fmt.Fprintf(out, "%s: %d advisories (%d fetched), modified %s\n", dir, res.Entries, res.Fetched, res.Modified.Format(time.RFC3339))
			return nil
		},
	}
	sync.Flags().StringVar(&from, "from", "", "the database to copy: an https or file URL, or a directory")
	sync.Flags().StringVar(&dir, "dir", defaultVulnDBDir(), "the local mirror")
	sync.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up on one request after this long")
	c.AddCommand(sync)
	return c
}
