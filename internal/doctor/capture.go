package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/version"
)

// A capture is a tar.gz (or a directory) that mirrors "/" for every file the
// checks read, symbolic links kept as links (relative, so they resolve
// inside the capture), plus pitstop's own records under .pitstop/:
//
//	.pitstop/capture.json  CaptureInfo
//	.pitstop/probes.json   every probe's result: name → {"value": JSON of the
//	                       probe's type (see Probe), "err": its error}
//	.pitstop/environ.json  the captured variables (CapturedVar): name → value
//	.pitstop/goenv.json    `go env -json` of the go command that won on PATH
//
// Executables read for their ELF header (/bin/sh) are stored as their
// first 64 bytes only.
const metaDir = ".pitstop"

// CaptureInfo describes a capture.
type CaptureInfo struct {
	Version int       `json:"version"` // 2 (1: probe values were all strings)
	Created time.Time `json:"created"`
	GOOS    string    `json:"goos"`   // of the pitstop binary that captured
	GOARCH  string    `json:"goarch"` // of the pitstop binary that captured
	Source  string    `json:"source"` // "live" or the capture it was made from
	// Pitstop is the pitstop that captured; captures made before it was
	// recorded have none.
	Pitstop *version.Info `json:"pitstop,omitempty"`
}

// captureVersion is the CaptureInfo.Version that WriteCapture writes.
const captureVersion = 2

const elfKeep = 64

type capEntry struct {
	typ    byte // tar.TypeReg, TypeSymlink, TypeDir
	data   []byte
	target string
}

type capWriter struct {
	root    *host.Root
	entries map[string]capEntry // path without leading "/"
}

// add records absolute path p and every symbolic link on the way to it;
// orig is the path the checks read (p before links were followed), whose
// content the Root kept.
func (c *capWriter) add(p, orig string, depth int) {
	if depth > 40 || !path.IsAbs(p) {
		return
	}
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur := "/"
	for i, part := range parts {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		fi, err := os.Lstat(c.root.Path(next))
		if err != nil {
			return
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(c.root.Path(next))
			if err != nil {
				return
			}
			abs := t
			if !path.IsAbs(t) {
				abs = path.Join(path.Dir(next), t)
			}
			rel, err := filepath.Rel(path.Dir(next), abs)
			if err != nil {
				return
			}
			c.entries[next[1:]] = capEntry{typ: tar.TypeSymlink, target: filepath.ToSlash(rel)}
			c.add(path.Join(append([]string{abs}, parts[i+1:]...)...), orig, depth+1)
			return
		}
		if i < len(parts)-1 {
			cur = next
			continue
		}
		switch {
		case fi.IsDir():
			if _, ok := c.entries[next[1:]]; !ok {
				c.entries[next[1:]] = capEntry{typ: tar.TypeDir}
			}
		case fi.Mode().IsRegular():
			b, ok := c.root.Content(orig)
			if !ok {
				var err error
				if b, err = os.ReadFile(c.root.Path(next)); err != nil {
					return
				}
			}
			if len(b) > elfKeep && bytes.HasPrefix(b, []byte("\x7fELF")) {
				b = b[:elfKeep]
			}
			c.entries[next[1:]] = capEntry{typ: tar.TypeReg, data: b}
		}
	}
}

// WriteCapture writes env's capture as a tar.gz to w: every path the checks
// read through env.Root, the probes, the captured environment and go env.
// It returns the number of files and links stored.
func WriteCapture(w io.Writer, env *Env) (int, error) {
	c := &capWriter{root: env.Root, entries: map[string]capEntry{}}
	for _, p := range env.Root.Seen() {
		c.add(p, p, 0)
	}
	n := len(c.entries)
	js := func(v any) []byte {
		b, _ := json.MarshalIndent(v, "", "  ")
		return append(b, '\n')
	}
	pv := version.Get()
	src := "live"
	if !env.Root.IsLive() {
		src = env.Root.Dir()
	}
	c.entries[metaDir+"/capture.json"] = capEntry{typ: tar.TypeReg, data: js(CaptureInfo{
		Version: captureVersion, Created: time.Now().UTC().Round(time.Second), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Source: src, Pitstop: &pv})}
	probes := map[string]ProbeResult{}
	for k, v := range env.Probes() {
		probes[modfetch.Redact(k)] = ProbeResult{Value: redactJSON(v.Value), Err: modfetch.Redact(v.Err)}
	}
	c.entries[metaDir+"/probes.json"] = capEntry{typ: tar.TypeReg, data: js(probes)}
	vars := env.environ()
	for k, v := range vars {
		vars[k] = modfetch.Redact(v)
	}
	c.entries[metaDir+"/environ.json"] = capEntry{typ: tar.TypeReg, data: js(vars)}
	goe := goenv.Env{}
	for k, v := range env.Go {
		goe[k] = modfetch.Redact(v)
	}
	c.entries[metaDir+"/goenv.json"] = capEntry{typ: tar.TypeReg, data: js(goe)}

	names := make([]string, 0, len(c.entries))
	for name := range c.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	mtime := time.Now().UTC().Round(time.Second)
	for _, name := range names {
		e := c.entries[name]
		hdr := &tar.Header{Name: name, Typeflag: e.typ, ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name, hdr.Mode = name+"/", 0o755
		case tar.TypeSymlink:
			hdr.Linkname, hdr.Mode = e.target, 0o777
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, err
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return 0, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return n, zw.Close()
}

// redactJSON redacts every string in a probe's JSON value (modfetch.Redact
// replaces credentials in URLs the same way everywhere in a capture, so
// that probe names and values that hold a URL still match the captured go
// env).
func redactJSON(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return json.RawMessage(modfetch.Redact(string(raw)))
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return modfetch.Redact(v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				out[modfetch.Redact(k)] = walk(x)
			}
			return out
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		return json.RawMessage(modfetch.Redact(string(raw)))
	}
	return b
}

// WriteCaptureFile writes env's capture to file atomically.
func WriteCaptureFile(file string, env *Env) (int, error) {
	var n int
	err := atomicfile.Write(file, 0o644, func(w io.Writer) error {
		var err error
		n, err = WriteCapture(w, env)
		return err
	})
	return n, err
}

// Limits on what OpenCapture extracts from an archive.
const (
	maxCaptureBytes   = 256 << 20
	maxCaptureEntries = 100000
)

// ErrNotCapture is wrapped by OpenCapture's errors for input that is not a
// capture.
var ErrNotCapture = errors.New("not a pitstop capture")

// OpenCapture opens a capture for replay: a directory, or a .tar.gz written
// by --capture (extracted safely into a temporary directory that cleanup
// removes). The Env replays the recorded probes (others report
// ErrNoLiveHost), the captured environment and go env.
func OpenCapture(src string) (env *Env, cleanup func(), err error) {
	cleanup = func() {}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, cleanup, err
	}
	dir := src
	if !fi.IsDir() {
		f, err := os.Open(src)
		if err != nil {
			return nil, cleanup, err
		}
		defer f.Close()
		tmp, err := os.MkdirTemp("", "pitstop-capture-")
		if err != nil {
			return nil, cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := ExtractTarGz(f, tmp); err != nil {
			cleanup()
			return nil, func() {}, err
		}
		dir = tmp
	}
	env, err = loadCaptureDir(dir)
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return env, cleanup, nil
}

func loadCaptureDir(dir string) (*Env, error) {
	meta := filepath.Join(dir, metaDir)
	if _, err := os.Stat(meta); err != nil {
		// A hand-made tree without records: files only.
		for _, d := range []string{"proc", "sys", "etc"} {
			if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
				env := &Env{Root: host.At(dir), Go: goenv.Env{}, NoGoEnv: true, vars: map[string]string{}}
				env.replayProbes(nil)
				env.Getenv = env.lookupVar
				return env, nil
			}
		}
		return nil, fmt.Errorf("%w: %s has neither .pitstop/ nor proc, sys or etc", ErrNotCapture, dir)
	}
	env := &Env{Root: host.At(dir), Go: goenv.Env{}, vars: map[string]string{}}
	readJSON := func(name string, v any) error {
		b, err := os.ReadFile(filepath.Join(meta, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%w: %s/%s: %v", ErrNotCapture, metaDir, name, err)
		}
		return nil
	}
	probes := map[string]ProbeResult{}
	if err := readJSON("probes.json", &probes); err != nil {
		return nil, err
	}
	if err := readJSON("environ.json", &env.vars); err != nil {
		return nil, err
	}
	if err := readJSON("goenv.json", &env.Go); err != nil {
		return nil, err
	}
	if env.Go == nil {
		env.Go = goenv.Env{}
	}
	if _, err := os.Stat(filepath.Join(meta, "goenv.json")); errors.Is(err, fs.ErrNotExist) {
		env.NoGoEnv = true
	}
	if env.vars == nil {
		env.vars = map[string]string{}
	}
	env.replayProbes(probes)
	env.Getenv = env.lookupVar
	return env, nil
}

func (e *Env) lookupVar(name string) string { return e.vars[name] }

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
