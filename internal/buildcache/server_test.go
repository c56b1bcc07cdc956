package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

func newTestServer(t *testing.T) (*Client, *store.Disk, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(&Server{Store: st})
	t.Cleanup(ts.Close)
	cl, err := NewClient(ts.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return cl, st, dir
}

func id(s string) ID { return ID(sha256.Sum256([]byte(s))) }

func TestServerPutGetBatch(t *testing.T) {
	cl, _, _ := newTestServer(t)
	ctx := context.Background()
	bodies := map[string][]byte{"a1": []byte("object one"), "a2": bytes.Repeat([]byte("compressible "), 10000), "a3": nil}
	for a, body := range bodies {
		e := Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))}
		if err := cl.Put(ctx, id(a), e, bytes.NewReader(body)); err != nil {
			t.Fatalf("put %s: %v", a, err)
		}
	}
	for _, compress := range []bool{false, true} {
		cl.Compress = compress
		for a, body := range bodies {
			obj, err := cl.Get(ctx, id(a))
			if err != nil {
				t.Fatalf("get %s: %v", a, err)
			}
			got, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if !bytes.Equal(got, body) || obj.OutputID != ID(sha256.Sum256(body)) || obj.Size != int64(len(body)) {
				t.Fatalf("get %s (compress %v): %d bytes, entry %+v", a, compress, len(got), obj.Entry)
			}
		}
		got := map[ID][]byte{}
		err := cl.Batch(ctx, []ID{id("a1"), id("missing"), id("a2"), id("a3")}, func(a ID, e Entry, body io.Reader) error {
			b, err := io.ReadAll(body)
			got[a] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !bytes.Equal(got[id("a2")], bodies["a2"]) {
			t.Fatalf("batch returned %d objects", len(got))
		}
	}
	if _, err := cl.Get(ctx, id("missing")); !errors.Is(err, ErrMiss) {
		t.Fatalf("missing: %v, want ErrMiss", err)
	}
	// Manifests merge: the newest list first, then what older ones had.
	if err := cl.PutManifest(ctx, "m linux/arm64", []ID{id("1"), id("2")}); err != nil {
		t.Fatal(err)
	}
	if err := cl.PutManifest(ctx, "m linux/arm64", []ID{id("3"), id("1")}); err != nil {
		t.Fatal(err)
	}
	m, err := cl.Manifest(ctx, "m linux/arm64")
	if err != nil || len(m) != 3 || m[0] != id("3") || m[1] != id("1") || m[2] != id("2") {
		t.Fatalf("manifest = %v, %v", m, err)
	}
	// What no build of the last three used drops out.
	for _, g := range []string{"4", "5", "6"} {
		if err := cl.PutManifest(ctx, "m linux/arm64", []ID{id(g)}); err != nil {
			t.Fatal(err)
		}
	}
	m, err = cl.Manifest(ctx, "m linux/arm64")
	if err != nil || len(m) != 3 || m[0] != id("6") || m[2] != id("4") {
		t.Fatalf("manifest after 3 more builds = %d IDs, %v", len(m), err)
	}
	st, err := cl.Stats(ctx)
	if err != nil || st.Objects == 0 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	r, err := cl.Trim(ctx, 0)
	if err != nil || r.Objects == 0 {
		t.Fatalf("trim = %+v, %v", r, err)
	}
	if _, err := cl.Get(ctx, id("a1")); !errors.Is(err, ErrMiss) {
		t.Fatalf("after trim to 0: %v, want a miss", err)
	}
}

func TestServerRejectsBadUploads(t *testing.T) {
	cl, _, _ := newTestServer(t)
	body := []byte("the real body")
	good := ID(sha256.Sum256(body))
	for name, tc := range map[string]struct {
		path, out, size string
		body            string
		code            int
	}{
		"wrong sha256":     {"/v1/put/" + id("x").String(), id("other").String(), "13", string(body), 400},
		"short body":       {"/v1/put/" + id("x").String(), good.String(), "20", string(body), 400},
		"action not hex":   {"/v1/put/" + strings.Repeat("zz", 32), good.String(), "13", string(body), 400},
		"action 31 bytes":  {"/v1/put/" + strings.Repeat("ab", 31), good.String(), "13", string(body), 400},
		"output too short": {"/v1/put/" + id("x").String(), "abcd", "13", string(body), 400},
		"size not number":  {"/v1/put/" + id("x").String(), good.String(), "lots", string(body), 400},
	} {
		req, _ := http.NewRequest("PUT", cl.BaseURL+tc.path, strings.NewReader(tc.body))
		req.Header.Set(hdrOutputID, tc.out)
		req.Header.Set(hdrSize, tc.size)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.code)
		}
	}
	if _, err := cl.Get(context.Background(), id("x")); !errors.Is(err, ErrMiss) {
		t.Fatalf("a rejected upload is visible: %v", err)
	}
	resp, err := http.Get(cl.BaseURL + "/v1/get/" + strings.Repeat("ab", 31))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("get with a 31-byte action: status %d, want 400", resp.StatusCode)
	}
}

func TestServerDropsTruncatedObject(t *testing.T) {
	cl, _, dir := newTestServer(t)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1000)
	e := Entry{OutputID: ID(sha256.Sum256(body)), Size: 1000}
	if err := cl.Put(ctx, id("t"), e, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, objectKey(e.OutputID))
	if err := os.Truncate(p, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, id("t")); !errors.Is(err, ErrMiss) {
		t.Fatalf("truncated object: %v, want a miss", err)
	}
	n := 0
	cl.Batch(ctx, []ID{id("t")}, func(ID, Entry, io.Reader) error { n++; return nil })
	if n != 0 {
		t.Fatalf("batch sent a truncated object")
	}
}

func TestClientBreaker(t *testing.T) {
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		http.Error(w, "boom", 500)
	}))
	defer ts.Close()
	cl, _ := NewClient(ts.URL, "")
	cl.OpenFor = time.Hour
	for range 10 {
		cl.Get(context.Background(), id("x"))
	}
	if calls != 3 {
		t.Fatalf("server asked %d times; the breaker should stop after 3 failures", calls)
	}
	if _, err := cl.Get(context.Background(), id("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("open breaker: %v", err)
	}
}

// tierPath is the file that holds key in the tier.
func tierPath(t testing.TB, l *Local, key string) string {
	t.Helper()
	st, err := l.disk()
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Path(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocalTier(t *testing.T) {
	l := &Local{Dir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	put := func(a string, body []byte) string {
		out := ID(sha256.Sum256(body))
		w, err := l.NewObject(out, int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
		p, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.PutEntry(id(a), Entry{OutputID: out, Size: int64(len(body)), Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := put("a", []byte("hello"))
	if filepath.Ext(p) != "" || filepath.Base(p) != ID(sha256.Sum256([]byte("hello"))).String() {
		t.Fatalf("object path %s: want the OutputID with no extension", p)
	}
	// The server's store and the tier share one layout.
	if rel, _ := filepath.Rel(l.Dir, p); rel != filepath.FromSlash(objectKey(ID(sha256.Sum256([]byte("hello"))))) {
		t.Errorf("object at %s in the tier, want the store key %s", rel, objectKey(ID(sha256.Sum256([]byte("hello")))))
	}
	e, path, err := l.Lookup(id("a"))
	if err != nil || path != p || e.Size != 5 {
		t.Fatalf("lookup = %+v %s %v", e, path, err)
	}
	// A wrong body never commits, nor one of the wrong length.
	w, _ := l.NewObject(ID(sha256.Sum256([]byte("good"))), 4)
	w.Write([]byte("evil"))
	if _, err := w.Commit(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit of wrong bytes: %v", err)
	}
	w, _ = l.NewObject(ID(sha256.Sum256([]byte("good"))), 5)
	w.Write([]byte("good"))
	if _, err := w.Commit(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("commit of 4 bytes promised as 5: %v", err)
	}
	if _, err := os.Stat(tierPath(t, l, objectKey(ID(sha256.Sum256([]byte("good")))))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected object landed in the tier: %v", err)
	}
	// A torn object (wrong size) is a miss.
	os.Truncate(p, 2)
	if _, _, err := l.Lookup(id("a")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("torn object: %v, want a miss", err)
	}
	// Garbage entry is a miss and is removed.
	gp := tierPath(t, l, entryKey(id("g")))
	os.MkdirAll(filepath.Dir(gp), 0o755)
	if err := os.WriteFile(gp, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Lookup(id("g")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("garbage entry: %v, want a miss", err)
	}
	if _, err := os.Stat(gp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("garbage entry not removed: %v", err)
	}

	// Trim evicts the least recently used files (objects and entries
	// alike) and then the entries whose objects went.
	os.Remove(p)
	os.Remove(tierPath(t, l, entryKey(id("a"))))
	bOut := ID(sha256.Sum256(bytes.Repeat([]byte("b"), 100)))
	put("b", bytes.Repeat([]byte("b"), 100))
	put("c", bytes.Repeat([]byte("c"), 100))
	u, err := l.Usage()
	entryLen := int64(len(formatEntry(Entry{OutputID: bOut, Size: 100, Time: time.Now()})))
	// The tier counts the blocks its files take on the disk.
	st, _ := l.disk()
	if err != nil || u.Objects != 4 || u.Bytes != 2*st.Room(100)+2*st.Room(entryLen) {
		t.Fatalf("usage = %+v, %v; want 2 objects of 100 bytes and 2 entries of %d, in blocks of the filesystem (%d bytes of room each)", u, err, entryLen, st.Room(1))
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(tierPath(t, l, objectKey(bOut)), old, old)
	// Legacy temp files of an older pitstop: the stale one goes.
	os.MkdirAll(filepath.Join(l.Dir, "tmp"), 0o755)
	os.WriteFile(filepath.Join(l.Dir, "tmp", "obj-1"), []byte("x"), 0o644)
	os.Chtimes(filepath.Join(l.Dir, "tmp", "obj-1"), old, old)
	os.WriteFile(filepath.Join(l.Dir, "tmp", "obj-2"), []byte("y"), 0o644)

	l = &Local{Dir: l.Dir} // as `pitstop cache trim` does
	r, err := l.Trim(u.Bytes)
	if want := (TrimResult{Objects: 3, Bytes: st.Room(100) + st.Room(entryLen) + st.Room(1)}); err != nil || r != want {
		t.Fatalf("trim = %+v, %v; want %+v: b's object, then b's entry and the stale temp file", r, err, want)
	}
	if _, _, err := l.Lookup(id("b")); err == nil || l.Has(id("b")) {
		t.Fatal("least recently used object or its entry survived the trim")
	}
	if _, _, err := l.Lookup(id("c")); err != nil {
		t.Fatalf("recent object trimmed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.Dir, "tmp", "obj-2")); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	if r, err := l.Trim(0); err != nil || r.Objects != 3 {
		t.Fatalf("trim to 0 = %+v, %v; want c's object and entry and the temp file", r, err)
	}
	if u, err := l.Usage(); err != nil || u.Objects != 0 || u.Bytes != 0 {
		t.Fatalf("usage after trim to 0 = %+v, %v", u, err)
	}
}

// putAction stores body as action a's output in the tier, as a helper
// does, and returns the object's and the entry's keys.
func putAction(t *testing.T, l *Local, a ID, body []byte) []string {
	t.Helper()
	out := ID(sha256.Sum256(body))
	w, err := l.NewObject(out, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := l.PutEntry(a, Entry{OutputID: out, Size: int64(len(body)), Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return []string{objectKey(out), entryKey(a)}
}

// A hit in one helper keeps its files over older unused ones in a later
// trim, although each helper is a new process: the tier marks uses on disk.
func TestLocalTierHitOutlivesHelper(t *testing.T) {
	dir := t.TempDir()
	helper := &Local{Dir: dir}
	var keys []string
	for _, a := range []string{"x", "y"} {
		keys = append(keys, putAction(t, helper, id(a), []byte("output of "+a))...)
	}
	// x was stored first, both long ago.
	for i, k := range keys {
		old := time.Now().Add(-3*time.Hour + time.Duration(i)*time.Minute)
		os.Chtimes(tierPath(t, helper, k), old, old)
	}
	if _, _, err := (&Local{Dir: dir}).Lookup(id("x")); err != nil {
		t.Fatal(err)
	}
	u, _ := (&Local{Dir: dir}).Usage()
	trim := &Local{Dir: dir}
	if _, err := trim.Trim(u.Bytes / 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := trim.Lookup(id("x")); err != nil {
		t.Errorf("the action used last was trimmed: %v", err)
	}
	if trim.Has(id("y")) {
		t.Errorf("the action unused for 3 hours survived a trim to half")
	}
}

// A trim to 0 empties the tier, empty objects too: evicting down to 0
// bytes left the 0-byte output used last (and its entry), so `pitstop
// cache trim --max-size 0` left a file now and then.
func TestLocalTierTrimToZeroRemovesEmptyObjects(t *testing.T) {
	dir := t.TempDir()
	helper := &Local{Dir: dir}
	for i, body := range [][]byte{[]byte("output of x"), nil} {
		// The empty output is the one used last.
		at := time.Now().Add(time.Duration(i-2) * time.Hour)
		for _, k := range putAction(t, helper, id("action "+strconv.Itoa(i)), body) {
			os.Chtimes(tierPath(t, helper, k), at, at)
		}
	}
	trim := &Local{Dir: dir}
	r, err := trim.Trim(0)
	if err != nil || r.Objects != 4 {
		t.Errorf("trim to 0 = %+v, %v; want both objects and both entries", r, err)
	}
	if u, err := (&Local{Dir: dir}).Usage(); err != nil || u.Objects != 0 || u.Bytes != 0 {
		t.Errorf("usage after a trim to 0 = %+v, %v; want an empty tier", u, err)
	}
}

// Stats and trims of a tier that was never used neither fail nor create it.
func TestLocalTierMissing(t *testing.T) {
	l := &Local{Dir: filepath.Join(t.TempDir(), "never")}
	if u, err := l.Usage(); err != nil || u != (store.Usage{}) {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	if r, err := l.Trim(0); err != nil || r != (TrimResult{}) {
		t.Errorf("Trim = %+v, %v", r, err)
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the tier was created: %v", err)
	}
}

func FuzzReadBatch(f *testing.F) {
	var b bytes.Buffer
	body := []byte("abc")
	b.WriteString(`{"a":"` + id("a").String() + `","o":"` + ID(sha256.Sum256(body)).String() + `","s":3}` + "\n")
	b.Write(body)
	b.WriteString(`{"end":true}` + "\n")
	f.Add(b.Bytes())
	f.Add([]byte(`{"a":"zz","o":"","s":-1}` + "\n"))
	f.Add([]byte(`{"s":99999999999}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		readBatch(bytes.NewReader(in), nil, func(a ID, e Entry, body io.Reader) error {
			if e.Size < 0 {
				t.Fatalf("negative size accepted")
			}
			n, _ := io.Copy(io.Discard, body)
			if n > e.Size {
				t.Fatalf("body longer than its size")
			}
			return nil
		})
	})
}

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(string(formatEntry(Entry{OutputID: id("x"), Size: 5, Time: time.Unix(1, 2)}))))
	f.Add([]byte("v1 zz -1 0"))
	f.Fuzz(func(t *testing.T, in []byte) {
		e, err := parseEntry(in)
		if err == nil {
			if e.Size < 0 {
				t.Fatal("negative size accepted")
			}
			if e2, err := parseEntry(formatEntry(e)); err != nil || e2 != e {
				t.Fatalf("round trip: %+v -> %+v, %v", e, e2, err)
			}
		}
	})
}

func FuzzParseIDList(f *testing.F) {
	f.Add([]byte(id("a").String() + "\n" + id("b").String() + "\n"))
	f.Add([]byte("xyz\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ids, err := parseIDList(bytes.NewReader(in))
		if err == nil {
			for _, x := range ids {
				if y, err := ParseHexID(x.String()); err != nil || y != x {
					t.Fatal("round trip")
				}
			}
		}
	})
}

// serveBehindService runs a Server on a fresh store behind service.Server
// (tokens, limits) on 127.0.0.1 until the test ends, and returns its URL.
func serveBehindService(t *testing.T, authToken string) string {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	srv := &service.Server{Name: "cache", Addr: "127.0.0.1:0", Handler: &Server{Store: st}, AuthToken: authToken,
		Logger: slog.New(slog.DiscardHandler), Ready: func(a net.Addr) { addr <- a }}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return "http://" + (<-addr).String()
}

func TestServerBehindServiceWithToken(t *testing.T) {
	url := serveBehindService(t, "s3cret")
	ctx := context.Background()
	body := []byte("authorized object")
	e := Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))}

	anon, _ := NewClient(url, "")
	err := anon.Put(ctx, id("k"), e, bytes.NewReader(body))
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "token") {
		t.Fatalf("put without the token: %v; want a 401 that mentions the token", err)
	}
	cl, _ := NewClient(url, "s3cret")
	if err := cl.Put(ctx, id("k"), e, bytes.NewReader(body)); err != nil {
		t.Fatalf("put with the token: %v", err)
	}
	obj, err := cl.Get(ctx, id("k"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("got %q", got)
	}
}

// The cache server's store metrics keep their names (dashboards read them)
// and gain the proxy's eviction counters.
func TestServerStoreMetrics(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true, MaxSize: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	for _, c := range (&Server{Store: st}).Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"pitstop_cache_store_bytes": 0, "pitstop_cache_store_objects": 0, "pitstop_cache_store_max_bytes": 1 << 30,
		"pitstop_cache_evictions_total": 0, "pitstop_cache_store_evictions_total": 0, "pitstop_cache_store_evicted_bytes_total": 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", name, v, ok, want)
		}
	}
}

// TestServerSamePutWritesNothing: an upload of the entry the server already
// holds (the go command puts a link's empty stdout on every build) rewrites
// neither the object nor the entry, so it costs no fsync; but a re-upload
// over an object damaged on the disk still repairs it.
func TestServerSamePutWritesNothing(t *testing.T) {
	cl, _, dir := newTestServer(t)
	ctx := context.Background()
	body := []byte("the same output")
	e := Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))}
	a := id("again")
	if err := cl.Put(ctx, a, e, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	objPath := filepath.Join(dir, filepath.FromSlash(objectKey(e.OutputID)))
	entPath := filepath.Join(dir, filepath.FromSlash(entryKey(a)))
	stat := func(p string) os.FileInfo {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	obj0, ent0 := stat(objPath), stat(entPath)
	if err := cl.Put(ctx, a, e, bytes.NewReader(body)); err != nil {
		t.Fatalf("same put again: %v", err)
	}
	if obj1, ent1 := stat(objPath), stat(entPath); !os.SameFile(obj0, obj1) || !os.SameFile(ent0, ent1) {
		t.Error("the same put again replaced the object or the entry")
	}
	// The connection stays usable after a put whose body was not stored.
	if obj, err := cl.Get(ctx, a); err != nil {
		t.Fatalf("get after the same put: %v", err)
	} else {
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("get after the same put: %q", got)
		}
	}
	// Damaged in place (same size, other bytes): the next put repairs it.
	if err := os.WriteFile(objPath, []byte("THE SAME OUTPUT"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(ctx, a, e, bytes.NewReader(body)); err != nil {
		t.Fatalf("put over a damaged object: %v", err)
	}
	if got, err := os.ReadFile(objPath); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after a put over a damaged object: %q, %v; want it rewritten", got, err)
	}
}

// TestProgSkipsUploadOfServedEntry: a build that gets an action from the
// server and then puts the same entry again (the go command does so with a
// link's empty stdout on every build) does not upload it: the server sent
// it. A put of another output for that action, and a put of a new action,
// are uploaded.
func TestProgSkipsUploadOfServedEntry(t *testing.T) {
	cl, _, _ := newTestServer(t)
	ctx := context.Background()
	served := []byte("served by the server")
	out := ID(sha256.Sum256(served))
	a, b, c := id("served action"), id("new action"), id("remapped action")
	if err := cl.Put(ctx, a, Entry{OutputID: out, Size: int64(len(served))}, bytes.NewReader(served)); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(ctx, c, Entry{OutputID: out, Size: int64(len(served))}, bytes.NewReader(served)); err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &Prog{Local: &Local{Dir: t.TempDir()}, Remote: cl}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, inR, outW); outW.Close() }()
	dec := json.NewDecoder(outR)
	// call sends one request and waits for its answer, as the go command
	// does for one action.
	call := func(req Request, body []byte) Response {
		t.Helper()
		var buf bytes.Buffer
		encodeRequest(t, &buf, req, body)
		go inW.Write(buf.Bytes())
		for {
			var r Response
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("reading the answer to %d: %v", req.ID, err)
			}
			if r.ID == req.ID {
				return r
			}
		}
	}
	put := func(n int64, act ID, body []byte) {
		o := sha256.Sum256(body)
		if r := call(Request{ID: n, Command: CmdPut, ActionID: act[:], OutputID: o[:], BodySize: int64(len(body))}, body); r.Err != "" || r.DiskPath == "" {
			t.Fatalf("put %d: %+v", n, r)
		}
	}
	for i, act := range []ID{a, c} {
		if r := call(Request{ID: int64(i + 1), Command: CmdGet, ActionID: act[:]}, nil); r.Miss {
			t.Fatalf("get %d: a miss, want a remote hit", i+1)
		}
	}
	put(3, a, served)              // the same entry: not uploaded
	put(4, b, []byte("brand new")) // uploaded
	put(5, c, []byte("other out")) // refused by the server, but tried
	call(Request{ID: 6, Command: CmdClose}, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := p.Stats.Map()
	if s["uploads_skipped"] != 1 || s["uploads"] != 1 || s["uploads_refused"] != 1 {
		t.Fatalf("skipped %d, uploaded %d, refused %d; want 1 each", s["uploads_skipped"], s["uploads"], s["uploads_refused"])
	}
	if _, err := cl.Get(ctx, b); err != nil {
		t.Fatalf("the new action did not reach the server: %v", err)
	}
}

// TestServerRemapsLostOutput: an action keeps its first output while that
// output is whole, but once it is lost (evicted, or torn by a power cut,
// since the server does not fsync by default) the action takes the next
// whole output offered, instead of refusing every remapping and so
// staying a miss for good.
func TestServerRemapsLostOutput(t *testing.T) {
	cl, _, dir := newTestServer(t)
	ctx := context.Background()
	a := id("lost output")
	entry := func(body []byte) Entry { return Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))} }
	objPath := func(e Entry) string { return filepath.Join(dir, filepath.FromSlash(objectKey(e.OutputID))) }
	get := func() []byte {
		t.Helper()
		obj, err := cl.Get(ctx, a)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		defer obj.Body.Close()
		b, _ := io.ReadAll(obj.Body)
		return b
	}
	first, second, third := []byte("first output, kept while whole"), []byte("second output"), []byte("third output")
	e1, e2, e3 := entry(first), entry(second), entry(third)
	if err := cl.Put(ctx, a, e1, bytes.NewReader(first)); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(ctx, a, e2, bytes.NewReader(second)); !errors.Is(err, ErrConflict) {
		t.Fatalf("remapping an action whose output is whole: %v, want ErrConflict", err)
	}
	// Damaged in place at the same size: refused still. The check before
	// the body is read goes by size (hashing the old output for every
	// refused remap would cost a whole read each); a re-upload of that
	// same output repairs it (TestServerSamePutWritesNothing).
	if err := os.WriteFile(objPath(e1), bytes.ToUpper(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(ctx, a, e2, bytes.NewReader(second)); !errors.Is(err, ErrConflict) {
		t.Fatalf("remapping an action whose output is damaged at its size: %v, want ErrConflict", err)
	}
	// remapped checks that, once lose has lost the output the action maps
	// to, a put of e (body) is taken and served.
	remapped := func(how string, lose func() error, e Entry, body []byte) {
		t.Helper()
		if err := lose(); err != nil {
			t.Fatal(err)
		}
		if err := cl.Put(ctx, a, e, bytes.NewReader(body)); err != nil {
			t.Fatalf("remapping an action whose output is %s: %v", how, err)
		}
		if got := get(); !bytes.Equal(got, body) {
			t.Fatalf("after the remap (output %s): %q, want %q", how, got, body)
		}
	}
	// Torn (cut short, as a power cut can leave an unsynced file).
	remapped("torn", func() error { return os.WriteFile(objPath(e1), first[:5], 0o644) }, e2, second)
	// Gone (evicted).
	remapped("gone", func() error { return os.Remove(objPath(e2)) }, e3, third)
	// Gone again, the put offering the first output: mapped back.
	remapped("gone again", func() error { return os.Remove(objPath(e3)) }, e1, first)
	// Whole again: refused again.
	if err := cl.Put(ctx, a, e2, bytes.NewReader(second)); !errors.Is(err, ErrConflict) {
		t.Fatalf("remapping an action whose output is whole again: %v, want ErrConflict", err)
	}
}
