package buildcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
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
