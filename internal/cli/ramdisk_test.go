package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/ramdisk"
)

// inRamdiskNamespace reports whether the calling test runs as root in a
// private mount namespace; if not, it runs the test there (the test binary
// runs itself again under `unshare -m --propagation private`), or skips
// saying why, and the caller returns.
func inRamdiskNamespace(t *testing.T) bool {
	t.Helper()
	const nsEnv = "PITSTOP_CLI_RAMDISK_NS"
	if os.Getenv(nsEnv) == "1" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts tmpfs and overlay filesystems in a private mount namespace (run the suite as root; CI does)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux")
	}
	exe, _ := os.Executable()
	cmd := exec.Command(unshare, "-m", "--propagation", "private", exe, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a private mount namespace:\n%s", out)
	if err != nil && bytes.Contains(out, []byte("exec format error")) {
		t.Skip("cannot run this test binary again under unshare: exec format error (qemu-user without binfmt_misc)")
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("in the namespace: %v", err)
	}
	return false
}

// ramdiskRunner returns a function that runs `pitstop ramdisk ARGS
// COMMON...` and returns its stdout, failing the test unless it exits 0;
// at the end of the test, whatever is still in RAM is disabled.
func ramdiskRunner(t *testing.T, common []string) func(args ...string) string {
	t.Cleanup(func() {
		var b bytes.Buffer
		Main(context.Background(), append([]string{"ramdisk", "disable"}, common...), nil, &b, &b)
	})
	return func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append(append([]string{"ramdisk"}, args...), common...), nil, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("pitstop ramdisk %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
}

// TestRamdiskCLI drives enable, status --json, sync and disable through
// the command line as root in a private mount namespace (the test binary
// runs itself again under `unshare -m --propagation private`), with real
// tmpfs and overlay mounts. internal/ramdisk tests the mechanism in depth;
// this checks the wiring: flags, --skip-build-cache, output, exit codes.
func TestRamdiskCLI(t *testing.T) {
	if !inRamdiskNamespace(t) {
		return
	}
	base := t.TempDir()
	mod := filepath.Join(base, "go", "pkg", "mod")
	gocache := filepath.Join(base, "cache", "go-build")
	for _, d := range []string{mod, gocache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(mod, "old.txt"), []byte("on disk before\n"), 0o444)
	t.Setenv("GOCACHE", gocache) // what `go env GOCACHE` reports, for --skip-build-cache
	common := []string{"--config", filepath.Join(base, "etc", "ramdisk.conf"), "--run-dir", filepath.Join(base, "run")}
	run := ramdiskRunner(t, common)

	out := run("enable", "--path", mod, "--path", gocache, "--size", "32M", "--skip-build-cache")
	if !strings.Contains(out, "done: mount "+mod+": overlay ") || !strings.Contains(out, "(changes go to a 32 MiB tmpfs, which grows up to 64 MiB") {
		t.Fatalf("enable said:\n%s", out)
	}
	os.WriteFile(filepath.Join(mod, "new.txt"), []byte("written in RAM\n"), 0o444)
	os.Remove(filepath.Join(mod, "old.txt"))
	os.WriteFile(filepath.Join(gocache, "entry-d"), []byte("build output\n"), 0o644)

	var sts []ramdisk.Status
	if err := json.Unmarshal([]byte(run("status", "--json")), &sts); err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || !sts[0].Active || sts[0].Unsynced == nil || sts[0].Unsynced.Files != 1 || sts[0].Unsynced.Dels != 1 || !sts[1].SkipSync {
		t.Fatalf("status --json: %+v", sts)
	}
	out = run("sync")
	if !strings.Contains(out, "synced "+mod+" (generation 1): 1 files (15 B), 1 deletions") || !strings.Contains(out, "sync "+gocache+": skipped (skip-sync)") {
		t.Fatalf("sync said:\n%s", out)
	}
	if text := run("status"); !strings.Contains(text, "not synced: 0 files (0 B), 0 deletions") || !strings.Contains(text, "on disk:    generation 1") {
		t.Fatalf("status said:\n%s", text)
	}
	out = run("disable")
	if !strings.Contains(out, "done: sync "+mod+" (") || !strings.Contains(out, "done: unmount "+mod+": overlay → the directory on disk") ||
		!strings.Contains(out, "done: unmount "+gocache+": overlay") || strings.Contains(out, "sync "+gocache) || !strings.Contains(out, "its changes are dropped, not synced: skip-sync") {
		t.Fatalf("disable said:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(mod, "new.txt")); err != nil || string(b) != "written in RAM\n" {
		t.Errorf("new.txt on disk after disable: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(mod, "old.txt")); err == nil {
		t.Error("old.txt still on disk after its deletion was synced")
	}
	if _, err := os.Stat(filepath.Join(gocache, "entry-d")); err == nil {
		t.Error("a skip-sync build cache entry reached the disk")
	}
	if _, err := os.Stat(filepath.Join(base, "etc", "ramdisk.conf")); err == nil {
		t.Error("config left after disabling everything")
	}
}

// samePlan checks that a dry run (--dry-run --json) and the real run
// (--json: the plan it carried out) printed the same plan, with steps.
func samePlan(t *testing.T, what, dry, real string) {
	t.Helper()
	if dry != real {
		t.Fatalf("%s: the dry run's plan and the real run's differ:\n--- dry run\n%s--- real run\n%s", what, dry, real)
	}
	var p struct {
		Schema string
		Steps  []struct{ Action, Target string }
	}
	if err := json.Unmarshal([]byte(dry), &p); err != nil || p.Schema != "pitstop-plan/v1" || len(p.Steps) == 0 {
		t.Fatalf("%s: plan %v, %v:\n%s", what, p, err, dry)
	}
}

// TestRamdiskPlanMatchesRun: enable and disable print, as a dry run, the
// very plan the real run then carries out.
func TestRamdiskPlanMatchesRun(t *testing.T) {
	if !inRamdiskNamespace(t) {
		return
	}
	base := t.TempDir()
	mod := filepath.Join(base, "go", "pkg", "mod")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "old.txt"), []byte("on disk before\n"), 0o644)
	fresh := filepath.Join(base, "cache", "go-build") // made by enable
	common := []string{"--config", filepath.Join(base, "etc", "ramdisk.conf"), "--run-dir", filepath.Join(base, "run")}
	run := ramdiskRunner(t, common)
	t.Setenv("GOMODCACHE", mod)
	t.Setenv("GOCACHE", fresh)

	enable := []string{"enable", "--size", "32M", "--high-water", "60"} // GOMODCACHE and GOCACHE
	dry := run(append(enable, "--dry-run", "--json")...)
	if ramdisk.Active(host.Live(), mod) {
		t.Fatal("the dry run mounted")
	}
	samePlan(t, "enable", dry, run(append(enable, "--json")...))
	if !ramdisk.Active(host.Live(), mod) || !ramdisk.Active(host.Live(), fresh) {
		t.Fatal("enable --json did not put both directories in RAM")
	}

	os.WriteFile(filepath.Join(mod, "new.txt"), []byte("written in RAM\n"), 0o644)
	os.Remove(filepath.Join(mod, "old.txt"))
	dry = run("disable", "--dry-run", "--json")
	if !ramdisk.Active(host.Live(), mod) {
		t.Fatal("the dry run unmounted")
	}
	if !strings.Contains(dry, `"note": "write the changes held in RAM back to disk: 1 files (15 B), 1 deletions pending"`) {
		t.Errorf("the disable plan does not say what the sync will write:\n%s", dry)
	}
	samePlan(t, "disable", dry, run("disable", "--json"))
	if ramdisk.Active(host.Live(), mod) || ramdisk.Active(host.Live(), fresh) {
		t.Fatal("still in RAM after disable --json")
	}
	if b, err := os.ReadFile(filepath.Join(mod, "new.txt")); err != nil || string(b) != "written in RAM\n" {
		t.Errorf("new.txt on disk after disable: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(base, "etc", "ramdisk.conf")); err == nil {
		t.Error("config left after disabling everything")
	}
}
