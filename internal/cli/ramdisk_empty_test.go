package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With no RAM disk, sync says there was nothing to do instead of printing
// nothing at all.
func TestRamdiskSyncNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: pitstop ramdisk sync refuses to run otherwise")
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"ramdisk", "sync", "--config", filepath.Join(dir, "ramdisk.conf"), "--run-dir", filepath.Join(dir, "run")}, strings.NewReader(""), &stdout, &stderr)
	if code != 0 || stdout.String() != "nothing to sync: no RAM disk is mounted (pitstop ramdisk status lists them)\n" || stderr.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
}
