package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/storetest"
)

func openDisk(t *testing.T, dir string, opt store.Options) *store.Disk {
	t.Helper()
	d, err := store.Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiskConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		return openDisk(t, t.TempDir(), store.Options{MaxSize: maxSize})
	})
}

func TestDiskConformanceNoSync(t *testing.T) {
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		return openDisk(t, t.TempDir(), store.Options{MaxSize: maxSize, NoSync: true})
	})
}

// listFiles returns every file under dir, relative, slash-separated.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDiskLayoutAndReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d := openDisk(t, dir, store.Options{})
	if err := d.Put(ctx, "m/@v/v1.0.0.mod", strings.NewReader("module m\n")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "m/@v/v1.0.0.zip", strings.NewReader("zipzip")); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(listFiles(t, dir), " "), "m/@v/v1.0.0.mod m/@v/v1.0.0.zip"; got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	// Leftovers of a crashed writer, and a stranger's dot file.
	os.WriteFile(filepath.Join(dir, "m/@v/.tmp-123"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, ".keep"), []byte("not ours"), 0o600)

	d2 := openDisk(t, dir, store.Options{})
	if u := d2.Usage(); u.Bytes != 15 || u.Objects != 2 {
		t.Errorf("reopened Usage = %+v, want 15 bytes in 2 objects", u)
	}
	if _, err := os.Stat(filepath.Join(dir, "m/@v/.tmp-123")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover temp file not removed by Open: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".keep")); err != nil {
		t.Errorf("Open removed a dot file that is not a temp file: %v", err)
	}
	var keys []string
	d2.Walk(ctx, "m/", func(in store.Info) error { keys = append(keys, fmt.Sprint(in.Key, " ", in.Size)); return nil })
	if got, want := strings.Join(keys, ","), "m/@v/v1.0.0.mod 9,m/@v/v1.0.0.zip 6"; got != want {
		t.Errorf("Walk = %s, want %s", got, want)
	}
	// Deleting the last objects removes the empty directories.
	d2.Delete(ctx, "m/@v/v1.0.0.mod")
	d2.Delete(ctx, "m/@v/v1.0.0.zip")
	if _, err := os.Stat(filepath.Join(dir, "m")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory m left behind: %v", err)
	}
}

func TestOpenEvictsOverCap(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, store.Options{})
	for i := range 10 {
		d.Put(context.Background(), fmt.Sprintf("k%d", i), bytes.NewReader(make([]byte, 1000)))
	}
	d2 := openDisk(t, dir, store.Options{MaxSize: 5000})
	if u := d2.Usage(); u.Bytes > 5000 || u.Evictions == 0 {
		t.Errorf("Open with a smaller cap: %+v, want at most 5000 bytes and evictions", u)
	}
	if n := len(listFiles(t, dir)); int64(n) != d2.Usage().Objects {
		t.Errorf("%d files on disk, Usage says %d objects", n, d2.Usage().Objects)
	}
}

func TestPinnedNotEvicted(t *testing.T) {
	d := openDisk(t, t.TempDir(), store.Options{MaxSize: 10_000, Pinned: func(key string) bool {
		return strings.HasPrefix(key, "pin/")
	}})
	ctx := context.Background()
	d.Put(ctx, "pin/a", bytes.NewReader(make([]byte, 3000)))
	for i := range 10 {
		d.Put(ctx, fmt.Sprintf("x/%d", i), bytes.NewReader(make([]byte, 1000)))
	}
	if _, err := d.Stat(ctx, "pin/a"); err != nil {
		t.Errorf("pinned object evicted: %v", err)
	}
	if u := d.Usage(); u.Bytes > 10_000 || u.Evictions == 0 {
		t.Errorf("Usage = %+v, want evictions and at most 10000 bytes", u)
	}
}

func TestNotAnObject(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, store.Options{})
	ctx := context.Background()
	d.Put(ctx, "a/b", strings.NewReader("x"))
	// "a" is a directory: a miss, and Put over it fails without damage.
	if _, err := d.Get(ctx, "a"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a directory = %v, want fs.ErrNotExist", err)
	}
	if err := d.Put(ctx, "a", strings.NewReader("y")); err == nil {
		t.Errorf("Put over a directory succeeded")
	}
	if err := d.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory key: %v", err)
	}
	if _, err := d.Get(ctx, "a/b"); err != nil {
		t.Errorf("a/b damaged: %v", err)
	}
	if got := listFiles(t, dir); len(got) != 1 {
		t.Errorf("files = %v, want only a/b", got)
	}
}

// TestBadKeyTouchesNothing checks that rejected keys create no file, inside
// the store or beside it.
func TestBadKeyTouchesNothing(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	d := openDisk(t, dir, store.Options{})
	ctx := context.Background()
	for _, k := range storetest.BadKeys {
		d.Put(ctx, k, strings.NewReader("escape"))
	}
	d.Put(ctx, "../outside", strings.NewReader("escape"))
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 {
		t.Errorf("files appeared beside the store: %v", ents)
	}
	if got := listFiles(t, dir); len(got) != 0 {
		t.Errorf("bad keys stored files: %v", got)
	}
}

func TestServeContentSendsFile(t *testing.T) {
	d := openDisk(t, t.TempDir(), store.Options{})
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	d.Put(ctx, "big.zip", bytes.NewReader(data))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		obj, err := d.Get(r.Context(), "big.zip")
		if err != nil {
			http.Error(w, err.Error(), 404)
			return
		}
		defer obj.Close()
		if _, ok := obj.Body.(*os.File); !ok {
			t.Errorf("Body is %T, want *os.File for sendfile", obj.Body)
		}
		http.ServeContent(w, r, "big.zip", obj.ModTime, obj.Body)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || string(b) != "0123456789" {
		t.Errorf("range request: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, data) || resp.Header.Get("Last-Modified") == "" {
		t.Errorf("full GET: %d bytes, Last-Modified %q", len(b), resp.Header.Get("Last-Modified"))
	}
}

func TestWriterName(t *testing.T) {
	d := openDisk(t, t.TempDir(), store.Options{})
	w, err := d.Create(context.Background(), "z")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	io.WriteString(w, "abc")
	named, ok := w.(interface{ Name() string })
	if !ok {
		t.Fatalf("disk Writer has no Name method")
	}
	b, err := os.ReadFile(named.Name())
	if err != nil || string(b) != "abc" {
		t.Errorf("reading the temp file by Name: %q, %v", b, err)
	}
	if filepath.Dir(named.Name()) != d.Dir() {
		t.Errorf("temp file %s is not in the store's directory %s", named.Name(), d.Dir())
	}
}

// A live writer in another process holds its temp file's lock, so Open in a
// second process must not remove the file under it.
func TestOpenKeepsLiveTempFile(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir, store.Options{})
	w, err := d.Create(context.Background(), "live")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "in progress")
	// A second Open of the same directory (as another process would do);
	// flock locks belong to open file descriptions, so this is a fair
	// stand-in within one process.
	openDisk(t, dir, store.Options{})
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after another Open: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "live"))
	if err != nil || string(got) != "in progress" {
		t.Errorf("committed %q, %v", got, err)
	}
}

// Another process deleting or adding objects shows up as misses and hits.
func TestSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a := openDisk(t, dir, store.Options{})
	b := openDisk(t, dir, store.Options{})
	a.Put(ctx, "k", strings.NewReader("from a"))
	obj, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatalf("b does not see a's object: %v", err)
	}
	obj.Close()
	if u := b.Usage(); u.Objects != 1 || u.Bytes != 6 {
		t.Errorf("b's Usage after reading a's object = %+v, want it counted", u)
	}
	a.Put(ctx, "k", strings.NewReader("from a, longer"))
	obj, err = b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	if u := b.Usage(); u.Objects != 1 || u.Bytes != 14 {
		t.Errorf("b's Usage after reading a's replacement = %+v, want 14 bytes", u)
	}
	a.Delete(ctx, "k")
	if _, err := b.Get(ctx, "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("b.Get after a.Delete = %v, want fs.ErrNotExist", err)
	}
	if u := b.Usage(); u.Objects != 0 || u.Bytes != 0 {
		t.Errorf("b's Usage after the miss = %+v, want it forgotten", u)
	}
}

// The crash test: a child process (this test binary again) writes a large
// object and is killed with SIGKILL part way; reopening the store must find
// the whole object or nothing, and no temp files.
const crashEnv = "PITSTOP_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashPattern is the content the child writes: a deterministic stream, so
// the parent can tell a whole object from a partial one.
func crashPattern(i int) []byte {
	b := make([]byte, 1<<20)
	for j := range b {
		b[j] = byte(i + j*7)
	}
	return b
}

const crashChunks = 64 // a 64 MiB object

func crashChild(dir string) {
	d, err := store.Open(dir, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx := context.Background()
	for round := 0; ; round++ {
		w, err := d.Create(ctx, "m/@v/v1.0.0.zip")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for i := range crashChunks {
			if _, err := w.Write(crashPattern(i)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if round == 0 && i == crashChunks/2 {
				fmt.Println("writing") // the parent may kill us from now on
			}
		}
		if err := w.Commit(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("committed")
	}
}

func TestCrashDuringPut(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB objects repeatedly; skipped in -short mode")
	}
	var whole [sha256.Size]byte
	{
		h := sha256.New()
		for i := range crashChunks {
			h.Write(crashPattern(i))
		}
		copy(whole[:], h.Sum(nil))
	}
	// Kill at several moments: during the first write (nothing committed
	// yet) and later, while an overwrite of a committed object runs.
	for _, wait := range []string{"writing", "committed"} {
		t.Run("after-"+wait, func(t *testing.T) {
			dir := t.TempDir()
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), crashEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				if errors.Is(err, syscall.ENOEXEC) {
					t.Skipf("cannot re-exec the test binary here (no binfmt handler for %s under emulation): %v", runtime.GOARCH, err)
				}
				t.Fatal(err)
			}
			buf := make([]byte, 0, 64)
			one := make([]byte, 1)
			for !bytes.Contains(buf, []byte(wait)) {
				if _, err := out.Read(one); err != nil {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("child ended before %q: %v; stderr: %s", wait, err, stderr.String())
				}
				buf = append(buf, one[0])
			}
			// Let it get into the middle of the next write.
			time.Sleep(20 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			tempsBefore := 0
			for _, f := range listFiles(t, dir) {
				if strings.HasPrefix(filepath.Base(f), ".tmp-") {
					tempsBefore++
				}
			}
			d := openDisk(t, dir, store.Options{})
			for _, f := range listFiles(t, dir) {
				if strings.Contains(f, "/.tmp-") || strings.HasPrefix(f, ".tmp-") {
					t.Errorf("temp file %s left after Open", f)
				}
			}
			obj, err := d.Get(context.Background(), "m/@v/v1.0.0.zip")
			if errors.Is(err, fs.ErrNotExist) {
				if wait == "committed" {
					t.Errorf("a committed object vanished after the crash")
				}
				if u := d.Usage(); u.Objects != 0 {
					t.Errorf("Usage = %+v, want empty", u)
				}
				// Killed between Create and the first Commit: the temp
				// file must have been there, and Open removed it.
				if tempsBefore == 0 {
					t.Errorf("no temp file found before reopening, yet nothing was committed")
				}
				t.Logf("killed before the first Commit: nothing stored")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			h := sha256.New()
			n, err := io.Copy(h, obj.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(h.Sum(nil), whole[:]) {
				t.Fatalf("after SIGKILL the store serves a partial or wrong object (%d bytes)", n)
			}
			t.Logf("killed with a committed object: whole (%d bytes); %d temp file(s) removed by Open", n, tempsBefore)
		})
	}
}

// FuzzDiskKeys stores under arbitrary keys in a real directory: a key is
// either rejected or lands as one regular file inside the store, readable
// back under the same key.
func FuzzDiskKeys(f *testing.F) {
	for _, k := range append([]string{"a", "a/b/c", "x/@v/v1.0.0.zip", "a\\..\\..\\b", "../../etc/passwd"}, storetest.BadKeys...) {
		f.Add(k)
	}
	root := f.TempDir()
	dir := filepath.Join(root, "store")
	d, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ctx := context.Background()
		err := d.Put(ctx, key, strings.NewReader(key))
		if errors.Is(err, store.ErrBadKey) {
			return
		}
		if err == nil {
			obj, err := d.Get(ctx, key)
			if err != nil {
				t.Fatalf("Put(%q) succeeded but Get: %v", key, err)
			}
			b, _ := io.ReadAll(obj.Body)
			obj.Close()
			if string(b) != key {
				t.Fatalf("Get(%q) = %q", key, b)
			}
			p := filepath.Join(dir, filepath.FromSlash(key))
			if rel, err := filepath.Rel(dir, p); err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("key %q stored outside the store: %s", key, p)
			}
			d.Delete(ctx, key)
		}
		// Put may still fail for a good key (an object where a directory is
		// needed); either way nothing may appear beside the store.
		if ents, _ := os.ReadDir(root); len(ents) != 1 {
			t.Fatalf("after Put(%q) the store's parent holds %d entries", key, len(ents))
		}
	})
}

// A symlink planted where an object would be is not served: the store never
// makes one, and following it could leave the directory.
func TestSymlinkIsNotAnObject(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("outside"), 0o600)
	d := openDisk(t, dir, store.Options{})
	os.Symlink(secret, filepath.Join(dir, "link"))
	ctx := context.Background()
	if obj, err := d.Get(ctx, "link"); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			obj.Close()
		}
		t.Errorf("Get of a symlink = %v, want fs.ErrNotExist", err)
	}
	if _, err := d.Stat(ctx, "link"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a symlink = %v, want fs.ErrNotExist", err)
	}
}
