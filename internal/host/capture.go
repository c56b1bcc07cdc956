package host

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// A capture of a machine, as pitstop doctor --capture writes it: a tar.gz
// (or a directory) that mirrors "/" for the files the doctor read, plus
// pitstop's records under .pitstop/ (capture.json, probes.json,
// environ.json, goenv.json). The doctor writes and replays captures; what
// another command needs to read one (the tree, the recorded probes) is here.

// CaptureMetaDir is the directory of a capture's own records.
const CaptureMetaDir = ".pitstop"

// ProbeRecord is the recorded outcome of a probe in a capture's
// probes.json: its value as JSON, or the error it ended with.
type ProbeRecord struct {
	Value json.RawMessage `json:"value,omitempty"`
	Err   string          `json:"err,omitempty"`
}

// Limits on what ExtractTarGz extracts from an archive.
const (
	maxCaptureBytes   = 256 << 20
	maxCaptureEntries = 100000
)

// ErrNotCapture is wrapped by the errors of input that is not a capture.
var ErrNotCapture = errors.New("not a pitstop capture")

// OpenCaptureTree returns the directory of a capture: src itself when it
// is a directory, else a temporary directory the .tar.gz src is safely
// extracted into, which cleanup removes.
func OpenCaptureTree(src string) (dir string, cleanup func(), err error) {
	cleanup = func() {}
	fi, err := os.Stat(src)
	if err != nil {
		return "", cleanup, err
	}
	if fi.IsDir() {
		return src, cleanup, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return "", cleanup, err
	}
	defer f.Close()
	tmp, err := os.MkdirTemp("", "pitstop-capture-")
	if err != nil {
		return "", cleanup, err
	}
	if err := ExtractTarGz(f, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", cleanup, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}

// ReadCaptureRecord decodes the JSON record .pitstop/name of the capture
// tree dir into v; a missing record leaves v as it is.
func ReadCaptureRecord(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, CaptureMetaDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s/%s: %v", ErrNotCapture, CaptureMetaDir, name, err)
	}
	return nil
}

// CaptureEntryName checks an archive member's name and returns it as a
// local, slash-separated path; ok is false for names that are absolute,
// climb out with "..", or are empty.
func CaptureEntryName(name string) (clean string, ok bool) {
	if name == "" || strings.ContainsAny(name, "\x00\\") || strings.HasPrefix(name, "/") {
		return "", false
	}
	clean = path.Clean(name)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || !filepath.IsLocal(clean) {
		return "", false
	}
	return clean, true
}

// linkStaysInside reports whether a symbolic link at name (local) with
// target stays inside the tree, read lexically.
func linkStaysInside(name, target string) bool {
	if target == "" || strings.ContainsRune(target, 0) || path.IsAbs(target) {
		return false
	}
	j := path.Join(path.Dir(name), target)
	return j == "." || filepath.IsLocal(j)
}

// ExtractTarGz extracts a capture archive into dest (an empty directory).
// Only regular files, directories and symbolic links are taken; a member
// whose name or link target leaves dest, a link chain that resolves outside
// it, or an archive over 256 MiB or 100,000 members is refused.
func ExtractTarGz(r io.Reader, dest string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotCapture, err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("%w: the archive is empty", ErrNotCapture)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotCapture, err)
		}
		if n >= maxCaptureEntries {
			return fmt.Errorf("%w: more than %d members", ErrNotCapture, maxCaptureEntries)
		}
		if strings.TrimSuffix(hdr.Name, "/") == "." || hdr.Name == "./" {
			continue
		}
		name, ok := CaptureEntryName(strings.TrimSuffix(hdr.Name, "/"))
		if !ok {
			return fmt.Errorf("%w: member %q leaves the capture", ErrNotCapture, hdr.Name)
		}
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrNotCapture, name, err)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrNotCapture, name, err)
			}
		case tar.TypeReg:
			total += hdr.Size
			if hdr.Size < 0 || total > maxCaptureBytes {
				return fmt.Errorf("%w: larger than %d MiB", ErrNotCapture, maxCaptureBytes>>20)
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrNotCapture, name, err)
			}
			_, err = io.Copy(f, io.LimitReader(tr, hdr.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%w: %s: %v", ErrNotCapture, name, err)
			}
		case tar.TypeSymlink:
			if !linkStaysInside(name, hdr.Linkname) {
				return fmt.Errorf("%w: link %s -> %s leaves the capture", ErrNotCapture, name, hdr.Linkname)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrNotCapture, name, err)
			}
		default:
			// Hard links, devices and FIFOs are never written by --capture.
		}
	}
	return checkLinks(dest)
}

// checkLinks verifies that every symbolic link under dir that resolves at
// all resolves inside dir (chains of individually harmless links can
// climb out).
func checkLinks(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		t, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil // dangling: reading it fails, nothing leaks
		}
		if rel, err := filepath.Rel(real, t); err != nil || !filepath.IsLocal(rel) && rel != "." {
			r, _ := filepath.Rel(dir, p)
			return fmt.Errorf("%w: link %s resolves outside the capture", ErrNotCapture, r)
		}
		return nil
	})
}
