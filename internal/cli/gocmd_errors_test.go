package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/pitstop-go/pitstop/internal/toolchain"
)

// toolchain's errors name settings; the CLI retells them with its flags,
// word for word as before the library stopped naming them.
func TestGoErrorNamesFlags(t *testing.T) {
	full := &toolchain.DiskError{Doing: "creating", Path: "/srv/go", Err: syscall.ENOSPC}
	none := &toolchain.UnknownVersionError{Asked: "go1.99.0", Target: toolchain.Target{GOOS: "linux", GOARCH: "arm"}}
	near := &toolchain.UnknownVersionError{Asked: "go1.22.99", Target: toolchain.Target{GOOS: "linux", GOARCH: "arm"},
		Closest: []toolchain.Version{{Major: 1, Minor: 22, Patch: 5}}}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{full, "creating /srv/go: no space left on device (a toolchain needs about 300 MB: free space there or choose another --dir); nothing was changed"},
		{&toolchain.DiskError{Doing: "switching", Path: "/usr/local/go", Err: fs.ErrPermission},
			"switching /usr/local/go: permission denied (choose a --dir you can write, or use sudo for --system); nothing was changed"},
		{fmt.Errorf("layout: %w", toolchain.ErrNoHome), "cannot find the home directory: set HOME or pass --dir"},
		{toolchain.ErrSumDBOff, "the checksum database is off for golang.org/toolchain (GOSUMDB=off, or GONOSUMDB/GOPRIVATE match it): pitstop verifies every toolchain, as the go command does; turn it back on (go env -u GOSUMDB) or pass --insecure"},
		{none, "no Go release go1.99.0 for linux-arm on the module proxy; see `pitstop go list --remote`"},
		{near, "no Go release go1.22.99 for linux-arm on the module proxy; closest: go1.22.5"},
	} {
		got := goError(tt.err)
		if got.Error() != tt.want {
			t.Errorf("goError(%v):\n got %q\nwant %q", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("goError(%v) no longer wraps it", tt.err)
		}
	}
	if goError(nil) != nil {
		t.Error("goError(nil) != nil")
	}
}
