package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal end of a new pseudo-terminal, as a shell
// hands a command typed by hand.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

// TestCacheProgOnTerminal: `pitstop cache prog` typed by hand explains
// itself in one line and exits 2 instead of waiting for JSON; nothing is
// written to stdout (no handshake) and no tier is created.
func TestCacheProgOnTerminal(t *testing.T) {
	pts := openPTY(t)
	dir := t.TempDir() + "/tier"
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"cache", "prog", "--dir", dir}, pts, &stdout, &stderr)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "GOCACHEPROG helper the go command starts") || !strings.Contains(msg, "go env -w GOCACHEPROG=") {
		t.Errorf("stderr %q: want one line saying what cache prog is and how to use it", msg)
	}
	exe, _ := pitstopExe()
	if !strings.Contains(msg, exe+" cache prog") {
		t.Errorf("stderr %q: the GOCACHEPROG value should name %s by its absolute path", msg, exe)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("tier %s created (%v)", dir, err)
	}
}

// TestCacheServeOnTerminal: only prog refuses a terminal; serve, typed by
// hand, gets as far as its flags (here a bad --listen, exit 2).
func TestCacheServeOnTerminal(t *testing.T) {
	pts := openPTY(t)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"cache", "serve", "--listen", ":abc", "--dir", t.TempDir()}, pts, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `--listen ":abc"`) {
		t.Fatalf("exit %d, stderr %q: want the --listen error", code, stderr.String())
	}
}
