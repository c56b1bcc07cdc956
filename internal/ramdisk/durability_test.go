package ramdisk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/atomicfile/atomicfiletest"
)

// TestSyncDurableOrder: a sync flushes the staged files (syncfs) before it
// writes and renames the journal (the commit point), moves staged files
// into the disk copy only after that, and flushes the disk copy before
// recording the sync as complete. Killing a process keeps the page cache,
// so no crash test can see this order; the recorder does.
func TestSyncDurableOrder(t *testing.T) {
	s := plainSyncer(t)
	if err := os.MkdirAll(filepath.Join(s.upper, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"a.txt": "new file\n", "sub/b.txt": "another\n"}
	for rel, data := range files {
		if err := os.WriteFile(filepath.Join(s.upper, rel), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec := &atomicfiletest.Recorder{}
	s.fs = atomicfile.FS{Ops: rec}
	if _, err := s.run(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	for rel, data := range files {
		if b, err := os.ReadFile(filepath.Join(s.disk, rel)); err != nil || string(b) != data {
			t.Fatalf("disk copy %s: %q, %v; want %q", rel, b, err, data)
		}
	}

	at := func(what string, from int, match func(atomicfiletest.Event) bool) int {
		t.Helper()
		i := rec.Index(from, match)
		if i < 0 {
			t.Fatalf("no %s after event %d in:\n%s", what, from, rec)
		}
		return i
	}
	// Index searches after its first argument, so each step must come
	// after the one before.
	staged := at("syncfs of the staging area", -1, func(e atomicfiletest.Event) bool {
		return e.Op == "syncfs" && e.Path == s.syncDir()
	})
	jfsync := at("fsync of the journal's temp file", staged, func(e atomicfiletest.Event) bool {
		return e.Op == "fsync" && filepath.Dir(e.Path) == s.syncDir() && strings.Contains(filepath.Base(e.Path), "journal") && e.Size > 0
	})
	jrename := at("rename of the journal into place", jfsync, func(e atomicfiletest.Event) bool {
		return e.Op == "rename" && e.To == s.journal()
	})
	for range files {
		jrename = at("rename of a staged file into the disk copy", jrename, func(e atomicfiletest.Event) bool {
			return e.Op == "rename" && filepath.Dir(e.Path) == s.stagedDir() && strings.HasPrefix(e.To, s.disk+string(filepath.Separator))
		})
	}
	flushed := at("syncfs of the disk copy", jrename, func(e atomicfiletest.Event) bool {
		return e.Op == "syncfs" && e.Path == s.disk
	})
	at("rename of last-sync.json", flushed, func(e atomicfiletest.Event) bool {
		return e.Op == "rename" && e.To == s.lastSyncFile()
	})
	// Nothing reaches the disk copy or the journal before the staged files
	// are flushed.
	if i := rec.Index(-1, func(e atomicfiletest.Event) bool {
		return e.Op == "rename" && (e.To == s.journal() || strings.HasPrefix(e.To, s.disk+string(filepath.Separator)))
	}); i < staged {
		t.Fatalf("event %d renames before the staged files are flushed (event %d):\n%s", i, staged, rec)
	}
}
