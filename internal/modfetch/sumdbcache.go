package modfetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// SumDBCache keeps checksum-database answers that were verified: lookups
// the sumdb.Client checked (signed tree head, inclusion proof) and tiles
// checked against a signed tree head. Keys are "<name>/lookup/<M>@<V>" and
// "<name>/tile/...", as the request paths under /sumdb/. Nothing
// unverified is ever put. A proxy gives its store here so that one cache
// serves both pitstop's own verification and its clients.
type SumDBCache interface {
	// Get returns the data kept under key, or an error (fs.ErrNotExist
	// when there is none).
	Get(ctx context.Context, key string) ([]byte, error)
	// Put keeps data under key.
	Put(ctx context.Context, key string, data []byte) error
}

// maxSpare bounds the verified answers kept in memory when the SumDBCache
// (or, without one, memory alone) holds them.
const maxSpare = 4096

func (s *sumDB) cacheGet(ctx context.Context, file string) ([]byte, error) {
	if c := s.f.SumDBCache; c != nil {
		b, err := c.Get(ctx, file)
		if err == nil {
			return b, nil
		}
	} else if s.f.SumDBDir != "" {
		b, err := os.ReadFile(filepath.Join(s.f.SumDBDir, "cache", filepath.FromSlash(file)))
		if err == nil {
			return b, nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.spare[file]; ok {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

func (s *sumDB) cachePut(ctx context.Context, file string, data []byte) {
	var err error
	switch {
	case s.f.SumDBCache != nil:
		err = s.f.SumDBCache.Put(ctx, file, data)
	case s.f.SumDBDir != "":
		p := filepath.Join(s.f.SumDBDir, "cache", filepath.FromSlash(file))
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = atomicfile.WriteFile(p, data, 0o644)
		}
	default:
		err = errors.New("no cache")
	}
	if err == nil {
		return
	}
	if s.f.SumDBCache != nil || s.f.SumDBDir != "" {
		s.f.log().Warn("checksum database cache write failed; keeping the answer in memory", "key", file, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spare == nil || len(s.spare) >= maxSpare {
		s.spare = map[string][]byte{}
	}
	s.spare[file] = data
}

// noteNotFound remembers a not-found answer to a lookup (the sumdb.Client
// reports it in words only), so that the proxy can answer its clients 404.
func (s *sumDB) noteNotFound(rel string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		delete(s.nf, rel)
		return
	}
	if s.nf == nil || len(s.nf) >= maxSpare {
		s.nf = map[string]error{}
	}
	s.nf[rel] = err
}

func (s *sumDB) takeNotFound(rel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.nf[rel]
	delete(s.nf, rel)
	return err
}

// PrivateLookupError is a checksum-database lookup for a module the
// server's GOPRIVATE or GONOSUMDB matches: it is answered locally and
// never forwarded, so a board missing GOPRIVATE does not leak private
// module paths to the checksum database. It matches fs.ErrNotExist.
type PrivateLookupError struct{ Path string }

func (e *PrivateLookupError) Error() string {
	return fmt.Sprintf("not found: %s is private here (it matches GOPRIVATE/GONOSUMDB), so the checksum database is not asked about it; set GOPRIVATE on this machine to cover it (go env -w GOPRIVATE=%s) so that the go command does not ask either", e.Path, e.Path)
}

// Is makes the error a not-found answer.
func (e *PrivateLookupError) Is(target error) bool { return target == fs.ErrNotExist }

// PrivateLookup returns a *PrivateLookupError when path matches GOPRIVATE
// or GONOSUMDB, else nil.
func (f *Fetcher) PrivateLookup(path string) error {
	if f.init() != nil || !f.env.Private(path) && !module.MatchPrefixPatterns(f.env.Get("GONOSUMDB"), path) {
		return nil
	}
	return &PrivateLookupError{Path: path}
}

// errUnverifiable says no signed tree head covers a tile.
var errUnverifiable = errors.New("no signed tree head covers it")

// SumDB answers a request to the checksum database GOSUMDB selects (rel is
// "supported", "latest", "lookup/M@V" or "tile/..."), for a proxy's
// clients, from the same verified cache (SumDBCache) that pitstop's own
// verification (Verify) uses, so each answer is fetched from upstream once
// for both.
//
// verified reports that the answer was checked: a lookup by the
// sumdb.Client (the tree head's signature against GOSUMDB's verifier key
// and the record's inclusion proof), a tile against a signed tree head,
// "latest" by its signature. Verified lookups and tiles are in the cache
// when SumDB returns. An answer that cannot be checked (a data tile, a tile
// beyond every signed tree head at hand, "supported") comes back with
// verified false: serve it briefly, never keep it as immutable. An answer
// that fails its check is an error wrapping ErrSecurity. A lookup for a
// module GOPRIVATE/GONOSUMDB matches is a *PrivateLookupError and is not
// forwarded.
func (f *Fetcher) SumDB(ctx context.Context, name, rel string) (data []byte, verified bool, err error) {
	if err := f.init(); err != nil {
		return nil, false, err
	}
	s := f.sumdb
	if s.dbErr != nil {
		return nil, false, s.dbErr
	}
	if name != s.db.Name {
		return nil, false, &NotFoundError{What: "checksum database " + name + " (GOSUMDB selects " + s.db.Name + ")"}
	}
	switch {
	case rel == "latest":
		b, err := s.raw(ctx, name, rel)
		if err != nil {
			return nil, false, err
		}
		if _, err := s.openTree(b); err != nil {
			return nil, false, err
		}
		return b, true, nil
	case strings.HasPrefix(rel, "lookup/"):
		return s.serveLookup(ctx, name, rel)
	case strings.HasPrefix(rel, "tile/"):
		return s.serveTile(ctx, name, rel)
	}
	b, err := s.raw(ctx, name, rel)
	return b, false, err
}

func (s *sumDB) serveLookup(ctx context.Context, name, rel string) ([]byte, bool, error) {
	epath, evers, ok := strings.Cut(strings.TrimPrefix(rel, "lookup/"), "@")
	if !ok {
		return nil, false, fmt.Errorf("invalid checksum database lookup %q", rel)
	}
	path, err := module.UnescapePath(epath)
	if err != nil {
		return nil, false, err
	}
	vers, err := module.UnescapeVersion(evers)
	if err != nil {
		return nil, false, err
	}
	if err := s.f.PrivateLookup(path); err != nil {
		return nil, false, err
	}
	if _, err := s.lookupLines(ctx, path, vers); err != nil {
		if nf := s.takeNotFound(rel); nf != nil {
			return nil, false, &NotFoundError{What: path + "@" + vers + " in checksum database " + name, Err: nf}
		}
		return nil, false, err
	}
	b, err := s.cacheGet(ctx, name+"/"+rel)
	if err != nil {
		return nil, false, fmt.Errorf("checksum database %s: verified lookup %s not kept: %v", name, rel, err)
	}
	return b, true, nil
}

// openTree checks a signed tree head against GOSUMDB's verifier key.
func (s *sumDB) openTree(msg []byte) (tlog.Tree, error) {
	v, err := note.NewVerifier(s.db.Key)
	if err != nil {
		return tlog.Tree{}, err
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%w: checksum database %s: tree head: %v", ErrSecurity, s.db.Name, err)
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%w: checksum database %s: tree head: %v", ErrSecurity, s.db.Name, err)
	}
	return t, nil
}

// signedTree returns a signed tree head of at least need records: the
// latest one the sumdb.Client verified, else upstream's latest.
func (s *sumDB) signedTree(ctx context.Context, name string, need int64) (tlog.Tree, error) {
	ops := &clientOps{s: s, ctx: ctx}
	if b, err := ops.ReadConfig(name + "/latest"); err == nil && len(b) > 0 {
		if t, err := s.openTree(b); err == nil && t.N >= need {
			return t, nil
		}
	}
	b, err := s.raw(ctx, name, "latest")
	if err != nil {
		return tlog.Tree{}, err
	}
	t, err := s.openTree(b)
	if err != nil {
		return tlog.Tree{}, err
	}
	if t.N < need {
		return tlog.Tree{}, errUnverifiable
	}
	return t, nil
}

func (s *sumDB) serveTile(ctx context.Context, name, rel string) ([]byte, bool, error) {
	t, err := tlog.ParseTilePath(rel)
	if err != nil {
		return nil, false, err
	}
	if b, err := s.cacheGet(ctx, name+"/"+rel); err == nil {
		return b, true, nil
	}
	if t.L >= 0 {
		full := t
		full.W = 1 << uint(t.H)
		if full != t {
			if b, err := s.cacheGet(ctx, name+"/"+full.Path()); err == nil && len(b) >= t.W*tlog.HashSize {
				return b[:t.W*tlog.HashSize], true, nil
			}
		}
	}
	data, err := s.raw(ctx, name, rel)
	if err != nil || t.L < 0 {
		// A data tile holds records, which the go command never asks for;
		// it stays unverified.
		return data, false, err
	}
	if len(data) != t.W*tlog.HashSize {
		return nil, false, fmt.Errorf("%w: checksum database %s: tile %s has %d bytes, want %d", ErrSecurity, name, rel, len(data), t.W*tlog.HashSize)
	}
	need := (t.N<<uint(t.H) + int64(t.W)) << uint(t.L*t.H)
	tree, err := s.signedTree(ctx, name, need)
	if errors.Is(err, errUnverifiable) {
		return data, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	tv := &tileVerifier{s: s, ctx: ctx, name: name, want: t, data: data, keep: map[tlog.Tile]bool{}}
	idx := make([]int64, t.W)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(t.L*t.H, t.N<<uint(t.H)+int64(i))
	}
	hashes, err := tlog.TileHashReader(tree, tv).ReadHashes(idx)
	if err != nil {
		s.f.log().Error("checksum database tile failed verification", "db", name, "tile", rel, "err", err)
		return nil, false, fmt.Errorf("%w: checksum database %s: tile %s: %v", ErrSecurity, name, rel, err)
	}
	for i, h := range hashes {
		if !bytes.Equal(h[:], data[i*tlog.HashSize:(i+1)*tlog.HashSize]) {
			s.f.log().Error("checksum database tile does not match the signed tree head", "db", name, "tile", rel, "tree", tree.N)
			return nil, false, fmt.Errorf("%w: checksum database %s: tile %s does not match the signed tree head of size %d", ErrSecurity, name, rel, tree.N)
		}
	}
	if !tv.saved[t] {
		s.cachePut(ctx, name+"/"+rel, data)
	}
	return data, true, nil
}

// tileVerifier is the tlog.TileReader that checks a tile: the tile asked
// for is served from data, the others from the verified cache or upstream;
// the tiles tlog verified are kept.
type tileVerifier struct {
	s     *sumDB
	ctx   context.Context
	name  string
	want  tlog.Tile
	data  []byte
	keep  map[tlog.Tile]bool // read from upstream: keep once verified
	saved map[tlog.Tile]bool
}

func (r *tileVerifier) Height() int { return r.want.H }

func (r *tileVerifier) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t == r.want {
			out[i] = r.data
			r.keep[t] = true
			continue
		}
		if b, err := r.s.cacheGet(r.ctx, r.name+"/"+t.Path()); err == nil {
			out[i] = b
			continue
		}
		full := t
		full.W = 1 << uint(t.H)
		if full != t {
			if b, err := r.s.cacheGet(r.ctx, r.name+"/"+full.Path()); err == nil && len(b) >= t.W*tlog.HashSize {
				out[i] = b[:t.W*tlog.HashSize]
				continue
			}
		}
		b, err := r.s.raw(r.ctx, r.name, t.Path())
		if err != nil && full != t {
			if fb, ferr := r.s.raw(r.ctx, r.name, full.Path()); ferr == nil && len(fb) >= t.W*tlog.HashSize {
				b, err = fb[:t.W*tlog.HashSize], nil
			}
		}
		if err != nil {
			return nil, err
		}
		out[i] = b
		r.keep[t] = true
	}
	return out, nil
}

func (r *tileVerifier) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	if r.saved == nil {
		r.saved = map[tlog.Tile]bool{}
	}
	for i, t := range tiles {
		if r.keep[t] && !r.saved[t] {
			r.s.cachePut(r.ctx, r.name+"/"+t.Path(), data[i])
			r.saved[t] = true
		}
	}
}
