package store_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
)

// GetFile answers like Get: the bytes stored, size and time, misses for
// absent keys and for symlinks, and bad keys refused.
func TestGetFileLikeGet(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, store.Options{})
	ctx := context.Background()
	want := strings.Repeat("zip bytes ", 1000)
	if err := d.Put(ctx, "m/@v/v1.0.0.zip", strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	obj, err := d.GetFile(ctx, "m/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.Body.(*os.File); !ok {
		t.Errorf("GetFile Body is %T, want *os.File (for sendfile)", obj.Body)
	}
	got, err := io.ReadAll(obj.Body)
	obj.Close()
	if err != nil || string(got) != want {
		t.Fatalf("GetFile read %d bytes, %v; want the %d stored", len(got), err, len(want))
	}
	ref, err := d.Get(ctx, "m/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	ref.Close()
	if obj.Size != int64(len(want)) || !obj.ModTime.Equal(ref.ModTime) {
		t.Errorf("GetFile size %d time %v; Get says %d %v", obj.Size, obj.ModTime, ref.Size, ref.ModTime)
	}
	if _, err := d.GetFile(ctx, "m/@v/v9.0.0.zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetFile of a missing key = %v, want fs.ErrNotExist", err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("outside"), 0o600)
	os.Symlink(secret, filepath.Join(dir, "link"))
	if obj, err := d.GetFile(ctx, "link"); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			obj.Close()
		}
		t.Errorf("GetFile of a symlink = %v, want fs.ErrNotExist", err)
	}
	if _, err := d.GetFile(ctx, "../escape"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetFile of ../escape = %v, want a bad-key error", err)
	}
}

// Touch reports an object's Info and records a use, so a trim keeps the
// touched object over one stored after it; a missing key is fs.ErrNotExist.
func TestTouchRecordsUse(t *testing.T) {
	d := openDisk(t, t.TempDir(), store.Options{})
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if err := d.Put(ctx, k, strings.NewReader("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	info, err := d.Touch(ctx, "a")
	if err != nil || info.Size != 10 || info.Key != "a" {
		t.Fatalf("Touch(a) = %+v, %v", info, err)
	}
	if err := d.Trim(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "a"); err != nil {
		t.Errorf("touched object evicted: %v", err)
	}
	if _, err := d.Stat(ctx, "b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("untouched older object kept: %v", err)
	}
	if _, err := d.Touch(ctx, "b"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Touch of an evicted object = %v, want fs.ErrNotExist", err)
	}
}
