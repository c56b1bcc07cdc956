package modfetch

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

// TestHashZipMatchesDirhash: the parallel hash is dirhash.HashZip's h1:,
// for zips of many files, sizes (empty, large, compressed or stored),
// unsorted names and a repeated name; a name with a newline is refused as
// dirhash refuses it.
func TestHashZipMatchesDirhash(t *testing.T) {
	type ent struct {
		name   string
		data   string
		stored bool
	}
	many := func(n int) []ent {
		var es []ent
		for i := n - 1; i >= 0; i-- { // unsorted
			es = append(es, ent{name: fmt.Sprintf("m@v1.0.0/d%d/f%04d.go", i%7, i), data: strings.Repeat(fmt.Sprint(i, " "), i*13), stored: i%5 == 0})
		}
		return es
	}
	for _, tc := range []struct {
		name string
		ents []ent
	}{
		{"one", []ent{{name: "m@v1.0.0/go.mod", data: "module m\n"}}},
		{"empty file", []ent{{name: "m@v1.0.0/a", data: ""}, {name: "m@v1.0.0/b", data: "b"}}},
		{"large", []ent{{name: "m@v1.0.0/big", data: strings.Repeat("0123456789abcdef", 1<<16)}, {name: "m@v1.0.0/small", data: "s"}}},
		{"many", many(500)},
		{"repeated name", []ent{{name: "m@v1.0.0/x", data: "first"}, {name: "m@v1.0.0/y", data: "y"}, {name: "m@v1.0.0/x", data: "second"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			zw := zip.NewWriter(&b)
			for _, e := range tc.ents {
				m := zip.Deflate
				if e.stored {
					m = zip.Store
				}
				w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
				if err != nil {
					t.Fatal(err)
				}
				w.Write([]byte(e.data))
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "m.zip")
			if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			want, err := dirhash.HashZip(file, dirhash.Hash1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := hashZip(file)
			if err != nil || got != want {
				t.Fatalf("hashZip = %q, %v; dirhash.HashZip = %q", got, err, want)
			}
		})
	}
	t.Run("newline", func(t *testing.T) {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		w, _ := zw.Create("m@v1.0.0/a\nb")
		w.Write([]byte("x"))
		zw.Close()
		file := filepath.Join(t.TempDir(), "m.zip")
		os.WriteFile(file, b.Bytes(), 0o644)
		if h, err := hashZip(file); err == nil {
			t.Fatalf("hashZip of a name with a newline = %q, want an error", h)
		}
	})
}
