package modfetch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestZipDirectoryLimit: the central-directory scan counts the entries
// actually there and refuses one more than the limit, with a
// *ZipLimitError; a zip at the limit passes to the full check.
func TestZipDirectoryLimit(t *testing.T) {
	const p, v = "example.com/many", "v1.0.0"
	z, err := testupstream.ManyFilesZip(p, v, 1001)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "z.zip")
	if err := os.WriteFile(file, z, 0o644); err != nil {
		t.Fatal(err)
	}
	var le *ZipLimitError
	if err := checkZipDirectory(p, v, file, 1000); !errors.As(err, &le) {
		t.Errorf("1001 files under a limit of 1000: %v, want a *ZipLimitError", err)
	}
	if err := checkZipDirectory(p, v, file, 1001); err != nil {
		t.Errorf("1001 files under a limit of 1001: %v", err)
	}
	f := &Fetcher{MaxZipFiles: 1000}
	if _, err := f.CheckZipFile(t.Context(), p, v, file); !errors.As(err, &le) {
		t.Errorf("CheckZipFile with MaxZipFiles 1000: %v, want a *ZipLimitError", err)
	}
}
