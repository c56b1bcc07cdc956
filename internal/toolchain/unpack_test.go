package toolchain

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

const testMV = "v0.0.1-go1.22.5.linux-arm64"

type zent struct {
	name string
	mode fs.FileMode
	body string
}

func writeZip(t *testing.T, ents ...zent) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range ents {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "tc.zip")
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

const pre = "golang.org/toolchain@" + testMV + "/"

func TestUnpackKeepsModes(t *testing.T) {
	z := writeZip(t,
		zent{pre + "bin/go", 0o755, "#!/bin/sh\n"},
		zent{pre + "lib/time/zoneinfo.zip", 0o644, "zz"},
		zent{pre + "misc/run.sh", 0o775, "x"},
	)
	dest := filepath.Join(t.TempDir(), "go1.22.5.tmp")
	if err := Unpack(context.Background(), z, testMV, dest, nil); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]fs.FileMode{"bin/go": 0o755, "lib/time/zoneinfo.zip": 0o644, "misc/run.sh": 0o755} {
		fi, err := os.Stat(filepath.Join(dest, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

func TestUnpackRefusesEscapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ents []zent
		want string
	}{
		{"dotdot", []zent{{pre + "bin/go", 0, "x"}, {pre + "../../evil", 0, "x"}}, "escapes"},
		{"abs", []zent{{"/etc/passwd", 0, "x"}}, "outside"},
		{"other module", []zent{{"golang.org/toolchain@v0.0.1-go1.0.0.linux-arm64/bin/go", 0, "x"}}, "outside"},
		{"prefix trick", []zent{{pre + "bin/../../x", 0, "x"}}, "escapes"},
		{"backslash", []zent{{pre + `..\..\x`, 0, "x"}}, "backslash"},
		{"symlink", []zent{{pre + "bin/go", fs.ModeSymlink | 0o777, "/bin/sh"}}, "not a regular file"},
		{"duplicate", []zent{{pre + "bin/go", 0, "x"}, {pre + "bin/go", 0, "y"}}, "twice"},
		{"no bin/go", []zent{{pre + "VERSION", 0, "go1.22.5"}}, "no bin/go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "go1.22.5.tmp")
			err := Unpack(context.Background(), writeZip(t, tc.ents...), testMV, dest, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Unpack: %v; want an error about %q", err, tc.want)
			}
			if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s left behind", dest)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("left in the parent: %v", ents)
			}
		})
	}
}

func FuzzEntryPath(f *testing.F) {
	for _, s := range []string{pre + "bin/go", pre + "../x", pre, pre + "a//b", pre + "./a", "/x", pre + "a/", pre + `a\b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, _, err := EntryPath(name, testMV)
		if err != nil || rel == "" {
			return
		}
		// Whatever is accepted stays inside the target directory.
		dest := "/target/dir"
		p := filepath.Join(dest, filepath.FromSlash(rel))
		if !strings.HasPrefix(p, dest+"/") {
			t.Fatalf("%q -> %q escapes %s", name, p, dest)
		}
		if strings.ContainsAny(rel, "\\\x00") {
			t.Fatalf("%q accepted", name)
		}
	})
}

// TestUnpackManyFiles: the parallel writers put every file in place with
// its content and mode, restore nested go.mod files, and report progress
// one call at a time, growing, up to the uncompressed total.
func TestUnpackManyFiles(t *testing.T) {
	ents := []zent{{pre + "bin/go", 0o755, "#!/bin/sh\n"}, {pre + "src/cmd/_go.mod", 0o644, "module cmd\n"}}
	want := map[string]string{"bin/go": "#!/bin/sh\n", "src/cmd/_go.mod": "module cmd\n", "src/cmd/go.mod": "module cmd\n"}
	var total int64 = 10 + 11
	for i := range 400 {
		rel := filepath.Join("pkg", string(rune('a'+i%13)), "f"+strings.Repeat("x", i%5)+string(rune('0'+i%10))+"_"+strings.Repeat("y", i/10))
		body := strings.Repeat(rel, 1+i*3)
		ents = append(ents, zent{pre + rel, 0o644, body})
		want[rel] = body
		total += int64(len(body))
	}
	dest := filepath.Join(t.TempDir(), "go1.22.5.tmp")
	var mu sync.Mutex
	var last int64
	calls := 0
	progress := func(done, tot int64) {
		if !mu.TryLock() {
			t.Error("progress called concurrently")
			return
		}
		defer mu.Unlock()
		if done <= last || tot != total {
			t.Errorf("progress(%d, %d) after %d; total %d", done, tot, last, total)
		}
		last = done
		calls++
	}
	if err := Unpack(context.Background(), writeZip(t, ents...), testMV, dest, progress); err != nil {
		t.Fatal(err)
	}
	for rel, body := range want {
		b, err := os.ReadFile(filepath.Join(dest, rel))
		if err != nil || string(b) != body {
			t.Fatalf("%s: %d bytes, %v; want %d bytes", rel, len(b), err, len(body))
		}
	}
	if calls != len(ents) || last != total {
		t.Errorf("%d progress calls ending at %d; want %d ending at %d", calls, last, len(ents), total)
	}
}

// TestUnpackFailureRemovesAll: a file that cannot be written (a file and
// a directory of the same name) fails the unpack with its name and leaves
// nothing, whichever writer hit it.
func TestUnpackFailureRemovesAll(t *testing.T) {
	ents := []zent{{pre + "bin/go", 0o755, "x"}, {pre + "a", 0o644, "file"}, {pre + "a/b", 0o644, "under a"}}
	for i := range 50 {
		ents = append(ents, zent{pre + "c/f" + strings.Repeat("z", i), 0o644, strings.Repeat("c", 1000)})
	}
	parent := t.TempDir()
	dest := filepath.Join(parent, "go1.22.5.tmp")
	err := Unpack(context.Background(), writeZip(t, ents...), testMV, dest, nil)
	if err == nil || !strings.Contains(err.Error(), "unpacking a") {
		t.Fatalf("Unpack: %v; want an error about unpacking a", err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatalf("left in the parent: %v", ents)
	}
}

// TestUnpackHashIsDirhash: the hash unpack computes from what it writes is
// the h1: dirhash.HashZip computes from the zip (the one the checksum
// database records), directory entries included; a zip whose file differs
// in one byte hashes differently.
func TestUnpackHashIsDirhash(t *testing.T) {
	ents := []zent{
		{pre, fs.ModeDir | 0o755, ""},
		{pre + "bin/", fs.ModeDir | 0o755, ""},
		{pre + "bin/go", 0o755, "#!/bin/sh\n"},
		{pre + "src/_go.mod", 0o644, "module std\n"},
		{pre + "VERSION", 0o644, "go1.22.5\n"},
	}
	for i := range 100 {
		ents = append(ents, zent{pre + "pkg/f" + strings.Repeat("a", i), 0o644, strings.Repeat("data", i*50)})
	}
	hashOf := func(z string) string {
		t.Helper()
		got, err := unpack(context.Background(), z, testMV, filepath.Join(t.TempDir(), "go.tmp"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := dirhash.HashZip(z, dirhash.Hash1)
		if err != nil || got != want {
			t.Fatalf("unpack's hash %q, dirhash.HashZip %q (%v)", got, want, err)
		}
		return got
	}
	h1 := hashOf(writeZip(t, ents...))
	ents[4].body = "go1.22.6\n"
	if h2 := hashOf(writeZip(t, ents...)); h2 == h1 {
		t.Fatal("a changed file did not change the hash")
	}
}
