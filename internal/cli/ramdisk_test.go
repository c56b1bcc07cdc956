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

	"github.com/pitstop-go/pitstop/internal/ramdisk"
)

// TestRamdiskCLI drives enable, status --json, sync and disable through
// the command line as root in a private mount namespace (the test binary
// runs itself again under `unshare -m --propagation private`), with real
// tmpfs and overlay mounts. internal/ramdisk tests the mechanism in depth;
// this checks the wiring: flags, --skip-build-cache, output, exit codes.
func TestRamdiskCLI(t *testing.T) {
	const nsEnv = "PITSTOP_CLI_RAMDISK_NS"
	if os.Getenv(nsEnv) != "1" {
		if os.Geteuid() != 0 {
			t.Skip("needs root: mounts tmpfs and overlay filesystems in a private mount namespace (run the suite as root; CI does)")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("needs unshare(1) from util-linux")
		}
		exe, _ := os.Executable()
		cmd := exec.Command(unshare, "-m", "--propagation", "private", exe, "-test.run", "^TestRamdiskCLI$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), nsEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("in a private mount namespace:\n%s", out)
		if err != nil && bytes.Contains(out, []byte("exec format error")) {
			t.Skip("cannot run this test binary again under unshare: exec format error (qemu-user without binfmt_misc)")
		}
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestRamdiskCLI")) {
			t.Fatalf("in the namespace: %v", err)
		}
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
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append(append([]string{"ramdisk"}, args...), common...), nil, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("pitstop ramdisk %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	t.Cleanup(func() {
		var b bytes.Buffer
		Main(context.Background(), append([]string{"ramdisk", "disable"}, common...), nil, &b, &b)
	})

	out := run("enable", "--path", mod, "--path", gocache, "--size", "32M", "--skip-build-cache")
	if !strings.Contains(out, "enabled "+mod+": changes go to a 32 MiB tmpfs (grows up to 64 MiB") {
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
	if !strings.Contains(out, "disabled "+mod+": synced and unmounted") || !strings.Contains(out, "disabled "+gocache+" (its changes were not synced: skip-sync)") {
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
