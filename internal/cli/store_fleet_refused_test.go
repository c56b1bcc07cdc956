package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveRefused runs `pitstop WHAT serve --dir D ARGS...` and checks the
// refusal of a bad fleet setting: exit 2, one line mentioning want, and
// D not created.
func serveRefused(t *testing.T, what string, args []string, want string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "store")
	var stderr bytes.Buffer
	args = append([]string{what, "serve", "--dir", dir, "--listen", "127.0.0.1:0"}, args...)
	code := Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
	msg := strings.TrimSpace(stderr.String())
	if code != 2 {
		t.Errorf("%v: exit %d, want 2; stderr: %s", args, code, msg)
	}
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, want) {
		t.Errorf("%v: stderr %q: want one line mentioning %q", args, msg, want)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%v: %s was created", args, dir)
	}
}
