package buildcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// appendResponse must produce what encoding/json would: the go command
// decodes it with encoding/json.
func TestAppendResponseMatchesEncodingJSON(t *testing.T) {
	now := time.Unix(1764000000, 123456789).UTC()
	local := time.Date(2026, 11, 24, 16, 0, 0, 5, time.FixedZone("x", 3600+1800))
	far := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	id := bytes.Repeat([]byte{0xfb}, 32)
	cases := []*Response{
		{ID: 0, KnownCommands: []Cmd{CmdGet, CmdPut, CmdClose}},
		{ID: 7, Miss: true},
		{ID: 1 << 40, OutputID: id, Size: 12345, Time: &now, DiskPath: "/home/pi/.cache/pitstop/o/fb/" + strings.Repeat("fb", 32)},
		{ID: 3, OutputID: id, Time: &local, DiskPath: "/proc/12/fd/7"},
		{ID: -1, Err: "pitstop cache prog: bad put: \"quoted\" \\ <tag> & \x01 é \u2028"},
		{ID: 9, DiskPath: "/tmp/wéird \"dir\"/o"},
		{ID: 10, Size: -5},
	}
	for _, res := range cases {
		want, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendResponse(nil, res)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want)+"\n" {
			t.Errorf("appendResponse:\n got %s\nwant %s", got, want)
		}
	}
	// A time encoding/json refuses is an error here too, not bad JSON.
	if _, err := appendResponse(nil, &Response{ID: 1, Time: &far}); err == nil {
		t.Error("year 12000: no error")
	}
}

func FuzzAppendResponse(f *testing.F) {
	f.Add(int64(1), "", false, []byte(nil), int64(0), int64(0), "/a/b")
	f.Add(int64(-3), "err \"x\"", true, bytes.Repeat([]byte{1}, 32), int64(99), int64(1764000000123456789), "\xff\x00<>&")
	f.Fuzz(func(t *testing.T, id int64, errS string, miss bool, out []byte, size, ns int64, path string) {
		tm := time.Unix(0, ns).UTC()
		res := &Response{ID: id, Err: errS, Miss: miss, OutputID: out, Size: size, Time: &tm, DiskPath: path}
		want, err := json.Marshal(res)
		if err != nil {
			t.Skip("not encodable")
		}
		got, err := appendResponse(nil, res)
		if err != nil {
			t.Fatalf("appendResponse: %v (json.Marshal managed)", err)
		}
		if string(got) != string(want)+"\n" {
			t.Fatalf("got %s\nwant %s", got, want)
		}
	})
}

// Lookup reads entries with the store's ReadSmall: a missing entry is
// fs.ErrNotExist, and an entry longer than any valid one is dropped even
// if its first bytes parse.
func TestLookupRawRead(t *testing.T) {
	l := &Local{Dir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	var a, a2 ID
	a[0], a2[0] = 1, 2
	if _, _, err := l.Lookup(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing entry: %v, want not-exist", err)
	}
	out := ID(sha256.Sum256([]byte("hello")))
	w, err := l.NewObject(out, 5)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello"))
	objPath, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{OutputID: out, Size: 5, Time: time.Unix(0, 1764000000123456789)}
	if err := l.PutEntry(a, e); err != nil {
		t.Fatal(err)
	}
	got, path, err := l.Lookup(a)
	if err != nil || got.OutputID != out || got.Size != 5 || !got.Time.Equal(e.Time) || path != objPath {
		t.Fatalf("Lookup = %+v %q %v", got, path, err)
	}
	// Valid first 128 bytes, then more digits: a different number.
	long := string(formatEntry(Entry{OutputID: out, Size: 5, Time: time.Unix(0, 1)}))
	long = strings.TrimSuffix(long, "\n") + strings.Repeat(" ", maxEntryLen) + "9\n"
	ep := tierPath(t, l, entryKey(a2))
	os.MkdirAll(filepath.Dir(ep), 0o755)
	if err := os.WriteFile(ep, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Lookup(a2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("over-long entry: %v, want a miss", err)
	}
	if _, err := os.Stat(ep); !os.IsNotExist(err) {
		t.Errorf("over-long entry not removed: %v", err)
	}
}

func TestSameSet(t *testing.T) {
	ids := func(bs ...byte) []ID {
		var r []ID
		for _, b := range bs {
			var a ID
			a[0] = b
			r = append(r, a)
		}
		return r
	}
	set := func(l []ID) map[ID]bool {
		m := map[ID]bool{}
		for _, a := range l {
			m[a] = true
		}
		return m
	}
	used := ids(1, 2, 3)
	for _, c := range []struct {
		m    []ID
		want bool
	}{
		{ids(3, 2, 1), true},
		{ids(1, 2, 3, 3), true},
		{ids(1, 2), false},
		{ids(1, 2, 3, 4), false},
		{ids(1, 2, 4), false},
		{nil, false},
	} {
		if got := sameSet(used, set(used), c.m); got != c.want {
			t.Errorf("sameSet(%v) = %v, want %v", c.m, got, c.want)
		}
	}
	if !reflect.DeepEqual(used, ids(1, 2, 3)) {
		t.Error("sameSet changed its input")
	}
}

// TestPutOfHeldObjectWritesNothing puts, through the helper, an object
// the local tier already holds (another action's output): the file stays
// the one there (same inode, not rewritten), both actions hit in the next
// build. A copy of the wrong size (torn by a power cut) is rewritten.
func TestPutOfHeldObjectWritesNothing(t *testing.T) {
	dir := t.TempDir()
	body := []byte("the same output of two actions")
	out := ID(sha256.Sum256(body))
	a1, a2, a3 := id("first action"), id("second action"), id("third action")
	run := func(reqs ...[]any) []Response {
		t.Helper()
		var in bytes.Buffer
		for i, r := range reqs {
			req := Request{ID: int64(i + 1), Command: r[0].(Cmd), ActionID: r[1].([]byte)}
			var b []byte
			if req.Command == CmdPut {
				b = r[2].([]byte)
				o := sha256.Sum256(b)
				req.OutputID, req.BodySize = o[:], int64(len(b))
			}
			encodeRequest(t, &in, req, b)
		}
		encodeRequest(t, &in, Request{ID: int64(len(reqs) + 1), Command: CmdClose}, nil)
		var outb bytes.Buffer
		if err := (&Prog{Local: &Local{Dir: dir}}).Run(t.Context(), &in, &outb); err != nil {
			t.Fatal(err)
		}
		var res []Response
		dec := json.NewDecoder(&outb)
		for {
			var r Response
			if dec.Decode(&r) != nil {
				break
			}
			if r.ID != 0 && r.ID <= int64(len(reqs)) { // not the hello or close
				res = append(res, r)
			}
		}
		return res
	}
	first := run([]any{CmdPut, a1[:], body})
	if first[0].Err != "" || first[0].DiskPath == "" {
		t.Fatalf("first put: %+v", first[0])
	}
	p := first[0].DiskPath
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	second := run([]any{CmdPut, a2[:], body})
	if second[0].DiskPath != p {
		t.Fatalf("second put answered %q, want the held object %q", second[0].DiskPath, p)
	}
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the held object was written again")
	}
	gets := run([]any{CmdGet, a1[:]}, []any{CmdGet, a2[:]})
	for i, g := range gets {
		if g.Miss || g.DiskPath != p || !bytes.Equal(g.OutputID, out[:]) {
			t.Errorf("get %d after the puts: %+v, want a hit on %s", i+1, g, p)
		}
	}
	// Torn: cut short. The next put of the same bytes repairs it.
	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	third := run([]any{CmdPut, a3[:], body})
	if got, err := os.ReadFile(third[0].DiskPath); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("put over a torn object: %q, %v; want it rewritten whole", got, err)
	}
}

// TestObjectWriterReadFrom: io.Copy into an ObjectWriter goes through its
// ReadFrom (one pooled buffer), which must store exactly what the reader
// yields, however it splits it, and pass on a read error, after which the
// object is not committed.
func TestObjectWriterReadFrom(t *testing.T) {
	l := &Local{Dir: t.TempDir()}
	body := bytes.Repeat([]byte("0123456789abcdef"), 3*copyBufSize/16+7) // over 3 buffers
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(body),
		"one byte": iotest.OneByteReader(bytes.NewReader(body[:1000])),
		"halves":   iotest.HalfReader(bytes.NewReader(body)),
	} {
		want := body
		if name == "one byte" {
			want = body[:1000]
		}
		o := ID(sha256.Sum256(want))
		w, err := l.NewObject(o, int64(len(want)))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := any(w).(io.ReaderFrom); !ok {
			t.Fatal("ObjectWriter is not an io.ReaderFrom")
		}
		n, err := io.Copy(w, r)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("%s: copied %d, %v; want %d", name, n, err, len(want))
		}
		p, err := w.Commit()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: stored %d bytes, %v", name, len(got), err)
		}
	}
	broken := errors.New("connection reset")
	body = append(body, "never whole"...)
	out := ID(sha256.Sum256(body))
	w, err := l.NewObject(out, int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	r := io.MultiReader(bytes.NewReader(body[:copyBufSize+5]), iotest.ErrReader(broken))
	if _, err := io.Copy(w, r); !errors.Is(err, broken) {
		t.Fatalf("copy from a broken reader: %v, want %v", err, broken)
	}
	w.Abort()
	if _, ok := l.Object(out, int64(len(body))); ok {
		t.Fatal("an object cut short was stored")
	}
}
