package store_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/atomicfile/atomicfiletest"
	"github.com/pitstop-go/pitstop/internal/store"
)

// TestCommitDurableOrder: a Commit writes the temp file, fsyncs it with all
// its bytes, renames it to the key's path, then fsyncs the directory, in
// that order. A crash after Commit returns then finds the object whole.
func TestCommitDurableOrder(t *testing.T) {
	dir := t.TempDir()
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &atomicfiletest.Recorder{}
	store.SetFileOps(d, rec)
	const key, body = "a/b/obj", "twelve bytes"
	if err := d.Put(context.Background(), key, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(dir, "a", "b", "obj")
	ev := rec.Events()
	if len(ev) != 3 {
		t.Fatalf("a Commit made %d durability operations, want fsync, rename, directory fsync:\n%s", len(ev), rec)
	}
	fsync, rename, syncdir := ev[0], ev[1], ev[2]
	if fsync.Op != "fsync" || fsync.Size != int64(len(body)) || filepath.Dir(fsync.Path) != filepath.Dir(final) {
		t.Errorf("first: %v, want the fsync of a temp file beside %s holding all %d bytes\n%s", fsync, final, len(body), rec)
	}
	if rename.Op != "rename" || rename.Path != fsync.Path || rename.To != final {
		t.Errorf("second: %v, want the rename of the fsynced temp file to %s\n%s", rename, final, rec)
	}
	if syncdir.Op != "syncdir" || syncdir.Path != filepath.Dir(final) {
		t.Errorf("third: %v, want the fsync of %s\n%s", syncdir, filepath.Dir(final), rec)
	}
}

// TestNoSyncSkipsOnlyFsyncs: with NoSync a Commit still renames into place
// but makes no fsync.
func TestNoSyncSkipsOnlyFsyncs(t *testing.T) {
	dir := t.TempDir()
	d, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := &atomicfiletest.Recorder{}
	store.SetFileOps(d, rec)
	if err := d.Put(context.Background(), "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	ev := rec.Events()
	if len(ev) != 1 || ev[0].Op != "rename" || ev[0].To != filepath.Join(dir, "k") {
		t.Fatalf("NoSync Commit: want only the rename, got:\n%s", rec)
	}
}
