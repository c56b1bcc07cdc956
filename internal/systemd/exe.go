package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// BinDir is where a unit's binary goes when units cannot see where it is.
const BinDir = "/usr/local/bin"

// hiddenDirs are the directories pitstop's units cannot rely on seeing:
// ProtectHome=yes hides /home, /root and /run/user from the network
// services, PrivateTmp=yes gives them a /tmp and /var/tmp of their own, and
// a binary in /tmp is gone after a reboot anyway.
var hiddenDirs = []string{"/home", "/root", "/run/user", "/tmp", "/var/tmp"}

// HiddenFrom returns the directory among hiddenDirs that holds path, or "".
func HiddenFrom(path string) string {
	for _, d := range hiddenDirs {
		if path == d || strings.HasPrefix(path, d+"/") {
			return d
		}
	}
	return ""
}

// Executable returns the path units should run for the binary at exe (an
// absolute path, symbolic links resolved) and, when units cannot see exe,
// the step that copies it to binDir/<its name> atomically: exe itself when
// it is visible (no step), the copy otherwise (no step either when the copy
// is already there with the same content).
func Executable(exe, binDir string) (string, *plan.Step, error) {
	hidden := HiddenFrom(exe)
	if hidden == "" {
		return exe, nil, nil
	}
	dst := filepath.Join(binDir, filepath.Base(exe))
	// Every pitstop command asks (help texts name the binary), the go
	// command's GOCACHEPROG helper on every build among them: look at
	// sizes before reading 20 MB binaries, and read one only to compare
	// it with a copy of the same size.
	si, err := os.Stat(exe)
	if err != nil {
		return "", nil, fmt.Errorf("units cannot see %s (under %s) and it cannot be copied to %s: %v", exe, hidden, dst, err)
	}
	di, err := os.Stat(dst)
	had := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	if had && di.Size() == si.Size() {
		same, err := sameContent(exe, dst)
		if err != nil {
			return "", nil, err
		}
		if same {
			return dst, nil, nil
		}
	}
	var old []byte
	if had {
		// Undo puts the copy there back.
		if old, err = os.ReadFile(dst); err != nil {
			return "", nil, err
		}
	}
	note := fmt.Sprintf("from %s: units cannot see %s", exe, hidden)
	if had {
		note = fmt.Sprintf("replacing it with %s: units cannot see %s", exe, hidden)
	}
	return dst, &plan.Step{Action: "copy", Target: dst, Note: note,
		Do: func(context.Context) error {
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				return err
			}
			return copyFile(dst, exe)
		},
		Undo: func(context.Context) error {
			if had {
				return atomicfile.WriteFile(dst, old, 0o755)
			}
			return os.Remove(dst)
		},
	}, nil
}

// sameContent reports whether files a and b hold the same bytes, reading
// both a chunk at a time.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}

// copyFile copies src to dst atomically, executable.
func copyFile(dst, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return atomicfile.Write(dst, 0o755, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
}
