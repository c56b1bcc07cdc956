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
	"testing"
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
