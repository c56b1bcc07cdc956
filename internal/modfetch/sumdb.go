package modfetch

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
	"sync"
	"time"

	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/sync/singleflight"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/goenv"
)

// ChecksumError is a hash that disagrees with the checksum database.
type ChecksumError struct {
	Path, Version string
	// File is "zip" or "go.mod".
	File string
	// Got is the hash of what upstream sent; Want what the database says.
	Got, Want string
	// DB names the checksum database.
	DB string
}

func (e *ChecksumError) Error() string {
	what := e.Path + "@" + e.Version
	if e.File == "go.mod" {
		what += "/go.mod"
	}
	return fmt.Sprintf("verifying %s: checksum mismatch: downloaded %s, checksum database %s has %s (SECURITY ERROR: refused, not stored)", what, e.Got, e.DB, e.Want)
}

// ErrSecurity is wrapped when the checksum database itself misbehaves
// (an inconsistent tree, a bad signature).
var ErrSecurity = sumdb.ErrSecurity

// Verify checks zipHash (an h1: hash) for path@vers against the checksum
// database. It returns nil without a lookup when GOSUMDB=off or the module
// matches GONOSUMDB/GOPRIVATE.
func (f *Fetcher) Verify(ctx context.Context, path, vers, zipHash string) error {
	return f.verify(ctx, path, vers, "zip", zipHash)
}

// VerifyGoMod checks a go.mod file's hash like Verify.
func (f *Fetcher) VerifyGoMod(ctx context.Context, path, vers string, data []byte) error {
	h, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return err
	}
	return f.verify(ctx, path, vers, "go.mod", h)
}

// SumDBExempt reports whether path is never looked up in the checksum
// database (GOSUMDB=off, GONOSUMDB, GOPRIVATE).
func (f *Fetcher) SumDBExempt(path string) bool {
	if f.init() != nil {
		return false
	}
	return f.env.NoSumDB(path)
}

func (f *Fetcher) verify(ctx context.Context, path, vers, file, hash string) error {
	if err := f.init(); err != nil {
		return err
	}
	if f.env.NoSumDB(path) {
		return nil
	}
	want, dbName, err := f.sumdb.lookup(ctx, path, vers, file)
	if err != nil {
		return fmt.Errorf("verifying %s@%s: %w", path, vers, err)
	}
	if want != hash {
		return &ChecksumError{Path: path, Version: vers, File: file, Got: hash, Want: want, DB: dbName}
	}
	return nil
}

// sumDB is the Fetcher's checksum database client: a sumdb.Client whose
// ReadRemote goes through the proxy list, with config and cache in memory
// or in SumDBDir.
type sumDB struct {
	f *Fetcher

	mu     sync.Mutex
	db     goenv.SumDB
	dbErr  error
	client *sumdb.Client
	base   string // resolved base URL; "" until found
	mem    map[string][]byte
	sf     singleflight.Group
	nf     map[string]error  // lookup/... -> the not-found answer upstream last gave
	spare  map[string][]byte // verified answers the SumDBCache failed to keep
}

func newSumDB(f *Fetcher) *sumDB {
	s := &sumDB{f: f, mem: map[string][]byte{}}
	s.db, s.dbErr = f.env.SumDB()
	return s
}

// lookup returns the hash recorded for path@vers's file ("zip"/"go.mod").
func (s *sumDB) lookup(ctx context.Context, path, vers, file string) (string, string, error) {
	if s.dbErr != nil {
		return "", "", s.dbErr
	}
	lv := vers
	if file == "go.mod" {
		lv += "/go.mod"
	}
	lines, err := s.lookupLines(ctx, path, lv)
	if err != nil {
		return "", s.db.Name, err
	}
	prefix := path + " " + lv + " "
	for _, l := range lines {
		if h, ok := strings.CutPrefix(l, prefix); ok {
			return h, s.db.Name, nil
		}
	}
	return "", s.db.Name, fmt.Errorf("checksum database %s has no %s hash for %s@%s", s.db.Name, file, path, vers)
}

// lookupLines runs the sumdb.Client's Lookup for path and lv (a version,
// or a version + "/go.mod"): the answer is verified (signed tree head,
// inclusion proof) and, once verified, kept in the cache.
func (s *sumDB) lookupLines(ctx context.Context, path, lv string) ([]string, error) {
	s.mu.Lock()
	c := s.client
	if c == nil {
		c = sumdb.NewClient(&clientOps{s: s, ctx: context.WithoutCancel(ctx)})
		s.client = c
	}
	s.mu.Unlock()
	type result struct {
		lines []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		lines, err := c.Lookup(path, lv)
		done <- result{lines, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		// sumdb.Client remembers failed lookups forever; a long-running
		// proxy must retry after the network, or an upstream that sent a
		// bad answer, comes back. The verified tree head (config) and the
		// verified tiles and lookups (cache) survive, so a new client
		// still refuses a tree inconsistent with what was verified.
		s.mu.Lock()
		if s.client == c {
			s.client = nil
			s.base = ""
		}
		s.mu.Unlock()
		if errors.Is(r.err, sumdb.ErrSecurity) {
			s.f.log().Error("checksum database answer failed verification", "db", s.db.Name, "module", path, "version", lv, "err", r.err)
		}
		return nil, r.err
	}
	return r.lines, nil
}

// baseURL finds how to reach the database name, as the go command does:
// GOSUMDB's URL when it names one, else the first proxy whose
// /sumdb/<name>/supported answers (the GOPROXY list's fallback rules
// apply), else https://<name> once the list reaches direct or off, or
// every proxy said not found.
func (s *sumDB) baseURL(ctx context.Context, name string) (string, error) {
	if name == s.db.Name && s.db.URL != "" {
		return s.db.URL, nil
	}
	if name == s.db.Name {
		s.mu.Lock()
		b := s.base
		s.mu.Unlock()
		if b != "" {
			return b, nil
		}
	}
	found := "https://" + name
	var failed goenv.Proxy
	err := Walk(s.f.proxies, func(p goenv.Proxy) error {
		if p.Direct() {
			return nil
		}
		base := p.URL + "/sumdb/" + name
		if _, err := s.f.Get(ctx, base, "supported"); err != nil {
			failed = p
			return err
		}
		found = base
		return nil
	})
	if err != nil && !errors.Is(err, ErrProxyOff) && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("checksum database %s through %s: %w", name, Redact(failed.URL), err)
	}
	if name == s.db.Name {
		s.mu.Lock()
		s.base = found
		s.mu.Unlock()
	}
	return found, nil
}

// raw fetches rel from the database name. Concurrent fetches of one rel
// make one request (the sumdb.Client and the proxy's clients often want
// the same tile at once).
func (s *sumDB) raw(ctx context.Context, name, rel string) ([]byte, error) {
	ch := s.sf.DoChan(name+"/"+rel, func() (any, error) {
		return s.raw1(context.WithoutCancel(ctx), name, rel)
	})
	select {
	case r := <-ch:
		b, _ := r.Val.([]byte)
		return b, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *sumDB) raw1(ctx context.Context, name, rel string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	v, err, _ := s.sf.Do("\x00base/"+name, func() (any, error) { return s.baseURL(ctx, name) })
	if err != nil {
		return nil, err
	}
	base := v.(string)
	b, err := s.f.Get(ctx, base, rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && name == s.db.Name {
		s.mu.Lock()
		s.base = ""
		s.mu.Unlock()
	}
	return b, err
}

// clientOps implements sumdb.ClientOps.
type clientOps struct {
	s   *sumDB
	ctx context.Context
}

func (o *clientOps) ReadRemote(path string) ([]byte, error) {
	rel := strings.TrimPrefix(path, "/")
	b, err := o.s.raw(o.ctx, o.s.db.Name, rel)
	if strings.HasPrefix(rel, "lookup/") {
		o.s.noteNotFound(rel, err)
	}
	return b, err
}

func (o *clientOps) file(name string) string {
	return filepath.Join(o.s.f.SumDBDir, filepath.FromSlash(name))
}

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.s.db.Key), nil
	}
	if o.s.f.SumDBDir == "" {
		o.s.mu.Lock()
		defer o.s.mu.Unlock()
		return o.s.mem["config/"+file], nil
	}
	b, err := os.ReadFile(o.file("config/" + file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

var configMu sync.Mutex // serialises read-compare-write of on-disk config

func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	if o.s.f.SumDBDir == "" {
		o.s.mu.Lock()
		defer o.s.mu.Unlock()
		if !bytes.Equal(o.s.mem["config/"+file], old) {
			return sumdb.ErrWriteConflict
		}
		o.s.mem["config/"+file] = new
		return nil
	}
	configMu.Lock()
	defer configMu.Unlock()
	p := o.file("config/" + file)
	cur, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, new, 0o644)
}

func (o *clientOps) ReadCache(file string) ([]byte, error) {
	return o.s.cacheGet(o.ctx, file)
}

func (o *clientOps) WriteCache(file string, data []byte) {
	o.s.cachePut(o.ctx, file, data)
}

func (o *clientOps) Log(msg string) { o.s.f.log().Debug("sumdb", "msg", msg) }

func (o *clientOps) SecurityError(msg string) {
	o.s.f.log().Error("checksum database security error", "db", o.s.db.Name, "msg", msg)
}
