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
const metaDir = host.CaptureMetaDir

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

// ErrNotCapture is wrapped by OpenCapture's errors for input that is not a
// capture (host.ErrNotCapture: the capture format lives in host).
var ErrNotCapture = host.ErrNotCapture

// OpenCapture opens a capture for replay: a directory, or a .tar.gz written
// by --capture (extracted safely into a temporary directory that cleanup
// removes). The Env replays the recorded probes (others report
// ErrNoLiveHost), the captured environment and go env.
func OpenCapture(src string) (env *Env, cleanup func(), err error) {
	dir, cleanup, err := host.OpenCaptureTree(src)
	if err != nil {
		return nil, cleanup, err
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
	probes := map[string]ProbeResult{}
	if err := host.ReadCaptureRecord(dir, "probes.json", &probes); err != nil {
		return nil, err
	}
	if err := host.ReadCaptureRecord(dir, "environ.json", &env.vars); err != nil {
		return nil, err
	}
	if err := host.ReadCaptureRecord(dir, "goenv.json", &env.Go); err != nil {
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
