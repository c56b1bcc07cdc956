package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/storetest"
)

func TestDiskConformanceLazy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		return openDisk(t, t.TempDir(), store.Options{MaxSize: maxSize, NoSync: true, Lazy: true})
	})
}

// A lazy Open does not walk the directory (a crash leftover stays until
// the index is needed); reads and writes work without the index, and
// Usage then counts everything on disk, including what was written before.
func TestLazyOpenIndexesOnFirstNeed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := openDisk(t, dir, store.Options{})
	d.Put(ctx, "o/ab/one", strings.NewReader("12345"))
	leftover := filepath.Join(dir, "o/ab/.tmp-999")
	os.WriteFile(leftover, []byte("partial"), 0o600)

	lz := openDisk(t, dir, store.Options{Lazy: true})
	if _, err := os.Stat(leftover); err != nil {
		t.Fatalf("lazy Open walked the directory (the leftover is gone): %v", err)
	}
	want(t, lz, "o/ab/one", "12345")
	if err := lz.Put(ctx, "a/cd/two", strings.NewReader("678")); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, lz, "o/ab/three")
	if u := lz.Usage(); u.Objects != 2 || u.Bytes != 8 {
		t.Errorf("lazy Usage = %+v, want 8 bytes in 2 objects", u)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover survived building the index: %v", err)
	}
	// Once indexed, writes and deletes are counted as they happen.
	lz.Put(ctx, "a/cd/four", strings.NewReader("9"))
	lz.Delete(ctx, "o/ab/one")
	if u := lz.Usage(); u.Objects != 2 || u.Bytes != 4 {
		t.Errorf("Usage after a put and a delete = %+v, want 4 bytes in 2 objects", u)
	}
}

// A lazy store with a cap builds its index at the first Commit and keeps
// the cap from then on, counting what was there before it opened.
func TestLazyCapCountsExisting(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := openDisk(t, dir, store.Options{})
	for _, k := range []string{"x/1", "x/2", "x/3"} {
		d.Put(ctx, k, strings.NewReader(strings.Repeat("x", 1000)))
	}
	lz := openDisk(t, dir, store.Options{Lazy: true, MaxSize: 2500})
	if len(listFiles(t, dir)) != 3 {
		t.Fatalf("lazy Open evicted before anything was written")
	}
	lz.Put(ctx, "x/4", strings.NewReader(strings.Repeat("y", 1000)))
	u := lz.Usage()
	if u.Bytes > 2500 || u.Evictions == 0 {
		t.Errorf("after a Commit over the cap: %+v, want evictions down to 2500 bytes", u)
	}
	want(t, lz, "x/4", strings.Repeat("y", 1000))
	if n := int64(len(listFiles(t, dir))); n != u.Objects {
		t.Errorf("%d files on disk, Usage says %d", n, u.Objects)
	}
}

// want checks that key holds data.
func want(t *testing.T, d *store.Disk, key, data string) {
	t.Helper()
	obj, err := d.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil || string(b) != data {
		t.Fatalf("Get(%s) read %q, %v; want %q", key, b, err, data)
	}
}

func wantMiss(t *testing.T, d *store.Disk, key string) {
	t.Helper()
	if _, err := d.Stat(context.Background(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(%s) = %v, want fs.ErrNotExist", key, err)
	}
}

func times(t *testing.T, p string) (atime, mtime time.Time) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Atim.Unix()), fi.ModTime()
}

// Uses in a lazy store outlive the process: a read of an object whose last
// recorded use is over an hour old sets its access time (not its
// modification time), so that a later process's trim keeps it over an
// object stored after it; a read within the hour writes nothing.
func TestLazyMarksUsesOnDisk(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := openDisk(t, dir, store.Options{NoSync: true})
	for _, k := range []string{"old", "newer", "recent"} {
		d.Put(ctx, k, strings.NewReader("0123456789"))
	}
	stored := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	os.Chtimes(filepath.Join(dir, "old"), stored, stored)
	os.Chtimes(filepath.Join(dir, "newer"), stored.Add(time.Minute), stored.Add(time.Minute))
	halfHour := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	os.Chtimes(filepath.Join(dir, "recent"), halfHour, stored)

	// One helper process: touches "old" (Touch reads no bytes, so the
	// kernel's own atime update cannot be what we see) and "recent".
	lz := openDisk(t, dir, store.Options{Lazy: true})
	before := time.Now()
	if _, err := lz.Touch(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := lz.Touch(ctx, "recent"); err != nil {
		t.Fatal(err)
	}
	at, mt := times(t, filepath.Join(dir, "old"))
	if at.Before(before.Add(-time.Second)) || !mt.Equal(stored) {
		t.Errorf("old after a use: atime %v mtime %v; want atime now and mtime %v (when stored)", at, mt, stored)
	}
	if at, _ := times(t, filepath.Join(dir, "recent")); !at.Equal(halfHour) {
		t.Errorf("a use within the hour wrote the access time: %v, was %v", at, halfHour)
	}
	if obj, err := lz.Get(ctx, "old"); err != nil || !obj.ModTime.Equal(stored) {
		t.Errorf("Get(old) = %v, %v; want the ModTime it was stored at", obj.ModTime, err)
	} else {
		obj.Close()
	}

	// The next process trims to one object: "newer" and "recent" were
	// last used before "old".
	next := openDisk(t, dir, store.Options{Lazy: true})
	if err := next.Trim(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listFiles(t, dir), " "); got != "old" {
		t.Errorf("after the trim: %s, want old (the one used last)", got)
	}
}

// ReadSmall reads what Get would, cut to the buffer, and misses where Get
// misses.
func TestReadSmall(t *testing.T) {
	for _, lazy := range []bool{false, true} {
		dir := t.TempDir()
		d := openDisk(t, dir, store.Options{Lazy: lazy})
		ctx := context.Background()
		d.Put(ctx, "a/entry", strings.NewReader("v1 small entry\n"))
		d.Put(ctx, "a/empty", strings.NewReader(""))
		var buf [8]byte
		data, info, err := d.ReadSmall(ctx, "a/entry", buf[:])
		if err != nil || string(data) != "v1 small" || info.Size != 15 || info.Key != "a/entry" {
			t.Errorf("lazy %v: ReadSmall into 8 bytes = %q %+v %v; want the first 8 bytes and Size 15", lazy, data, info, err)
		}
		ref, _ := d.Stat(ctx, "a/entry")
		if !info.ModTime.Equal(ref.ModTime) {
			t.Errorf("lazy %v: ReadSmall ModTime %v, Stat says %v", lazy, info.ModTime, ref.ModTime)
		}
		big := make([]byte, 64)
		if data, _, err := d.ReadSmall(ctx, "a/entry", big); err != nil || string(data) != "v1 small entry\n" {
			t.Errorf("lazy %v: ReadSmall = %q, %v", lazy, data, err)
		}
		if data, info, err := d.ReadSmall(ctx, "a/empty", big); err != nil || len(data) != 0 || info.Size != 0 {
			t.Errorf("lazy %v: ReadSmall of an empty object = %q %+v %v", lazy, data, info, err)
		}
		if _, _, err := d.ReadSmall(ctx, "a/none", big); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lazy %v: ReadSmall of a missing key = %v, want fs.ErrNotExist", lazy, err)
		}
		if _, _, err := d.ReadSmall(ctx, "a", big); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lazy %v: ReadSmall of a directory = %v, want fs.ErrNotExist", lazy, err)
		}
		os.Symlink(filepath.Join(dir, "a/entry"), filepath.Join(dir, "link"))
		if _, _, err := d.ReadSmall(ctx, "link", big); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("lazy %v: ReadSmall of a symlink = %v, want fs.ErrNotExist", lazy, err)
		}
		if _, _, err := d.ReadSmall(ctx, "../x", big); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("lazy %v: ReadSmall of ../x = %v, want ErrBadKey", lazy, err)
		}
		p, err := d.Path("a/entry")
		if b, rerr := os.ReadFile(p); err != nil || rerr != nil || string(b) != "v1 small entry\n" {
			t.Errorf("lazy %v: Path = %q, %v: reads %q, %v", lazy, p, err, b, rerr)
		}
		if _, err := d.Path("a//b"); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("lazy %v: Path(a//b) = %v, want ErrBadKey", lazy, err)
		}
	}
}

// ReadSmall counts as a use: a trim keeps the object read over an older
// unread one.
func TestReadSmallRecordsUse(t *testing.T) {
	d := openDisk(t, t.TempDir(), store.Options{})
	ctx := context.Background()
	d.Put(ctx, "a", strings.NewReader("0123456789"))
	d.Put(ctx, "b", strings.NewReader("0123456789"))
	if _, _, err := d.ReadSmall(ctx, "a", make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := d.Trim(ctx, 10); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, d, "b")
	if _, err := d.Stat(ctx, "a"); err != nil {
		t.Errorf("the object read was evicted: %v", err)
	}
}

// Building the index while other goroutines write and read loses nothing:
// every Commit lands either in the walk or in the index after it.
func TestLazyIndexWhileWriting(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	lz := openDisk(t, dir, store.Options{Lazy: true, NoSync: true})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 8)
			for i := range 50 {
				key := fmt.Sprintf("k/%d/%d", g, i)
				if err := lz.Put(ctx, key, strings.NewReader("abc")); err != nil {
					t.Error(err)
					return
				}
				if data, _, err := lz.ReadSmall(ctx, key, buf); err != nil || string(data) != "abc" {
					t.Errorf("ReadSmall(%s) = %q, %v", key, data, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		time.Sleep(time.Millisecond)
		lz.Usage()
	})
	wg.Wait()
	u := lz.Usage()
	if u.Objects != 200 || u.Bytes != 600 || len(listFiles(t, dir)) != 200 {
		t.Errorf("Usage = %+v with %d files on disk, want 600 bytes in 200 objects", u, len(listFiles(t, dir)))
	}
}
