package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/atomicfile/atomicfiletest"
)

// TestWriteDurableOrder: WriteFile fsyncs the temp file with all its
// bytes, renames it over the target, then fsyncs the directory.
func TestWriteDurableOrder(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	rec := &atomicfiletest.Recorder{}
	if err := (atomicfile.FS{Ops: rec}).WriteFile(p, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := rec.Events()
	if len(ev) != 3 ||
		ev[0].Op != "fsync" || filepath.Dir(ev[0].Path) != dir || ev[0].Size != int64(len("content")) ||
		ev[1].Op != "rename" || ev[1].Path != ev[0].Path || ev[1].To != p ||
		ev[2].Op != "syncdir" || ev[2].Path != dir {
		t.Fatalf("want fsync of a full temp file beside %s, its rename to it, fsync of %s; got:\n%s", p, dir, rec)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "content" {
		t.Fatalf("%q, %v", b, err)
	}
}
