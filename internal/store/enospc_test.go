package store_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
)

const enospcEnv = "PITSTOP_STORE_ENOSPC_CHILD"

// TestFullDisk fills a 1 MiB tmpfs, mounted in a private mount namespace
// (unshare -m), with a Put that does not fit: the Put fails with ENOSPC,
// nothing is stored, no temp file is left, and the store still works.
func TestFullDisk(t *testing.T) {
	if inMountNS(t, "TestFullDisk") {
		fullDiskChild(t)
	}
}

func grepLines(b []byte, sub string) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(l, []byte(sub)) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func fullDiskChild(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Put(ctx, "small", strings.NewReader("fits")); err != nil {
		t.Fatal(err)
	}
	err = d.Put(ctx, "m/@v/v1.0.0.zip", bytes.NewReader(make([]byte, 2<<20)))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put of 2 MiB into a 1 MiB tmpfs = %v, want ENOSPC", err)
	}
	t.Logf("full_disk: Put failed as it should: %v", err)
	if _, err := d.Get(ctx, "m/@v/v1.0.0.zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after ENOSPC, Get = %v, want fs.ErrNotExist", err)
	}
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(de.Name(), ".tmp-") {
			t.Errorf("temp file %s left after ENOSPC", p)
		}
		return nil
	})
	if u := d.Usage(); u.Objects != 1 || u.Bytes != 4 {
		t.Errorf("Usage = %+v, want the one small object", u)
	}
	if err := d.Put(ctx, "after", strings.NewReader("still works")); err != nil {
		t.Errorf("Put after ENOSPC: %v", err)
	}
}
