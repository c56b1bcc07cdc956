package toolchain

import (
	"archive/zip"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/modfetch"
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
// symbolic links, devices and names that could escape dest are refused,
// all before anything is written. File modes in the zip are kept (without
// group/other write); as the go command does, bin, pkg/tool and
// lib/go_*_*_exec become executable when the zip carries no modes, and
// src/.../_go.mod files are copied to go.mod. progress, if not nil, is
// called after each file (never concurrently) with the bytes written so
// far and the zip's uncompressed total. ctx stops it between files. On
// error dest is removed. The tree is durable (syncfs) when Unpack returns.
//
// Files are written by unpackWorkers goroutines, largest first: zip
// entries are independent, and inflating is most of the work.
func Unpack(ctx context.Context, zipFile, mv, dest string, progress func(done, total int64)) error {
	_, err := unpack(ctx, zipFile, mv, dest, progress)
	return err
}

// unpack is Unpack that also returns the zip's h1: hash (what
// dirhash.HashZip returns), computed from the bytes it writes: the
// install's one pass over the content, verified with the checksum
// database before anything unpacked runs or is renamed into place.
func unpack(ctx context.Context, zipFile, mv, dest string, progress func(done, total int64)) (hash string, err error) {
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", zipFile, err)
	}
	defer zr.Close()

	// Check every entry and list the directories and files to make.
	var total int64
	seen := map[string]bool{}
	dirs := map[string]bool{}
	var files []*unpackJob
	others := map[string]*zip.File{} // directory entries: in the hash only
	for _, f := range zr.File {
		rel, isDir, err := EntryPath(f.Name, mv)
		if err != nil {
			return "", err
		}
		mode := f.Mode()
		if mode&(fs.ModeSymlink|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeCharDevice|fs.ModeIrregular) != 0 {
			return "", fmt.Errorf("zip entry %q is not a regular file or directory (%v)", f.Name, mode.Type())
		}
		if strings.Contains(f.Name, "\n") {
			return "", fmt.Errorf("zip entry %q has a newline", f.Name)
		}
		if rel == "" {
			others[f.Name] = f // hashed, not written
			continue
		}
		key := strings.ToLower(rel)
		if seen[key] {
			return "", fmt.Errorf("zip entry %q appears twice", f.Name)
		}
		seen[key] = true
		if isDir || mode.IsDir() {
			dirs[rel] = true
			others[f.Name] = f
			continue
		}
		dirs[path.Dir(rel)] = true
		total += int64(f.UncompressedSize64)
		files = append(files, &unpackJob{f: f, rel: rel, perm: mode.Perm()&^0o022 | 0o644})
	}

	if err := os.Mkdir(dest, 0o755); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			RemoveTree(dest)
		}
	}()
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if d == "." {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dest, filepath.FromSlash(d)), 0o755); err != nil {
			return "", err
		}
	}
	// Largest first, so that the last file to finish is a small one.
	slices.SortStableFunc(files, func(a, b *unpackJob) int {
		return cmp.Compare(b.f.UncompressedSize64, a.f.UncompressedSize64)
	})
	if err := unpackFiles(ctx, dest, files, total, progress); err != nil {
		return "", err
	}

	goBin := filepath.Join(dest, "bin", "go")
	fi, err := os.Stat(goBin)
	if err != nil {
		return "", fmt.Errorf("the toolchain zip has no bin/go")
	}
	if fi.Mode()&0o111 == 0 {
		allowExec(filepath.Join(dest, "pkg", "tool"), "")
		allowExec(filepath.Join(dest, "lib"), "go_?*_?*_exec")
		allowExec(filepath.Join(dest, "bin"), "")
	}
	if err := restoreGoMods(dest, files); err != nil {
		return "", err
	}
	hash, err = hash1(files, others)
	if err != nil {
		return "", err
	}
	// One syncfs instead of an fsync per file: the tree is durable before
	// it is renamed into place.
	return hash, atomicfile.SyncFS(dest)
}

// hash1 is dirhash.Hash1 over the zip's entries: the files' SHA-256 sums
// as they were written, the other entries' (directories) read here.
func hash1(files []*unpackJob, others map[string]*zip.File) (string, error) {
	sums := make(map[string][sha256.Size]byte, len(files)+len(others))
	for _, j := range files {
		sums[j.f.Name] = j.sum
	}
	for name, f := range others {
		r, err := f.Open()
		if err != nil {
			return "", err
		}
		h := sha256.New()
		_, err = io.Copy(h, io.LimitReader(r, 1<<20))
		r.Close()
		if err != nil {
			return "", err
		}
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		sums[name] = sum
	}
	names := slices.Sorted(maps.Keys(sums))
	sorted := make([][sha256.Size]byte, len(names))
	for i, name := range names {
		sorted[i] = sums[name]
	}
	return modfetch.Hash1(names, sorted)
}

// unpackJob is one file of the zip to write.
type unpackJob struct {
	f    *zip.File
	rel  string // slash path inside the toolchain
	perm fs.FileMode
	sum  [sha256.Size]byte // of what was written
}

// unpackWorkers is how many files are inflated and written at once.
func unpackWorkers() int { return min(runtime.NumCPU(), 4) }

// unpackFiles writes the files on unpackWorkers goroutines; the first
// failure (or ctx) stops the others between files.
func unpackFiles(ctx context.Context, dest string, files []*unpackJob, total int64, progress func(done, total int64)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var mu sync.Mutex // progress
	var done int64
	var wg sync.WaitGroup
	for range min(unpackWorkers(), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			h := sha256.New()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				j := files[i]
				h.Reset()
				if err := writeEntry(j.f, filepath.Join(dest, filepath.FromSlash(j.rel)), j.perm, buf, h); err != nil {
					cancel(fmt.Errorf("unpacking %s: %w", j.rel, err))
					return
				}
				h.Sum(j.sum[:0])
				if progress != nil {
					mu.Lock()
					// Nothing reported after an interruption (or another
					// writer's failure), though files in flight finish.
					if ctx.Err() == nil {
						done += int64(j.f.UncompressedSize64)
						progress(done, total)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// writeEntry writes f to target (which must not exist) with mode perm,
// through buf, and what it writes to h. A plain descriptor, not an *os.File: a regular file gains
// nothing from the runtime's poller, and a toolchain has thousands.
func writeEntry(f *zip.File, target string, perm fs.FileMode, buf []byte, h io.Writer) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	fd, err := atomicfile.OpenFd(target, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, uint32(perm))
	if err != nil {
		return err
	}
	w := io.MultiWriter(fdWriter{fd: fd, name: target}, h)
	n, err := io.CopyBuffer(w, io.LimitReader(rc, int64(f.UncompressedSize64)+1), buf)
	if err == nil {
		// Not narrowed by the umask.
		if cerr := unix.Fchmod(fd, uint32(perm)); cerr != nil {
			err = &fs.PathError{Op: "chmod", Path: target, Err: cerr}
		}
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = &fs.PathError{Op: "close", Path: target, Err: cerr}
	}
	if err != nil {
		return err
	}
	if uint64(n) != f.UncompressedSize64 {
		return errors.New("size differs from the zip's directory")
	}
	return nil
}

// fdWriter writes to a file descriptor.
type fdWriter struct {
	fd   int
	name string
}

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(w.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &fs.PathError{Op: "write", Path: w.name, Err: err}
		}
		n += m
	}
	return n, nil
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

// restoreGoMods copies every _go.mod among files to go.mod beside it:
// module zips cannot hold nested go.mod files, so toolchain zips carry
// them renamed.
func restoreGoMods(dest string, files []*unpackJob) error {
	for _, j := range files {
		if path.Base(j.rel) != "_go.mod" {
			continue
		}
		p := filepath.Join(dest, filepath.FromSlash(j.rel))
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), "go.mod"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
