package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("got %q, %v; want two", b, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestFailedFillKeepsOldAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Errorf("content %q, want old", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory has %d entries, want only f", len(ents))
	}
}

func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory or a file names the filesystem to flush.
	for _, q := range []string{dir, p} {
		if err := SyncFS(q); err != nil {
			t.Errorf("SyncFS(%s) = %v", q, err)
		}
	}
	if err := SyncFS(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncFS of a missing path = %v, want fs.ErrNotExist", err)
	}
}

func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := make([]byte, 200<<10) // several blocks
	for i := range big {
		big[i] = byte(i % 251)
	}
	a := write("a", big)
	b := write("b", big)
	if same, err := SameContent(a, b); !same || err != nil {
		t.Errorf("equal files: %v, %v", same, err)
	}
	other := append([]byte(nil), big...)
	other[150<<10] ^= 1
	if same, err := SameContent(a, write("c", other)); same || err != nil {
		t.Errorf("a byte differs in the third block: %v, %v", same, err)
	}
	if same, err := SameContent(a, write("d", big[:len(big)-1])); same || err != nil {
		t.Errorf("one byte shorter: %v, %v", same, err)
	}
	if _, err := SameContent(a, filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing second file: %v, want fs.ErrNotExist", err)
	}
}
