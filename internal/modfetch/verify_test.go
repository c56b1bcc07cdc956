package modfetch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestTamperedGoModRefused: a .mod file whose hash the checksum database
// does not vouch for is refused with a ChecksumError, and its bytes are not
// returned.
func TestTamperedGoModRefused(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	p, v := "example.com/Big/a", "v1.2.0"
	honest, err := fetcher(t, up.URL, up).GoMod(context.Background(), p, v)
	if err != nil {
		t.Fatal(err)
	}
	up.SetFault(testupstream.FilePath(p, v, "mod"), testupstream.Fault{Body: append([]byte("// tampered\n"), honest...)})
	data, err := fetcher(t, up.URL, up).GoMod(context.Background(), p, v)
	var ce *ChecksumError
	if !errors.As(err, &ce) || data != nil {
		t.Fatalf("tampered go.mod: %d bytes, err %v; want no bytes and a ChecksumError", len(data), err)
	}
	// Exempt from the checksum database (GONOSUMDB), the same bytes pass:
	// the refusal above came from the database, not from parsing.
	data, err = fetcher(t, up.URL, up, "GONOSUMDB", "example.com").GoMod(context.Background(), p, v)
	if err != nil || string(data) != "// tampered\n"+string(honest) {
		t.Fatalf("GONOSUMDB: %q, %v", data, err)
	}
}

// TestZipOverAnnouncedLimitReadsNothing: a zip whose announced size is
// over MaxZipSize, even by one byte, is refused before any of it is
// downloaded; one of exactly MaxZipSize bytes is accepted.
func TestZipOverAnnouncedLimitReadsNothing(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	p, v := "example.com/Big/a", "v1.2.0"
	size := int64(len(up.ZipBytes(p, v)))
	zip := func(limit int64) (int64, error) {
		f := fetcher(t, up.URL, up)
		f.MaxZipSize = limit
		dst, err := os.CreateTemp(t.TempDir(), "zip")
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		_, err = f.Zip(context.Background(), p, v, dst, nil)
		fi, serr := dst.Stat()
		if serr != nil {
			t.Fatal(serr)
		}
		return fi.Size(), err
	}
	if n, err := zip(size - 1); err == nil || n != 0 {
		t.Fatalf("zip of %d bytes under a limit of %d: err %v, %d bytes written; want refused with nothing written", size, size-1, err, n)
	}
	if n, err := zip(size); err != nil || n != size {
		t.Fatalf("zip of %d bytes under a limit of %d: err %v, %d bytes written", size, size, err, n)
	}
}

// TestVouchedButInvalidZipRefused: a zip the checksum database vouches for
// (its hash is recorded) but whose structure is invalid (a path escaping
// the module) is still refused: the structure check is its own guard, not
// a message on top of the hash check.
func TestVouchedButInvalidZipRefused(t *testing.T) {
	p, v := "example.com/escape", "v1.0.0"
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{p + "@" + v + "/go.mod", p + "@" + v + "/../../evil.go"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "module "+p+"\n")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	up := testupstream.NewForTest(t, testupstream.Module{Path: p, Version: v, Zip: buf.Bytes(),
		Files: map[string]string{"go.mod": "module " + p + "\n"}})
	dst, err := os.CreateTemp(t.TempDir(), "zip")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	hash, err := fetcher(t, up.URL, up).Zip(context.Background(), p, v, dst, nil)
	var ce *ChecksumError
	if err == nil || hash != "" || errors.As(err, &ce) {
		t.Fatalf("vouched zip with an escaping path: hash %q, err %v; want refused as invalid, not as a checksum mismatch", hash, err)
	}
}
