package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
)

// tmpfsUsed is the bytes a filesystem has in use (statfs: one atomic
// figure, temp files of writes in flight included).
func tmpfsUsed(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Error(err)
		return 0
	}
	return int64(st.Blocks-st.Bfree) * int64(st.Bsize)
}

// inMountNS runs the test named name again in a child process inside a
// private mount namespace (unshare -m), where it may mount a tmpfs; it
// reports whether the caller is that child.
func inMountNS(t *testing.T, name string) bool {
	if os.Getenv(enospcEnv) == name {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs in a private mount namespace")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "-m", "--propagation", "private", exe, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), enospcEnv+"="+name)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 126 {
		t.Skipf("cannot run the test binary inside unshare here: %s", out)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+name)) {
		t.Fatalf("child in a mount namespace: %v\n%s", err, out)
	}
	t.Logf("child: %s", bytes.TrimSpace(grepLines(out, "peak")))
	t.Logf("child: %s", bytes.TrimSpace(grepLines(out, "full_disk")))
	return false
}

// diskBytes is what the files under dir hold.
func diskBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if fi, err := de.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestInFlightBytesStayUnderCap writes many objects at once, each arriving
// in small pieces, into a store capped at 4 MiB on a 5 MiB tmpfs of its
// own: at no moment does the filesystem hold more than the cap (stored
// objects plus the temp files of writes in flight, sampled with statfs),
// and no write fails with ENOSPC. Writes that find no room fail with
// ErrFull and leave nothing behind; the others are stored whole. Before
// writes reserved room, 16 writers of 1 MiB each had up to 16 MiB of temp
// files beside up to 4 MiB stored, and hit ENOSPC on this tmpfs.
func TestInFlightBytesStayUnderCap(t *testing.T) {
	if !inMountNS(t, "TestInFlightBytesStayUnderCap") {
		return
	}
	const limit = 4 << 20
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=5m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	d, err := store.Open(dir, store.Options{MaxSize: limit, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := tmpfsUsed(t, dir); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	var wg sync.WaitGroup
	var stored, full atomic.Int64
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				w, err := d.Create(ctx, fmt.Sprintf("m%d/@v/v1.0.%d.zip", g, i))
				if err != nil {
					t.Error(err)
					return
				}
				var werr error
				for range 16 { // 1 MiB in 64 KiB pieces
					if _, werr = w.Write(chunk); werr != nil {
						break
					}
					time.Sleep(200 * time.Microsecond)
				}
				if werr == nil {
					werr = w.Commit()
				}
				w.Abort()
				switch {
				case werr == nil:
					stored.Add(1)
				case errors.Is(werr, store.ErrFull):
					full.Add(1)
				default:
					t.Errorf("write: %v, want success or ErrFull", werr)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if p := peak.Load(); p > limit {
		t.Errorf("the store's filesystem reached %d bytes in use, over the %d-byte cap", p, limit)
	}
	if n := diskBytes(dir); n > limit {
		t.Errorf("after the writes: %d bytes on disk, over the cap", n)
	}
	if r := d.Reserved(); r != 0 {
		t.Errorf("Reserved() = %d after every write ended, want 0", r)
	}
	if u := d.Usage(); u.Bytes != diskBytes(dir) {
		t.Errorf("Usage().Bytes = %d, files hold %d", u.Bytes, diskBytes(dir))
	}
	if stored.Load() == 0 {
		t.Errorf("no write succeeded")
	}
	t.Logf("peak %d bytes on disk under a %d cap; %d objects stored, %d writes refused for lack of room", peak.Load(), limit, stored.Load(), full.Load())
}

// TestReserveUpFront: a writer that knows its size reserves it before
// writing. Reserving more than the cap is ErrTooLarge; reserving what
// pinned objects and another writer's reservation leave no room for is
// ErrFull, at once and with nothing written; an Abort gives the room back.
// Unpinned objects are evicted to make room.
func TestReserveUpFront(t *testing.T) {
	const limit = 4 << 20
	pinned := func(key string) bool { return key == "pinned" }
	d, err := store.Open(t.TempDir(), store.Options{MaxSize: limit, NoSync: true, Pinned: pinned})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Put(ctx, "pinned", bytes.NewReader(make([]byte, 2<<20))); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "old", bytes.NewReader(make([]byte, 1<<20))); err != nil {
		t.Fatal(err)
	}
	reserve := func(key string, n int64) (store.Writer, error) {
		w, err := d.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return w, w.(store.Reserver).Reserve(n)
	}
	if w, err := reserve("huge", limit+1); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Reserve(cap+1) = %v, want ErrTooLarge", err)
	} else {
		w.Abort()
	}
	// 2 MiB pinned + 1 MiB old: a 1.5 MiB reservation evicts "old".
	a, err := reserve("a", 3<<19)
	if err != nil {
		t.Fatalf("Reserve(1.5 MiB) with an evictable object: %v", err)
	}
	if _, err := d.Stat(ctx, "old"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old object not evicted to make room: %v", err)
	}
	// 2 MiB pinned + 1.5 MiB reserved: 1 MiB more cannot fit.
	b, err := reserve("b", 1<<20)
	if !errors.Is(err, store.ErrFull) {
		t.Errorf("Reserve(1 MiB) with 0.5 MiB free = %v, want ErrFull", err)
	}
	if _, werr := b.Write([]byte("x")); werr == nil {
		t.Errorf("Write after a failed Reserve succeeded")
	}
	b.Abort()
	if r := d.Reserved(); r != 3<<19 {
		t.Errorf("Reserved() = %d, want the 1.5 MiB of the live writer", r)
	}
	a.Abort()
	if r := d.Reserved(); r != 0 {
		t.Errorf("Reserved() after Abort = %d, want 0", r)
	}
	c, err := reserve("c", 1<<20)
	if err != nil {
		t.Fatalf("Reserve after the room was given back: %v", err)
	}
	c.Write(make([]byte, 1<<20))
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if r, u := d.Reserved(), d.Usage(); r != 0 || u.Bytes != 3<<20 {
		t.Errorf("after Commit: reserved %d, stored %d; want 0 and 3 MiB", r, u.Bytes)
	}
}

// TestCountBlocksKeepsSmallFilesUnderCap fills a store capped at 256 KiB,
// on a tmpfs of its own, with 400 objects of 100 bytes in directories of
// their own (a proxy's .info files). With CountBlocks the filesystem never
// holds more than the cap (statfs after every write) and Usage counts a
// block per object. The same fill without it is the control: 40,000 bytes
// fit the cap as counted, and take 400 blocks on the disk.
func TestCountBlocksKeepsSmallFilesUnderCap(t *testing.T) {
	if !inMountNS(t, "TestCountBlocksKeepsSmallFilesUnderCap") {
		return
	}
	const limit, n = 256 << 10, 400
	ctx := context.Background()
	body := bytes.Repeat([]byte{'i'}, 100)
	for _, count := range []bool{true, false} {
		dir := t.TempDir()
		if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
			t.Fatalf("mount tmpfs: %v", err)
		}
		defer syscall.Unmount(dir, syscall.MNT_DETACH)
		d, err := store.Open(dir, store.Options{MaxSize: limit, NoSync: true, CountBlocks: count})
		if err != nil {
			t.Fatal(err)
		}
		var peak int64
		for i := range n {
			if err := d.Put(ctx, fmt.Sprintf("example.com/m%03d/@v/v1.0.0.info", i), bytes.NewReader(body)); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			peak = max(peak, tmpfsUsed(t, dir))
		}
		u, block := d.Usage(), d.Room(1)
		if count {
			if peak > limit {
				t.Errorf("CountBlocks: the filesystem reached %d bytes in use, over the %d-byte cap", peak, limit)
			}
			if u.Objects == 0 || u.Bytes != u.Objects*block || u.Bytes > limit {
				t.Errorf("CountBlocks: usage %+v, want a %d-byte block per object, under the cap", u, block)
			}
		} else {
			if u.Objects != n || u.Bytes != n*int64(len(body)) {
				t.Errorf("control: usage %+v, want all %d objects counted by their bytes", u, n)
			}
			if peak <= limit {
				t.Errorf("control: %d bytes in use stayed under the cap without CountBlocks: this filesystem shows nothing here", peak)
			}
		}
		t.Logf("peak %d bytes in use under a %d-byte cap with CountBlocks %v: %d objects kept, block %d", peak, limit, count, u.Objects, block)
	}
}

// TestCountBlocksReserves: with CountBlocks a write reserves whole blocks:
// one byte is too large for a cap under a block, and two one-byte writes
// in flight do not fit a cap of one block.
func TestCountBlocksReserves(t *testing.T) {
	ctx := context.Background()
	d, err := store.Open(t.TempDir(), store.Options{NoSync: true, CountBlocks: true})
	if err != nil {
		t.Fatal(err)
	}
	block := d.Room(1)
	if block < 512 || d.Room(block+1) != 2*block || d.Room(0) != 0 {
		t.Fatalf("Room: 1 byte takes %d, %d bytes take %d, 0 take %d: want whole filesystem blocks", block, block+1, d.Room(block+1), d.Room(0))
	}
	d.SetMaxSize(block - 1)
	if err := d.Put(ctx, "a", bytes.NewReader([]byte{'a'})); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("one byte under a cap of %d bytes: %v, want ErrTooLarge", block-1, err)
	}
	d.SetMaxSize(block)
	w1, err := d.Create(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer w1.Abort()
	if _, err := w1.Write([]byte{'b'}); err != nil {
		t.Fatalf("first write under a one-block cap: %v", err)
	}
	w2, err := d.Create(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Abort()
	if _, err := w2.Write([]byte{'c'}); !errors.Is(err, store.ErrFull) {
		t.Errorf("second one-byte write in flight under a one-block cap: %v, want ErrFull", err)
	}
	if err := w1.Commit(); err != nil {
		t.Fatal(err)
	}
	if u := d.Usage(); u.Bytes != block || u.Objects != 1 {
		t.Errorf("usage %+v, want one object of one block (%d bytes)", u, block)
	}
}
