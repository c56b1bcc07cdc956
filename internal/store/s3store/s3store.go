// Package s3store is a store.Store kept in an S3-compatible bucket, so that
// several pitstop replicas can share one set of module files and build
// outputs.
//
// An object is one S3 object named PREFIX/KEY. A Writer spools to a local
// temp file (so ReadAt works while it is written) and Commit uploads it in
// one upload, a multipart upload past PartSize; S3 makes an object visible only when its upload completes, so
// readers never see a partial object. Get opens one streaming GET; a Seek
// followed by a Read opens a ranged GET pinned to the ETag first read, so a
// reader keeps reading the version it opened or fails, never mixes two.
//
// Sizes and last uses are indexed in memory (listed at Open, updated by
// this process's reads and writes) to answer Usage and evict under MaxSize.
// Several processes may share a bucket: each notices the others' objects
// when it reads them.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
)

// DefaultPartSize is the size of one part of a multipart upload; objects
// larger than it are uploaded in parts.
const DefaultPartSize = 16 << 20

// Config says where the bucket is and how to reach it. Credentials never
// appear here: they come from the standard AWS environment variables
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the
// shared credentials and config files (AWS_SHARED_CREDENTIALS_FILE,
// AWS_CONFIG_FILE, AWS_PROFILE).
type Config struct {
	Bucket string
	Prefix string // key prefix inside the bucket, no leading or trailing slash

	// Endpoint is the server's URL, e.g. http://127.0.0.1:7070. Required
	// (there is no default public endpoint).
	Endpoint string
	// Region signs requests; "" means AWS_REGION, AWS_DEFAULT_REGION or
	// the profile's region in the config file, else us-east-1.
	Region string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT; most self-hosted servers want it. (An IP address
	// or localhost endpoint is always addressed path-style.)
	PathStyle bool
}

// ParseURL parses s3://BUCKET[/PREFIX] into a Config (endpoint, region and
// path style are set separately).
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("store URL %q: %v", raw, err)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("store URL %q: scheme must be s3 (s3://BUCKET/PREFIX)", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return Config{}, fmt.Errorf("store URL %q: want s3://BUCKET/PREFIX with a bucket name and nothing else", raw)
	}
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := store.CheckKey(prefix); err != nil {
			return Config{}, fmt.Errorf("store URL %q: prefix: %v", raw, err)
		}
	}
	return Config{Bucket: u.Host, Prefix: prefix}, nil
}

// Options tunes a store.
type Options struct {
	// MaxSize caps the bytes this process accounts for; past it, Commit
	// evicts the least recently used objects down to 90%. 0: unlimited.
	MaxSize int64
	// PartSize is the multipart part size; 0 means DefaultPartSize.
	PartSize int64
	// TempDir holds writers' spool files; "" means os.TempDir().
	TempDir string
	// Logger; nil discards.
	Logger *slog.Logger
	// Transport, if set, carries the HTTP requests (tests count them).
	Transport http.RoundTripper
	// OnEvict, if set, is called with each key eviction deletes (a local
	// tier drops its copy).
	OnEvict func(key string)
	// Fleet, if set, shares last uses and the gc lock between the
	// processes that use the bucket (internal/coord): eviction then orders
	// objects by their last use anywhere in the fleet, and one process at
	// a time evicts.
	Fleet Fleet
}

// Fleet is what the store needs from a coordinator (coord.Coordinator
// has these methods).
type Fleet interface {
	Touch(ctx context.Context, key string)
	LastUses(ctx context.Context, keys []string) []time.Time
	TryGC(ctx context.Context, ttl time.Duration) (release func(), ok bool)
}

// touchEvery bounds how often one process records a key's use in the
// fleet: last uses are for eviction order, minutes are fine.
const touchEvery = time.Minute

// ErrNoCredentials is returned by Open when no credentials were found.
var ErrNoCredentials = s3client.ErrNoCredentials

// ErrUnavailable wraps errors that mean the S3 server could not be reached
// (it is store.ErrUnavailable, which callers that do not link the S3
// client test for).
var ErrUnavailable = store.ErrUnavailable

// Store is the S3-backed store. It implements store.Trimmer.
type Store struct {
	c      *s3client.Client
	bucket string
	prefix string // "" or ending in "/"
	opt    Options
	log    *slog.Logger

	mu    sync.Mutex
	index map[string]*entry
	bytes int64
	clock int64 // logical use counter: larger is more recent

	evictMu      sync.Mutex
	evictions    atomic.Int64
	evictedBytes atomic.Int64

	Metrics Metrics
}

type entry struct {
	size    int64
	lastUse int64
	shared  time.Time // when this process last told the fleet of a use
}

// Open connects to the bucket, checks that it exists and that the
// credentials work, and indexes the objects under the prefix.
func Open(ctx context.Context, cfg Config, opt Options) (*Store, error) {
	creds, err := s3client.LoadCredentials(nil)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		if cfg.Region, err = s3client.LoadRegion(nil); err != nil {
			return nil, err
		}
	}
	return OpenWith(ctx, cfg, opt, creds)
}

// OpenWith is Open with explicit credentials (tests).
func OpenWith(ctx context.Context, cfg Config, opt Options, creds s3client.Credentials) (*Store, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("S3 endpoint not set: give the server's URL, e.g. http://127.0.0.1:7070")
	}
	c, err := s3client.New(s3client.Config{Endpoint: cfg.Endpoint, Region: cfg.Region, PathStyle: cfg.PathStyle,
		Credentials: creds, Transport: opt.Transport})
	if err != nil {
		return nil, err
	}
	if opt.PartSize == 0 {
		opt.PartSize = DefaultPartSize
	}
	if opt.TempDir == "" {
		opt.TempDir = os.TempDir()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{c: c, bucket: cfg.Bucket, opt: opt, log: log, index: map[string]*entry{}}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	if err := s.headBucket(ctx); err != nil {
		if s3client.IsNotFound(err) {
			return nil, fmt.Errorf("S3 bucket %q does not exist at %s: create it first", cfg.Bucket, cfg.Endpoint)
		}
		return nil, fmt.Errorf("S3 bucket %q at %s (region %s): %w", cfg.Bucket, cfg.Endpoint, c.Region(), err)
	}
	if err := s.load(ctx); err != nil {
		return nil, fmt.Errorf("S3 bucket %q at %s: listing %q: %w", cfg.Bucket, cfg.Endpoint, s.prefix, err)
	}
	return s, nil
}

func (s *Store) headBucket(ctx context.Context) error {
	done := s.Metrics.op("head_bucket")
	err := s.c.HeadBucket(ctx, s.bucket)
	done(err)
	if s3client.IsNotFound(err) {
		return err
	}
	return classify(err)
}

func (s *Store) load(ctx context.Context) error {
	done := s.Metrics.op("list")
	var err error
	defer func() { done(err) }()
	err = s.c.List(ctx, s.bucket, s.prefix, func(oi s3client.ObjectInfo) error {
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if store.CheckKey(key) != nil {
			return nil
		}
		s.mu.Lock()
		if e, ok := s.index[key]; !ok || e.size != oi.Size {
			s.setLocked(key, oi.Size, max(oi.LastModified.UnixNano(), s.lastUseOf(key)))
		}
		s.mu.Unlock()
		return nil
	})
	err = classify(err)
	return err
}

// setLocked records key's size and a use; lastUse orders uses: a time in
// nanoseconds from the listing, or the next tick of the logical clock.
func (s *Store) setLocked(key string, size, lastUse int64) {
	if e, ok := s.index[key]; ok {
		s.bytes += size - e.size
		e.size, e.lastUse = size, lastUse
	} else {
		s.index[key] = &entry{size: size, lastUse: lastUse}
		s.bytes += size
	}
	s.clock = max(s.clock, lastUse)
}

func (s *Store) lastUseOf(key string) int64 {
	if e, ok := s.index[key]; ok {
		return e.lastUse
	}
	return 0
}

// tickLocked returns the next use time: now in Unix nanoseconds, or one
// past the last if the clock is ahead, so uses always order.
func (s *Store) tickLocked() int64 {
	s.clock = max(s.clock+1, time.Now().UnixNano())
	return s.clock
}

// use records a use of key by this process; a read (share) is also told
// to the fleet. A write is not: the listing's LastModified says it.
func (s *Store) use(key string, size int64, share bool) {
	s.mu.Lock()
	s.setLocked(key, size, s.tickLocked())
	s.mu.Unlock()
	if share {
		s.share(key)
	}
}

// share records a use of key in the fleet, at most once a touchEvery.
func (s *Store) share(key string) {
	if s.opt.Fleet == nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	e, ok := s.index[key]
	due := ok && now.Sub(e.shared) >= touchEvery
	if due {
		e.shared = now
	}
	s.mu.Unlock()
	if due {
		s.opt.Fleet.Touch(context.Background(), key)
	}
}

// Touch records a use of key served from elsewhere (a local tier's hit),
// so the bucket's eviction order follows real use; it makes no request.
func (s *Store) Touch(key string) {
	s.mu.Lock()
	if e, ok := s.index[key]; ok {
		e.lastUse = s.tickLocked()
	}
	s.mu.Unlock()
	s.share(key)
}

func (s *Store) forget(key string) {
	s.mu.Lock()
	if e, ok := s.index[key]; ok {
		s.bytes -= e.size
		delete(s.index, key)
	}
	s.mu.Unlock()
}

func (s *Store) name(key string) (string, error) {
	if err := store.CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

func notExist(key string) error {
	return &fs.PathError{Op: "get", Path: key, Err: fs.ErrNotExist}
}

// classify wraps a client error: a missing object becomes fs.ErrNotExist,
// a connection failure ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var e *s3client.Error
	switch {
	case errors.As(err, &e) && e.StatusCode == http.StatusNotFound && e.Code != "NoSuchBucket":
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case s3client.IsUnreachable(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func missOr(key string, err error) error {
	err = classify(err)
	if errors.Is(err, fs.ErrNotExist) {
		return notExist(key)
	}
	return err
}

// Get implements store.Store: one GET whose body streams; a Seek then Read
// opens a ranged GET of the same version.
func (s *Store) Get(ctx context.Context, key string) (store.Object, error) {
	name, err := s.name(key)
	if err != nil {
		return store.Object{}, err
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := s.Metrics.op("get")
	rc, oi, err := s.c.Get(bctx, s.bucket, name, s3client.GetOptions{})
	done(err)
	if err != nil {
		cancel()
		err = missOr(key, err)
		if errors.Is(err, fs.ErrNotExist) {
			s.forget(key)
		}
		return store.Object{}, err
	}
	s.use(key, oi.Size, true)
	b := &body{s: s, name: name, etag: oi.ETag, size: oi.Size, rc: rc, ctx: bctx, cancel: cancel}
	return store.Object{Body: b, Size: oi.Size, ModTime: oi.LastModified}, nil
}

type body struct {
	s      *Store
	name   string
	etag   string
	size   int64
	off    int64 // where the next Read reads
	rc     io.ReadCloser
	rcOff  int64 // where rc's next byte is
	ctx    context.Context
	cancel context.CancelFunc
	closed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, os.ErrClosed
	}
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil || b.rcOff != b.off {
		if b.rc != nil {
			b.rc.Close()
			b.rc = nil
		}
		done := b.s.Metrics.op("get_range")
		rc, _, err := b.s.c.Get(b.ctx, b.s.bucket, b.name, s3client.GetOptions{Offset: b.off, IfMatch: b.etag})
		done(err)
		if err != nil {
			return 0, fmt.Errorf("reading %s from offset %d: %w", b.name, b.off, classify(err))
		}
		b.rc, b.rcOff = rc, b.off
	}
	n, err := b.rc.Read(p[:min(int64(len(p)), b.size-b.off)])
	b.off += int64(n)
	b.rcOff += int64(n)
	if err == io.EOF && b.off < b.size {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (b *body) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	default:
		return 0, errors.New("s3store: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("s3store: negative position")
	}
	b.off = abs
	return abs, nil
}

func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.rc != nil {
		b.rc.Close()
	}
	b.cancel()
	return nil
}

// Stat implements store.Store with a HEAD request.
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	name, err := s.name(key)
	if err != nil {
		return store.Info{}, err
	}
	done := s.Metrics.op("head")
	oi, err := s.c.Head(ctx, s.bucket, name)
	done(err)
	if err != nil {
		return store.Info{}, missOr(key, err)
	}
	return store.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Commit()
}

// Create implements store.Store: the object is spooled to a temp file and
// uploaded by Commit.
func (s *Store) Create(ctx context.Context, key string) (store.Writer, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.opt.TempDir, ".pitstop-s3-*")
	if err != nil {
		return nil, err
	}
	return &writer{s: s, ctx: ctx, key: key, name: name, f: f}, nil
}

type writer struct {
	s         *Store
	ctx       context.Context
	key, name string
	f         *os.File
	size      atomic.Int64
	err       error
	done      bool
	committed bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, os.ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.WriteAt(p, w.size.Load())
	w.size.Add(int64(n))
	if err != nil {
		w.err = err
		return n, err
	}
	if max := w.s.opt.MaxSize; max > 0 && w.size.Load() > max {
		w.err = fmt.Errorf("%s: %w (%d bytes)", w.key, store.ErrTooLarge, max)
		return n, w.err
	}
	return n, nil
}

func (w *writer) ReadAt(p []byte, off int64) (int, error) {
	if w.done {
		return 0, os.ErrClosed
	}
	if size := w.size.Load(); off+int64(len(p)) > size {
		if off >= size {
			return 0, io.EOF
		}
		n, err := w.f.ReadAt(p[:size-off], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return w.f.ReadAt(p, off)
}

func (w *writer) Size() int64 { return w.size.Load() }

// Name names the spool file holding what was written (modfetch.ZipWriter).
func (w *writer) Name() string { return w.f.Name() }

func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
	return nil
}

func (w *writer) Commit() error {
	if w.done {
		if w.committed {
			return errors.New("s3store: Commit called twice")
		}
		return errors.New("s3store: Commit after Abort")
	}
	defer w.Abort()
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	size := w.size.Load()
	done := w.s.Metrics.op("put")
	err := w.s.c.Put(w.ctx, w.s.bucket, w.name, w.f, size, s3client.PutOptions{PartSize: w.s.opt.PartSize})
	done(err)
	if err != nil {
		if cerr := w.ctx.Err(); cerr != nil {
			return cerr
		}
		return fmt.Errorf("uploading %s: %w", w.key, classify(err))
	}
	w.committed = true
	w.s.use(w.key, size, false)
	w.s.maybeEvict()
	return nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	done := s.Metrics.op("delete")
	err = s.c.Delete(ctx, s.bucket, name)
	done(err)
	if err := classify(err); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.forget(key)
	return nil
}

// Usage implements store.Trimmer: what this process has indexed.
func (s *Store) Usage() store.Usage {
	s.mu.Lock()
	u := store.Usage{Bytes: s.bytes, Objects: int64(len(s.index)), MaxSize: s.opt.MaxSize}
	s.mu.Unlock()
	u.Evictions = s.evictions.Load()
	u.EvictedBytes = s.evictedBytes.Load()
	return u
}

func (s *Store) maybeEvict() {
	max := s.opt.MaxSize
	if max == 0 {
		return
	}
	s.mu.Lock()
	over := s.bytes > max
	s.mu.Unlock()
	if over {
		// ErrGCBusy: another process is collecting the bucket.
		if err := s.Trim(context.Background(), max-max/10); err != nil && !errors.Is(err, store.ErrGCBusy) {
			s.log.Warn("s3 store: eviction failed", "err", err)
		}
	}
}

// Trim implements store.Trimmer: it deletes least recently used objects
// until at most target bytes are indexed. With a Fleet, it first takes the
// fleet's gc lock (store.ErrGCBusy if another process holds it), lists the
// bucket and orders objects by their last use anywhere in the fleet.
func (s *Store) Trim(ctx context.Context, target int64) error {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	if f := s.opt.Fleet; f != nil {
		release, ok := f.TryGC(ctx, 5*time.Minute)
		if !ok {
			return store.ErrGCBusy
		}
		defer release()
		// Take in what others stored, then order by uses fleet-wide.
		if err := s.load(ctx); err != nil {
			return err
		}
	}
	type victim struct {
		key string
		e   entry
	}
	s.mu.Lock()
	vs := make([]victim, 0, len(s.index))
	for k, e := range s.index {
		vs = append(vs, victim{k, *e})
	}
	bytes := s.bytes
	s.mu.Unlock()
	if f := s.opt.Fleet; f != nil {
		keys := make([]string, len(vs))
		for i, v := range vs {
			keys[i] = v.key
		}
		// Fleet uses are Unix times; so are the listing's LastModified
		// values this process starts from, so both order together.
		for i, t := range f.LastUses(ctx, keys) {
			if !t.IsZero() && t.UnixNano() > vs[i].e.lastUse {
				vs[i].e.lastUse = t.UnixNano()
			}
		}
	}
	slices.SortFunc(vs, func(a, b victim) int {
		if a.e.lastUse != b.e.lastUse {
			return int(min(max(a.e.lastUse-b.e.lastUse, -1), 1))
		}
		return strings.Compare(a.key, b.key)
	})
	for _, v := range vs {
		if bytes <= target {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.Delete(ctx, v.key); err != nil {
			return err
		}
		bytes -= v.e.size
		if s.opt.OnEvict != nil {
			s.opt.OnEvict(v.key)
		}
		s.evictions.Add(1)
		s.evictedBytes.Add(v.e.size)
	}
	return nil
}

// Metrics counts S3 requests by operation.
type Metrics struct {
	mu  sync.Mutex
	ops map[string]*OpStats
}

// OpStats are one operation's counters.
type OpStats struct {
	Requests int64
	Errors   int64
	Seconds  float64 // total latency
}

func (m *Metrics) op(name string) func(error) {
	start := time.Now()
	return func(err error) {
		d := time.Since(start).Seconds()
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.ops == nil {
			m.ops = map[string]*OpStats{}
		}
		o := m.ops[name]
		if o == nil {
			o = &OpStats{}
			m.ops[name] = o
		}
		o.Requests++
		o.Seconds += d
		if err != nil && !errors.Is(classify(err), fs.ErrNotExist) {
			o.Errors++
		}
	}
}

// Snapshot returns a copy of the counters by operation.
func (m *Metrics) Snapshot() map[string]OpStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]OpStats, len(m.ops))
	for k, v := range m.ops {
		out[k] = *v
	}
	return out
}

// Requests is the total number of S3 requests made.
func (m *Metrics) Requests() int64 {
	var n int64
	for _, o := range m.Snapshot() {
		n += o.Requests
	}
	return n
}
