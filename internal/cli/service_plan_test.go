package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/systemd"
)

// TestServicePlansMatchRuns: install-service and uninstall-service of
// proxy, cache and ramdisk print, as a dry run, the very plan the real run
// then carries out (into a scratch unit directory, with a fake systemctl).
func TestServicePlansMatchRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: ramdisk install-service and every uninstall-service refuse a real run otherwise")
	}
	var calls []string
	systemctl = func(args ...string) error {
		calls = append(calls, strings.Join(args, " "))
		return nil
	}
	t.Cleanup(func() { systemctl = nil })
	// The test binary lives in a temporary directory, which units cannot
	// see: the real runs copy it here, not into /usr/local/bin.
	binDir := t.TempDir()
	unitBinDir = binDir
	t.Cleanup(func() { unitBinDir = systemd.BinDir })
	for _, tc := range []struct {
		group string
		extra []string
		units []string
	}{
		{"proxy", []string{"--upstream", "http://upstream.lan:8080"}, []string{"pitstop-proxy.service"}},
		{"cache", nil, []string{"pitstop-cache.service"}},
		{"serve", []string{"--upstream", "http://upstream.lan:8080"}, []string{"pitstop-serve.service"}},
		{"ramdisk", []string{"--sync-every", "30m"}, []string{"pitstop-ramdisk.service", "pitstop-ramdisk-sync.service", "pitstop-ramdisk-sync.timer", "pitstop-ramdisk-watch.service"}},
	} {
		t.Run(tc.group, func(t *testing.T) {
			dir := t.TempDir()
			run := func(args ...string) string {
				t.Helper()
				var stdout, stderr bytes.Buffer
				args = append([]string{tc.group}, append(args, "--unit-dir", dir)...)
				if code := Main(context.Background(), args, nil, &stdout, &stderr); code != 0 {
					t.Fatalf("pitstop %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
				}
				return stdout.String()
			}
			calls = nil
			install := append([]string{"install-service"}, tc.extra...)
			dry := run(append(install, "--dry-run", "--json")...)
			if ents, _ := os.ReadDir(dir); len(ents) != 0 || len(calls) != 0 {
				t.Fatalf("the dry run wrote %d files, ran systemctl %v", len(ents), calls)
			}
			samePlan(t, "install-service", dry, run(append(install, "--json")...))
			if exe, _ := os.Executable(); systemd.HiddenFrom(exe) != "" {
				copied := filepath.Join(binDir, filepath.Base(exe))
				if _, err := os.Stat(copied); err != nil {
					t.Errorf("the binary was not copied where units see it: %v", err)
				}
				for _, u := range tc.units {
					b, _ := os.ReadFile(filepath.Join(dir, u))
					if strings.Contains(string(b), "ExecStart=") && !strings.Contains(string(b), "ExecStart="+copied+" ") {
						t.Errorf("%s does not run the copy %s:\n%s", u, copied, b)
					}
				}
				os.Remove(copied) // the next group copies it again
			}
			for _, u := range tc.units {
				if _, err := os.Stat(filepath.Join(dir, u)); err != nil {
					t.Errorf("not installed: %v", err)
				}
			}
			if len(calls) != 2 || calls[0] != "daemon-reload" || !strings.HasPrefix(calls[1], "enable --now ") {
				t.Errorf("systemctl calls: %q", calls)
			}

			calls = nil
			dry = run("uninstall-service", "--dry-run", "--json")
			if ents, _ := os.ReadDir(dir); len(ents) != len(tc.units) || len(calls) != 0 {
				t.Fatalf("the dry run left %d files, ran systemctl %v", len(ents), calls)
			}
			samePlan(t, "uninstall-service", dry, run("uninstall-service", "--json"))
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("uninstall left %d files", len(ents))
			}
			if len(calls) != 2 || !strings.HasPrefix(calls[0], "disable --now ") || calls[1] != "daemon-reload" {
				t.Errorf("systemctl calls: %q", calls)
			}
		})
	}
}
