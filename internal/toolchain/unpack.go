package toolchain

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// EntryPath checks one zip entry name of module mv's zip and returns the
// slash-separated path inside the toolchain ("bin/go"), or an error for a
// name outside golang.org/toolchain@<mv>/ or one that could escape the
// target directory (absolute, "..", ".", empty elements, backslashes, NUL).
// dir reports a directory entry (trailing slash).
func EntryPath(name, mv string) (rel string, dir bool, err error) {
	prefix := ModulePath + "@" + mv + "/"
	rel, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", false, fmt.Errorf("zip entry %q is outside %s", name, prefix)
	}
	rel, dir = strings.CutSuffix(rel, "/")
	if rel == "" {
		return "", true, nil // the top directory itself
	}
	if strings.ContainsAny(rel, "\\\x00") {
		return "", false, fmt.Errorf("zip entry %q has a backslash or NUL", name)
	}
	if path.IsAbs(rel) || path.Clean(rel) != rel {
		return "", false, fmt.Errorf("zip entry %q escapes the target directory", name)
	}
	for _, e := range strings.Split(rel, "/") {
		if e == "" || e == "." || e == ".." {
			return "", false, fmt.Errorf("zip entry %q escapes the target directory", name)
		}
	}
	return rel, dir, nil
}

// Unpack extracts the toolchain zip of module version mv into dest, which
// must not exist. Entries must lie under golang.org/toolchain@<mv>/;
// symbolic links, devices and names that could escape dest are refused.
// File modes in the zip are kept (without group/other write); as the go
// command does, bin, pkg/tool and lib/go_*_*_exec become executable when
// the zip carries no modes, and src/.../_go.mod files are copied to go.mod.
// progress, if not nil, is called after each file with the bytes written
// so far and the zip's uncompressed total. ctx stops it between files. On
// error dest is removed.
func Unpack(ctx context.Context, zipFile, mv, dest string, progress func(done, total int64)) (err error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return fmt.Errorf("opening %s: %w", zipFile, err)
	}
	defer zr.Close()
	if err := os.Mkdir(dest, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			RemoveTree(dest)
		}
	}()
	var done, total int64
	for _, f := range zr.File {
		total += int64(f.UncompressedSize64)
	}
	seen := map[string]bool{}
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, isDir, err := EntryPath(f.Name, mv)
		if err != nil {
			return err
		}
		mode := f.Mode()
		if mode&(fs.ModeSymlink|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
			return fmt.Errorf("zip entry %q is not a regular file or directory (%v)", f.Name, mode.Type())
		}
		if rel == "" {
			continue
		}
		key := strings.ToLower(rel)
		if seen[key] {
			return fmt.Errorf("zip entry %q appears twice", f.Name)
		}
		seen[key] = true
		target := filepath.Join(dest, filepath.FromSlash(rel))
		if isDir || mode.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		perm := mode.Perm()&^0o022 | 0o644
		if err := writeEntry(f, target, perm); err != nil {
			return fmt.Errorf("unpacking %s: %w", rel, err)
		}
		done += int64(f.UncompressedSize64)
		if progress != nil {
			progress(done, total)
		}
	}
	goBin := filepath.Join(dest, "bin", "go")
	fi, err := os.Stat(goBin)
	if err != nil {
		return fmt.Errorf("the toolchain zip has no bin/go")
	}
	if fi.Mode()&0o111 == 0 {
		allowExec(filepath.Join(dest, "pkg", "tool"), "")
		allowExec(filepath.Join(dest, "lib"), "go_?*_?*_exec")
		allowExec(filepath.Join(dest, "bin"), "")
	}
	if err := restoreGoMods(dest); err != nil {
		return err
	}
	// One syncfs instead of an fsync per file: the tree is durable before
	// it is renamed into place.
	return atomicfile.SyncFS(dest)
}

func writeEntry(f *zip.File, target string, perm fs.FileMode) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if uint64(n) != f.UncompressedSize64 {
		return errors.New("size differs from the zip's directory")
	}
	return os.Chmod(target, perm) // not narrowed by the umask
}

// allowExec adds the execute bits to the files under dir (matching
// pattern, if not empty), as cmd/go/internal/toolchain does.
func allowExec(dir, pattern string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if pattern != "" {
			if ok, _ := filepath.Match(pattern, d.Name()); !ok {
				return nil
			}
		}
		if info, err := d.Info(); err == nil {
			os.Chmod(p, info.Mode().Perm()|0o111)
		}
		return nil
	})
}

// restoreGoMods copies every _go.mod to go.mod: module zips cannot hold
// nested go.mod files, so toolchain zips carry them renamed.
func restoreGoMods(dest string) error {
	return filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "_go.mod" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(filepath.Dir(p), "go.mod"), data, 0o644)
	})
}
