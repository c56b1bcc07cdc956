// Package storetest is the conformance suite every store.Store backend must
// pass, in the manner of golang.org/x/mod/sumdb/storage's TestStorage:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
//			s, err := store.Open(t.TempDir(), store.Options{MaxSize: maxSize})
//			...
//			return s
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
)

// NewStore returns a fresh, empty store capped at maxSize bytes (0 means
// unlimited). Backends that cannot cap their size return a store that does
// not implement store.Trimmer; the eviction tests then report that they
// were not run.
type NewStore func(t *testing.T, maxSize int64) store.Store

// Run runs the whole suite, each test on a fresh store.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"PutGet", testPutGet},
		{"Miss", testMiss},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"Stat", testStat},
		{"Seek", testSeek},
		{"Empty", testEmpty},
		{"NestedKeys", testNestedKeys},
		{"CreateCommit", testCreateCommit},
		{"ReadWhileWriting", testReadWhileWriting},
		{"AbortLeavesNothing", testAbort},
		{"FailedPutLeavesOld", testFailedPut},
		{"CancelledContext", testCancelled},
		{"BadKeys", testBadKeys},
		{"ConcurrentPutsOneKey", testConcurrentPuts},
		{"OpenReaderKeepsVersion", testOpenReaderKeepsVersion},
		{"EvictionUnderCap", testEviction},
		{"EvictionLRU", testEvictionLRU},
		{"TooLarge", testTooLarge},
		{"Trim", testTrim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// BadKeys are keys every backend must reject.
var BadKeys = []string{
	"", "/", "/abs", "a/", "a//b", ".", "..", "../x", "a/../b", "a/..", "./a",
	"a/./b", ".hidden", "a/.tmp-1", "a\\b", "..\\x", "a\x00b", "a\nb", "\x7f",
	strings.Repeat("x", store.MaxKeyLen+1), strings.Repeat("y", 256), "\xff\xfe",
}

func put(t *testing.T, s store.Store, key, data string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// get returns the content of key, or ok == false on a miss.
func get(t *testing.T, s store.Store, key string) (data string, ok bool) {
	t.Helper()
	obj, err := s.Get(context.Background(), key)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if int64(len(b)) != obj.Size {
		t.Fatalf("Get(%q): Size %d, but read %d bytes", key, obj.Size, len(b))
	}
	if obj.ModTime.IsZero() {
		t.Errorf("Get(%q): zero ModTime", key)
	}
	return string(b), true
}

func want(t *testing.T, s store.Store, key, data string) {
	t.Helper()
	got, ok := get(t, s, key)
	if !ok {
		t.Fatalf("Get(%q): miss, want %q", key, short(data))
	}
	if got != data {
		t.Fatalf("Get(%q) = %q, want %q", key, short(got), short(data))
	}
}

func wantMiss(t *testing.T, s store.Store, key string) {
	t.Helper()
	if got, ok := get(t, s, key); ok {
		t.Fatalf("Get(%q) = %q, want a miss (fs.ErrNotExist)", key, short(got))
	}
}

func short(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
	}
	return s
}

func testPutGet(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "golang.org/x/text/@v/v0.3.0.mod", "module golang.org/x/text\n")
	put(t, s, "k", "v")
	want(t, s, "golang.org/x/text/@v/v0.3.0.mod", "module golang.org/x/text\n")
	want(t, s, "k", "v")
}

func testMiss(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	put(t, s, "a/b", "x")
	for _, key := range []string{"missing", "a/c", "a/b/c", "a"} {
		_, err := s.Get(ctx, key)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%q) error = %v, want fs.ErrNotExist", key, err)
		}
		_, err = s.Stat(ctx, key)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v, want fs.ErrNotExist", key, err)
		}
	}
}

func testOverwrite(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "k", "first, longer content")
	put(t, s, "k", "second")
	want(t, s, "k", "second")
	if tr, ok := s.(store.Trimmer); ok {
		if u := tr.Usage(); u.Bytes != 6 || u.Objects != 1 {
			t.Errorf("Usage after overwrite = %+v, want 6 bytes in 1 object", u)
		}
	}
}

func testDelete(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	put(t, s, "a/b/c", "x")
	put(t, s, "a/d", "y")
	if err := s.Delete(ctx, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, s, "a/b/c")
	want(t, s, "a/d", "y")
	if err := s.Delete(ctx, "a/b/c"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/there"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	// The key's former parent can hold a new object again.
	put(t, s, "a/b/c", "z")
	want(t, s, "a/b/c", "z")
	if tr, ok := s.(store.Trimmer); ok {
		if u := tr.Usage(); u.Bytes != 2 || u.Objects != 2 {
			t.Errorf("Usage = %+v, want 2 bytes in 2 objects", u)
		}
	}
}

func testStat(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "dir/k", "12345")
	in, err := s.Stat(context.Background(), "dir/k")
	if err != nil {
		t.Fatal(err)
	}
	if in.Size != 5 || in.ModTime.IsZero() || in.Key != "dir/k" {
		t.Errorf("Stat = %+v, want key dir/k, 5 bytes, a ModTime", in)
	}
}

func testSeek(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "k", "0123456789")
	obj, err := s.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if _, err := obj.Body.Seek(6, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj.Body)
	if err != nil || string(b) != "6789" {
		t.Fatalf("after Seek(6): %q, %v; want 6789", b, err)
	}
	if n, err := obj.Body.Seek(0, io.SeekEnd); err != nil || n != 10 {
		t.Fatalf("Seek(0, End) = %d, %v; want 10", n, err)
	}
}

func testEmpty(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "empty", "")
	want(t, s, "empty", "")
}

func testNestedKeys(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	keys := []string{
		"golang.org/x/text/@v/list",
		"golang.org/x/text/@v/v0.3.0.info",
		"golang.org/x/text/@latest",
		"github.com/!burnt!sushi/toml/@v/v1.0.0.zip",
		"sumdb/sum.example/tile/8/0/x001/234.p/5",
		"sumdb/sum.example/lookup/golang.org/x/text@v0.3.0",
		"a/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"o/ab/abcdef-d",
		"日本/語",
	}
	for i, k := range keys {
		put(t, s, k, fmt.Sprint(i))
	}
	for i, k := range keys {
		want(t, s, k, fmt.Sprint(i))
	}
}

func testCreateCommit(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	w, err := s.Create(ctx, "m/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := io.WriteString(w, "hello, "); err != nil {
		t.Fatal(err)
	}
	wantMiss(t, s, "m/@v/v1.0.0.zip") // nothing visible before Commit
	if _, err := io.WriteString(w, "world"); err != nil {
		t.Fatal(err)
	}
	if w.Size() != 12 {
		t.Errorf("Size() = %d, want 12", w.Size())
	}
	buf := make([]byte, 5)
	if n, err := w.ReadAt(buf, 7); n != 5 || string(buf) != "world" {
		t.Errorf("ReadAt(7) = %d %q %v, want 5 world", n, buf, err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v, want nil", err)
	}
	want(t, s, "m/@v/v1.0.0.zip", "hello, world")
}

// testReadWhileWriting reads an object back with ReadAt while another
// goroutine is still writing it, as the proxy does to stream a zip that is
// still arriving to a second client.
func testReadWhileWriting(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	w, err := s.Create(context.Background(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	const chunks, size = 64, 4 << 10
	chunk := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i%26)}, size) }
	done := make(chan error, 1)
	go func() {
		for i := range chunks {
			if _, err := w.Write(chunk(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var got bytes.Buffer
	buf := make([]byte, 3000)
	for written := false; ; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			written = true
		default:
		}
		avail := w.Size()
		for int64(got.Len()) < avail {
			n, err := w.ReadAt(buf[:min(int64(len(buf)), avail-int64(got.Len()))], int64(got.Len()))
			if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
				t.Fatalf("ReadAt(%d) while writing: %v", got.Len(), err)
			}
			got.Write(buf[:n])
		}
		if written && int64(got.Len()) == w.Size() {
			break
		}
	}
	var wantAll bytes.Buffer
	for i := range chunks {
		wantAll.Write(chunk(i))
	}
	if !bytes.Equal(got.Bytes(), wantAll.Bytes()) {
		t.Fatalf("read back %d bytes that differ from the %d written", got.Len(), wantAll.Len())
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	want(t, s, "stream", wantAll.String())
}

func testAbort(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	put(t, s, "old", "kept")
	for _, key := range []string{"new", "old"} {
		w, err := s.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "discarded")
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err == nil {
			t.Errorf("Commit after Abort succeeded")
		}
	}
	wantMiss(t, s, "new")
	want(t, s, "old", "kept")
	if tr, ok := s.(store.Trimmer); ok {
		if u := tr.Usage(); u.Bytes != 4 || u.Objects != 1 {
			t.Errorf("Usage = %+v, want 4 bytes in 1 object", u)
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("upstream connection reset")
	}
	n := min(len(b), r.n)
	for i := range b[:n] {
		b[i] = 'p'
	}
	r.n -= n
	return n, nil
}

func testFailedPut(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	put(t, s, "k", "old")
	err := s.Put(context.Background(), "k", &failingReader{n: 100_000})
	if err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	want(t, s, "k", "old")
	err = s.Put(context.Background(), "fresh", &failingReader{n: 10})
	if err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	wantMiss(t, s, "fresh")
}

func testCancelled(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := s.Create(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "data")
	cancel()
	if err := w.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel = %v, want context.Canceled", err)
	}
	wantMiss(t, s, "k")
	if err := s.Put(ctx, "k2", strings.NewReader("x")); err == nil {
		t.Errorf("Put with a cancelled context succeeded")
	}
	wantMiss(t, s, "k2")
}

func testBadKeys(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	for _, key := range BadKeys {
		if err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Put(%q) = %v, want ErrBadKey", key, err)
		}
		if w, err := s.Create(ctx, key); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Create(%q) = %v, want ErrBadKey", key, err)
			if err == nil {
				w.Abort()
			}
		}
		if obj, err := s.Get(ctx, key); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Get(%q) = %v, want ErrBadKey", key, err)
			if err == nil {
				obj.Close()
			}
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Stat(%q) = %v, want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, store.ErrBadKey) {
			t.Errorf("Delete(%q) = %v, want ErrBadKey", key, err)
		}
	}
}

// testConcurrentPuts writes one key from many goroutines while others read
// it: every read must see one complete version.
func testConcurrentPuts(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	const writers, size = 8, 256 << 10
	versions := make(map[string]bool)
	for i := range writers {
		versions[strings.Repeat(string(rune('a'+i)), size)] = true
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := strings.Repeat(string(rune('a'+i)), size)
			for range 4 {
				if err := s.Put(ctx, "one/key", strings.NewReader(data)); err != nil {
					mu.Lock()
					bad = append(bad, "Put: "+err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	stop := make(chan struct{})
	var rg sync.WaitGroup
	for range 4 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				obj, err := s.Get(ctx, "one/key")
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					mu.Lock()
					bad = append(bad, "Get: "+err.Error())
					mu.Unlock()
					return
				}
				b, err := io.ReadAll(obj.Body)
				obj.Close()
				if err != nil || !versions[string(b)] {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("read a partial or mixed object: %s, %v", short(string(b)), err))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	got, ok := get(t, s, "one/key")
	if !ok || !versions[got] {
		t.Fatalf("final object is not one complete version: %s", short(got))
	}
	if tr, ok := s.(store.Trimmer); ok {
		if u := tr.Usage(); u.Bytes != size || u.Objects != 1 {
			t.Errorf("Usage = %+v, want %d bytes in 1 object", u, size)
		}
	}
}

func testOpenReaderKeepsVersion(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	ctx := context.Background()
	put(t, s, "k", "version one")
	obj, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	put(t, s, "k", "version two!")
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj.Body)
	if err != nil || string(b) != "version one" {
		t.Fatalf("open reader read %q, %v; want the version it opened", b, err)
	}
}

func trimmer(t *testing.T, s store.Store) store.Trimmer {
	tr, ok := s.(store.Trimmer)
	if !ok {
		t.Skipf("%T does not implement store.Trimmer (size cap and eviction)", s)
	}
	return tr
}

func testEviction(t *testing.T, newStore NewStore) {
	const max = 100 << 10
	tr := trimmer(t, newStore(t, max))
	chunk := strings.Repeat("z", 7<<10)
	for i := range 60 {
		put(t, tr, fmt.Sprintf("obj/%02d", i), chunk)
		if u := tr.Usage(); u.Bytes > max {
			t.Fatalf("after Put %d: Usage %+v over the cap %d", i, u, max)
		}
	}
	u := tr.Usage()
	if u.Evictions == 0 || u.EvictedBytes == 0 {
		t.Errorf("Usage = %+v, want evictions counted", u)
	}
	if u.Objects*int64(len(chunk)) != u.Bytes {
		t.Errorf("Usage = %+v: bytes and objects disagree", u)
	}
	// The most recent object is always kept; what Usage counts is there.
	want(t, tr, "obj/59", chunk)
	var present int64
	for i := range 60 {
		if _, ok := get(t, tr, fmt.Sprintf("obj/%02d", i)); ok {
			present++
		}
	}
	if present != u.Objects {
		t.Errorf("%d objects readable, Usage says %d", present, u.Objects)
	}
}

func testEvictionLRU(t *testing.T, newStore NewStore) {
	const max = 10 << 10
	tr := trimmer(t, newStore(t, max))
	chunk := strings.Repeat("q", 1<<10)
	for i := range 8 {
		put(t, tr, fmt.Sprintf("k%d", i), chunk)
	}
	// Use k0 and k1, so k2 and k3 are now the least recently used.
	want(t, tr, "k0", chunk)
	want(t, tr, "k1", chunk)
	for i := 8; i < 11; i++ {
		put(t, tr, fmt.Sprintf("k%d", i), chunk) // 11 KiB > 10 KiB: evict to 9 KiB
	}
	if _, ok := get(t, tr, "k2"); ok {
		t.Errorf("k2, least recently used, survived eviction")
	}
	for _, k := range []string{"k0", "k1", "k10"} {
		if _, ok := get(t, tr, k); !ok {
			t.Errorf("%s, recently used, was evicted", k)
		}
	}
}

func testTooLarge(t *testing.T, newStore NewStore) {
	const max = 4 << 10
	tr := trimmer(t, newStore(t, max))
	put(t, tr, "small", "s")
	err := tr.Put(context.Background(), "big", bytes.NewReader(make([]byte, max+1)))
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Put of %d bytes into a %d-byte store = %v, want ErrTooLarge", max+1, max, err)
	}
	wantMiss(t, tr, "big")
	want(t, tr, "small", "s")
}

func testTrim(t *testing.T, newStore NewStore) {
	tr := trimmer(t, newStore(t, 0))
	for i := range 10 {
		put(t, tr, fmt.Sprintf("t/%d", i), strings.Repeat("x", 100))
	}
	if err := tr.Trim(context.Background(), 450); err != nil {
		t.Fatal(err)
	}
	u := tr.Usage()
	if u.Bytes > 450 || u.Bytes != 400 || u.Evictions != 6 {
		t.Errorf("after Trim(450): %+v, want 400 bytes left and 6 evictions", u)
	}
	if err := tr.Trim(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if u := tr.Usage(); u.Bytes != 0 || u.Objects != 0 {
		t.Errorf("after Trim(0): %+v, want empty", u)
	}
	put(t, tr, "t/again", "y")
	want(t, tr, "t/again", "y")
}
