package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMain runs pitstop with args and returns its exit code and output.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &out)
	return code, out.String()
}

// TestCacheServeTokens runs `pitstop cache serve` with write and admin
// tokens from files: trim and forget from the CLI are refused without the
// admin token (and with the write token), and done with it.
func TestCacheServeTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, tok string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wf, af := write("write", "ci-secret"), write("admin", "admin-secret")
	t.Setenv("PITSTOP_CACHE_TOKEN", "")
	t.Setenv("PITSTOP_CACHE_ADMIN_TOKEN", "")
	addr, stop := startServe(t, "cache", "--listen", "127.0.0.1:0", "--dir", filepath.Join(dir, "srv"),
		"--write-token-file", wf, "--admin-token-file", af, "--progress-timeout", "5s", "--max-conns", "64")
	defer stop()
	url := "http://" + addr
	action := strings.Repeat("ab", 32)
	for _, tf := range []string{"", wf} {
		args := []string{"cache", "trim", "--dir", "", "--server", url, "--max-size", "0"}
		if tf != "" {
			args = append(args, "--token-file", tf)
		}
		if code, out := runMain(t, args...); code == 0 || !strings.Contains(out, "token") {
			t.Errorf("trim with token file %q: exit %d, %q; want refused for want of the admin token", tf, code, out)
		}
		args = []string{"cache", "forget", action, "--server", url}
		if tf != "" {
			args = append(args, "--token-file", tf)
		}
		if code, out := runMain(t, args...); code == 0 || !strings.Contains(out, "token") {
			t.Errorf("forget with token file %q: exit %d, %q; want refused", tf, code, out)
		}
	}
	if code, out := runMain(t, "cache", "trim", "--dir", "", "--server", url, "--max-size", "0", "--token-file", af); code != 0 || !strings.Contains(out, "removed 0 files") {
		t.Errorf("trim with the admin token: exit %d, %q", code, out)
	}
	t.Setenv("PITSTOP_CACHE_ADMIN_TOKEN", "admin-secret")
	if code, out := runMain(t, "cache", "forget", action, "--server", url); code != 0 || !strings.Contains(out, "not on the server") {
		t.Errorf("forget with the admin token from the environment: exit %d, %q", code, out)
	}
}
