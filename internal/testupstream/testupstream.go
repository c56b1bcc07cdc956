// Package testupstream is a module proxy and checksum database for tests,
// served on 127.0.0.1. It hosts synthetic modules (built into real module
// zips with golang.org/x/mod/zip and hashed with dirhash), speaks the whole
// GOPROXY protocol ($module/@v/list, .info, .mod, .zip, $module/@latest,
// with '!' case-encoding) and a checksum database signed with a test key
// (x/mod's sumdb.TestServer) under /sumdb/<name>/ (supported, latest,
// lookup, tile).
//
// Tests use it as the "public" upstream: point GOPROXY at URL and GOSUMDB
// at GOSUMDB. It counts requests per URL path, can serve a tampered zip
// after the checksum database recorded the honest hash (Tamper), can delay,
// stall or cut a response (SetFault), and can be stopped and started again
// on the same address (Stop, Start).
//
// Typical use:
//
//	up := testupstream.NewForTest(t,
//		testupstream.Module{Path: "example.com/a", Version: "v1.0.0",
//			Files: map[string]string{"a.go": "package a\n"}})
//	env := []string{"GOPROXY=" + up.URL, "GOSUMDB=" + up.GOSUMDB}
package testupstream

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

// DefaultSumDBName is the checksum database's name when Options.SumDBName
// is empty.
const DefaultSumDBName = "sumdb.test"

// Module is one synthetic module version.
type Module struct {
	// Path is the module path, e.g. "example.com/a" or "golang.org/toolchain".
	Path string
	// Version is a canonical semantic version, e.g. "v1.0.0" or
	// "v0.0.1-go1.22.5.linux-arm64".
	Version string
	// Files maps slash-separated file names inside the module to their
	// content. "go.mod" is also served as the .mod file; without it the
	// .mod file is "module <Path>\n" and the zip has no go.mod.
	Files map[string]string
	// Zip, if set, is served as the module zip instead of one built from
	// Files (its h1: hash is computed from it). Files["go.mod"] still gives
	// the .mod file.
	Zip []byte
	// ZipHash, if set with Zip, is the h1: hash the checksum database
	// records for the zip instead of one computed from it: for huge
	// synthetic zips (ManyFilesZip) a test expects refused before they
	// are hashed, where hashing them here would only cost time.
	ZipHash string
	// Time is the .info time; zero means a fixed time derived from the
	// version's position, so results are reproducible.
	Time time.Time
}

// Options configure New. The zero value is usable.
type Options struct {
	// SumDBName names the checksum database; "" means DefaultSumDBName.
	SumDBName string
	// Addr is the address to listen on; "" means 127.0.0.1:0.
	Addr string
}

// Fault changes how the server answers one URL path (see SetFault).
type Fault struct {
	// Delay waits this long (or until the client goes away) before answering.
	Delay time.Duration
	// Status, if non-zero, answers with this status and a plain text body
	// instead of the content.
	Status int
	// Body, if non-nil, is sent instead of the real content (with a
	// correct Content-Length): for oversized or garbage answers, or a
	// forged checksum-database lookup or tile.
	Body []byte
	// CutAfter > 0 announces the full Content-Length, sends only this many
	// bytes and then closes the connection: a download cut mid-body.
	CutAfter int64
	// Hold, if non-nil, makes the server send HoldAfter bytes, flush, and
	// then wait until Hold is closed (or the client goes away) before
	// sending the rest: a stalled download.
	Hold      <-chan struct{}
	HoldAfter int64
	// Stream > 0 sends this many bytes of filler instead of the content,
	// chunked with no Content-Length, generated as it is sent (a huge
	// answer costs the server nothing): for answers that lie about their
	// size only by being endless.
	Stream int64
	// Gone, if set, is called when the client goes away (closes the
	// connection) during a Delay or a Hold: to see that a client
	// abandoned a download.
	Gone func()
}

type version struct {
	mod      Module
	info     []byte
	gomod    []byte
	zip      []byte
	tampered []byte
	zipHash  string
	modHash  string
}

// Server is a running test upstream. Its exported fields are set by New
// and must not be changed.
type Server struct {
	// URL is the proxy's base URL, "http://127.0.0.1:PORT" (no slash).
	URL string
	// SumDBName is the checksum database's name.
	SumDBName string
	// SumDBURL is the database's own URL, URL + "/sumdb/" + SumDBName.
	SumDBURL string
	// GOSUMDB is the value clients put in GOSUMDB: the verifier key. (The
	// go command then reaches the database through the proxy's /sumdb/.)
	GOSUMDB string
	// SignerKey is the private signing key (for tests that forge notes).
	SignerKey string

	addr  string
	sumdb http.Handler

	mu       sync.Mutex
	mods     map[string]map[string]*version // path → version → data
	counts   map[string]int
	faults   map[string]Fault
	srv      *http.Server
	listener net.Listener
}

// New builds the modules and starts serving them on 127.0.0.1.
func New(opts Options, mods ...Module) (*Server, error) {
	name := opts.SumDBName
	if name == "" {
		name = DefaultSumDBName
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return nil, err
	}
	s := &Server{
		SumDBName: name,
		GOSUMDB:   vkey,
		SignerKey: skey,
		mods:      map[string]map[string]*version{},
		counts:    map[string]int{},
		faults:    map[string]Fault{},
	}
	s.sumdb = sumdb.NewServer(sumdb.NewTestServer(skey, s.gosum))
	if err := s.Add(mods...); err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.SumDBURL = s.URL + "/sumdb/" + name
	s.serve(ln)
	return s, nil
}

// NewForTest is New for a test: it fails tb on error and stops the
// server when the test ends.
func NewForTest(tb testing.TB, mods ...Module) *Server {
	tb.Helper()
	s, err := New(Options{}, mods...)
	if err != nil {
		tb.Fatalf("testupstream: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Add hosts more module versions (replacing any with the same path and
// version that the checksum database has not yet recorded).
func (s *Server) Add(mods ...Module) error {
	for i, m := range mods {
		v, err := build(m, i)
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.mods[m.Path] == nil {
			s.mods[m.Path] = map[string]*version{}
		}
		s.mods[m.Path][m.Version] = v
		s.mu.Unlock()
	}
	return nil
}

func build(m Module, seq int) (*version, error) {
	if err := module.Check(m.Path, m.Version); err != nil {
		return nil, fmt.Errorf("testupstream: %v", err)
	}
	if module.CanonicalVersion(m.Version) != m.Version {
		return nil, fmt.Errorf("testupstream: %s@%s: version is not canonical", m.Path, m.Version)
	}
	v := &version{mod: m}
	if gm, ok := m.Files["go.mod"]; ok {
		v.gomod = []byte(gm)
	} else {
		v.gomod = []byte("module " + m.Path + "\n")
	}
	t := m.Time
	if t.IsZero() {
		t = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Hour)
	}
	v.info, _ = json.Marshal(struct {
		Version string
		Time    time.Time
	}{m.Version, t.UTC()})
	var err error
	if m.Zip != nil {
		v.zip = m.Zip
	} else if v.zip, err = BuildZip(m.Path, m.Version, m.Files); err != nil {
		return nil, err
	}
	if m.Zip != nil && m.ZipHash != "" {
		v.zipHash = m.ZipHash
	} else if v.zipHash, err = HashZipBytes(v.zip); err != nil {
		return nil, fmt.Errorf("testupstream: %s@%s: %v", m.Path, m.Version, err)
	}
	v.modHash, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(v.gomod)), nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// BuildZip makes a module zip of files with golang.org/x/mod/zip.
func BuildZip(path, vers string, files map[string]string) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var list []modzip.File
	for _, n := range names {
		list = append(list, memFile{name: n, data: []byte(files[n])})
	}
	var b bytes.Buffer
	if err := modzip.Create(&b, module.Version{Path: path, Version: vers}, list); err != nil {
		return nil, fmt.Errorf("testupstream: zip %s@%s: %v", path, vers, err)
	}
	return b.Bytes(), nil
}

// HashZipBytes is dirhash.HashZip for a zip held in memory: the h1: hash
// the checksum database records for it.
func HashZipBytes(data []byte) (string, error) {
	z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	var names []string
	byName := map[string]*zip.File{}
	for _, f := range z.File {
		names = append(names, f.Name)
		byName[f.Name] = f
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) {
		f, ok := byName[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return f.Open()
	})
}

type memFile struct {
	name string
	data []byte
}

func (f memFile) Path() string                 { return f.name }
func (f memFile) Lstat() (fs.FileInfo, error)  { return memInfo{f}, nil }
func (f memFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type memInfo struct{ f memFile }

func (i memInfo) Name() string       { return i.f.name[strings.LastIndex(i.f.name, "/")+1:] }
func (i memInfo) Size() int64        { return int64(len(i.f.data)) }
func (i memInfo) Mode() fs.FileMode  { return 0o644 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// Hash returns the h1: hashes of a hosted version's zip and go.mod, as the
// checksum database records them.
func (s *Server) Hash(path, vers string) (zipHash, modHash string, ok bool) {
	v := s.lookup(path, vers)
	if v == nil {
		return "", "", false
	}
	return v.zipHash, v.modHash, true
}

// ZipBytes returns the honest zip of a hosted version.
func (s *Server) ZipBytes(path, vers string) []byte {
	if v := s.lookup(path, vers); v != nil {
		return v.zip
	}
	return nil
}

// Tamper makes the server answer path@vers's .zip with altered bytes: a
// well-formed module zip with one extra file, whose hash differs from the
// one the checksum database records (which stays the honest one). The
// database records the honest hash at once, so the order of requests does
// not matter.
func (s *Server) Tamper(path, vers string) error {
	v := s.lookup(path, vers)
	if v == nil {
		return fmt.Errorf("testupstream: %s@%s not hosted", path, vers)
	}
	files := map[string]string{"zz_tampered.go": "package tampered\n"}
	for k, c := range v.mod.Files {
		files[k] = c
	}
	bad, err := BuildZip(path, vers, files)
	if err != nil {
		return err
	}
	// Record the honest hash before serving anything tampered.
	if _, err := sumdbLookup(s, path, vers); err != nil {
		return err
	}
	s.mu.Lock()
	v.tampered = bad
	s.mu.Unlock()
	return nil
}

func sumdbLookup(s *Server, path, vers string) (int, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return 0, err
	}
	ev, err := module.EscapeVersion(vers)
	if err != nil {
		return 0, err
	}
	req, _ := http.NewRequest("GET", "/lookup/"+ep+"@"+ev, nil)
	rec := &discardWriter{h: http.Header{}}
	s.sumdb.ServeHTTP(rec, req)
	if rec.code != 0 && rec.code != http.StatusOK {
		return rec.code, fmt.Errorf("testupstream: sumdb lookup %s@%s: status %d", path, vers, rec.code)
	}
	return http.StatusOK, nil
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// SetFault makes the server answer urlPath (as requested, e.g.
// ZipPath("example.com/a", "v1.0.0")) as f says. A urlPath ending in "*"
// matches every path with that prefix. A zero Fault removes it.
func (s *Server) SetFault(urlPath string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Delay == 0 && f.Status == 0 && f.Body == nil && f.CutAfter == 0 && f.Hold == nil && f.Stream == 0 {
		delete(s.faults, urlPath)
		return
	}
	s.faults[urlPath] = f
}

// Count returns how many requests the server received for urlPath (an
// escaped URL path such as ZipPath gives; a path ending in "*" sums all
// paths with that prefix).
func (s *Server) Count(urlPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := strings.CutSuffix(urlPath, "*"); ok {
		n := 0
		for k, c := range s.counts {
			if strings.HasPrefix(k, p) {
				n += c
			}
		}
		return n
	}
	return s.counts[urlPath]
}

// Requests returns a copy of the per-path request counters.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		m[k] = v
	}
	return m
}

// ResetCounts zeroes the request counters.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.mu.Unlock()
}

// ModPath returns the escaped URL path prefix of a module, "/<escaped path>".
func ModPath(path string) string {
	ep, err := module.EscapePath(path)
	if err != nil {
		ep = path
	}
	return "/" + ep
}

// FilePath returns the URL path of path@vers's file with extension ext
// ("info", "mod" or "zip").
func FilePath(path, vers, ext string) string {
	ev, err := module.EscapeVersion(vers)
	if err != nil {
		ev = vers
	}
	return ModPath(path) + "/@v/" + ev + "." + ext
}

// ZipPath is FilePath(path, vers, "zip").
func ZipPath(path, vers string) string { return FilePath(path, vers, "zip") }

// Stop closes the listener and every open connection. Requests in flight
// are cut. Stop is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start listens again on the same address after Stop.
func (s *Server) Start() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return nil
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	s.serve(ln)
	return nil
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.listener = ln
	s.mu.Unlock()
	go srv.Serve(ln)
}

func (s *Server) lookup(path, vers string) *version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mods[path][vers]
}

func (s *Server) gosum(path, vers string) ([]byte, error) {
	v := s.lookup(path, vers)
	if v == nil {
		return nil, fmt.Errorf("%s@%s: %w", path, vers, fs.ErrNotExist)
	}
	return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, v.zipHash, path, vers, v.modHash)), nil
}

// ServeHTTP answers the GOPROXY protocol and /sumdb/<name>/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	s.mu.Lock()
	s.counts[p]++
	f, faulty := s.faults[p]
	if !faulty {
		for k, kf := range s.faults {
			if pre, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(p, pre) {
				f, faulty = kf, true
				break
			}
		}
	}
	s.mu.Unlock()
	if faulty {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				if f.Gone != nil {
					f.Gone()
				}
				return
			}
		}
		if f.Status != 0 {
			http.Error(w, fmt.Sprintf("testupstream: fault status %d", f.Status), f.Status)
			return
		}
	}
	if faulty && f.Stream > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("require example.com/x v1.0.0\n"), 1<<10)
		for sent := int64(0); sent < f.Stream; {
			n := min(int64(len(chunk)), f.Stream-sent)
			if _, err := w.Write(chunk[:n]); err != nil {
				return
			}
			sent += n
		}
		return
	}
	body, ctype, code, msg := s.answer(r, p)
	if code == 0 && faulty && f.Body != nil {
		// A checksum-database path with a forged answer.
		body, ctype, code = f.Body, "text/plain; charset=utf-8", http.StatusOK
	}
	if code != http.StatusOK {
		if code == 0 {
			s.sumdb.ServeHTTP(w, r)
			return
		}
		http.Error(w, msg, code)
		return
	}
	if faulty && f.Body != nil {
		body = f.Body
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if !faulty || (f.CutAfter <= 0 && f.Hold == nil) {
		if r.Method != http.MethodHead {
			w.Write(body)
		}
		return
	}
	w.WriteHeader(http.StatusOK)
	sent := int64(0)
	if f.Hold != nil {
		n := min(f.HoldAfter, int64(len(body)))
		w.Write(body[:n])
		sent = n
		http.NewResponseController(w).Flush()
		select {
		case <-f.Hold:
		case <-r.Context().Done():
			if f.Gone != nil {
				f.Gone()
			}
			return
		}
	}
	if f.CutAfter > 0 {
		if n := min(f.CutAfter, int64(len(body))); n > sent {
			w.Write(body[sent:n])
		}
		http.NewResponseController(w).Flush()
		// Cut the connection under the client: hijack and close.
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		} else {
			panic(http.ErrAbortHandler)
		}
		return
	}
	w.Write(body[sent:])
}

// answer returns the content for a proxy path. code 0 means "a sumdb path,
// hand it to the sumdb handler" (with r.URL.Path rewritten).
func (s *Server) answer(r *http.Request, p string) (body []byte, ctype string, code int, msg string) {
	if rest, ok := strings.CutPrefix(p, "/sumdb/"); ok {
		name, sub, _ := strings.Cut(rest, "/")
		if name != s.SumDBName {
			return nil, "", http.StatusNotFound, "unknown checksum database " + name
		}
		if sub == "supported" {
			return nil, "", http.StatusOK, ""
		}
		r.URL.Path = "/" + sub
		return nil, "", 0, ""
	}
	p = strings.TrimPrefix(p, "/")
	var escMod, what string
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		escMod, what = m, "@latest"
	} else if i := strings.Index(p, "/@v/"); i >= 0 {
		escMod, what = p[:i], p[i+len("/@v/"):]
	} else {
		return nil, "", http.StatusNotFound, "not found"
	}
	path, err := module.UnescapePath(escMod)
	if err != nil {
		return nil, "", http.StatusBadRequest, err.Error()
	}
	s.mu.Lock()
	vers := s.mods[path]
	var list []string
	for v := range vers {
		list = append(list, v)
	}
	s.mu.Unlock()
	semver.Sort(list)
	if len(list) == 0 {
		return nil, "", http.StatusNotFound, "not found: module " + path + " is not hosted here"
	}
	textPlain := "text/plain; charset=utf-8"
	switch {
	case what == "list":
		var b strings.Builder
		for _, v := range list {
			if !module.IsPseudoVersion(v) {
				b.WriteString(v + "\n")
			}
		}
		return []byte(b.String()), textPlain, http.StatusOK, ""
	case what == "@latest":
		v := s.lookup(path, latestOf(list))
		return v.info, "application/json", http.StatusOK, ""
	}
	i := strings.LastIndex(what, ".")
	if i < 0 {
		return nil, "", http.StatusNotFound, "not found"
	}
	ev, ext := what[:i], what[i+1:]
	ver, err := module.UnescapeVersion(ev)
	if err != nil {
		return nil, "", http.StatusBadRequest, err.Error()
	}
	s.mu.Lock()
	v := vers[ver]
	var tampered []byte
	if v != nil {
		tampered = v.tampered
	}
	s.mu.Unlock()
	if v == nil {
		if ext == "info" && ver == "latest" {
			return s.lookup(path, latestOf(list)).info, "application/json", http.StatusOK, ""
		}
		return nil, "", http.StatusNotFound, fmt.Sprintf("not found: %s@%s: unknown revision %s", path, ver, ver)
	}
	switch ext {
	case "info":
		return v.info, "application/json", http.StatusOK, ""
	case "mod":
		return v.gomod, textPlain, http.StatusOK, ""
	case "zip":
		if tampered != nil {
			return tampered, "application/zip", http.StatusOK, ""
		}
		return v.zip, "application/zip", http.StatusOK, ""
	}
	return nil, "", http.StatusNotFound, "not found"
}

// latestOf picks what @latest reports: the highest release, else the
// highest pre-release, else the highest pseudo-version. list is sorted.
func latestOf(list []string) string {
	var pre, pseudo string
	for i := len(list) - 1; i >= 0; i-- {
		v := list[i]
		switch {
		case module.IsPseudoVersion(v):
			if pseudo == "" {
				pseudo = v
			}
		case semver.Prerelease(v) != "":
			if pre == "" {
				pre = v
			}
		default:
			return v
		}
	}
	if pre != "" {
		return pre
	}
	return pseudo
}

// ManyFilesZip builds, on the fly, a valid module zip of path@vers holding
// a go.mod and n-1 tiny Go files (stored, not compressed): the shape of a
// zip that costs a proxy memory per file when it checks and hashes it. A
// 100,000-file zip is about 11 MB.
func ManyFilesZip(path, vers string, n int) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	prefix := path + "@" + vers + "/"
	add := func(name, content string) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + name, Method: zip.Store})
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, content)
		return err
	}
	if err := add("go.mod", "module "+path+"\n"); err != nil {
		return nil, err
	}
	for i := 1; i < n; i++ {
		if err := add(fmt.Sprintf("p%03d/f%06d.go", i/1000, i), "package p\n"); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
