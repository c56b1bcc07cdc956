package systemd

import (
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

// ExecutablePath is the path units should run for the binary at exe (an
// absolute path, symbolic links resolved): exe itself when units can see
// it, binDir/<its name> otherwise. It reads nothing (help texts call it on
// every start; Executable plans the copy).
func ExecutablePath(exe, binDir string) string {
	if HiddenFrom(exe) == "" {
		return exe
	}
	return filepath.Join(binDir, filepath.Base(exe))
}

// Executable returns the path units should run for the binary at exe (an
// absolute path, symbolic links resolved) and, when units cannot see exe,
// the step that copies it to binDir/<its name> atomically: exe itself when
// it is visible (no step), the copy otherwise (no step either when the copy
// is already there with the same content). The files are compared a block
// at a time, never read whole (a binary is tens of megabytes).
func Executable(exe, binDir string) (string, *plan.Step, error) {
	hidden := HiddenFrom(exe)
	dst := ExecutablePath(exe, binDir)
	if hidden == "" {
		return exe, nil, nil
	}
	if _, err := os.Stat(exe); err != nil {
		return "", nil, fmt.Errorf("units cannot see %s (under %s) and it cannot be copied to %s: %v", exe, hidden, dst, err)
	}
	same, err := atomicfile.SameContent(exe, dst)
	had := err == nil
	switch {
	case had && same:
		return dst, nil, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return "", nil, err
	}
	note := fmt.Sprintf("from %s: units cannot see %s", exe, hidden)
	if had {
		note = fmt.Sprintf("replacing it with %s: units cannot see %s", exe, hidden)
	}
	var old []byte // the copy replaced, read when the step runs, for Undo
	return dst, &plan.Step{Action: "copy", Target: dst, Note: note,
		Do: func(context.Context) error {
			if had {
				b, err := os.ReadFile(dst)
				if err != nil {
					return err
				}
				old = b
			}
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				return err
			}
			return copyFile(dst, exe)
		},
		Undo: func(context.Context) error {
			if had {
				if old == nil {
					return nil // Do did not get as far as replacing it
				}
				return atomicfile.WriteFile(dst, old, 0o755)
			}
			return os.Remove(dst)
		},
	}, nil
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
