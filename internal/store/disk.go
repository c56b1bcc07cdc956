package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// tempPrefix starts the name of every temp file the disk store writes. Keys
// cannot have an element starting with a dot, so it never names an object.
const tempPrefix = ".tmp-"

// Options configures a disk store. The zero value is an unlimited store that
// fsyncs every object.
type Options struct {
	// MaxSize caps the bytes stored. When a Commit takes the store over it,
	// the least recently used objects are evicted until the store is at
	// 90% of MaxSize. Bytes being written count too: a Writer reserves
	// room under the cap before it writes (evicting to make it), so what
	// is stored plus what is in flight never exceeds MaxSize, and a write
	// that finds no room fails with ErrFull. 0 means unlimited.
	MaxSize int64

	// Pinned, if set, reports keys that eviction must keep (Delete still
	// removes them). It is called during eviction only, with the store's
	// lock held, so it must be quick and must not call the store.
	Pinned func(key string) bool

	// NoSync skips the fsyncs in Commit. A crash may then leave an object
	// with wrong content (typically empty), so use it only where readers
	// verify what they read, e.g. content addressed by its hash.
	NoSync bool

	// Logger receives evictions and crash leftovers removed by Open;
	// nil discards.
	Logger *slog.Logger

	// CountBlocks counts each object as the disk space it takes: its size
	// rounded up to the filesystem's block size (statfs's f_bsize, read by
	// Open: 4 KiB on ext4, a page on tmpfs, 16 KiB on a Pi 5's tmpfs), in
	// MaxSize, reservations, Trim's target and Usage. Without it a store
	// of many small files (a proxy's .info and .mod files, the checksum
	// database's lookups) can take several times its cap. Directories are
	// not counted.
	CountBlocks bool

	// Lazy skips Open's walk of the directory, for a process that lives
	// for a few reads and writes (a GOCACHEPROG helper, which the go
	// command starts per command): the index of sizes and last uses is
	// built the first time it is needed, by Usage, Trim, Walk, LoadIndex
	// or a Commit under MaxSize. Crash leftovers are removed then too.
	// Because the order of uses in memory dies with such a process, a lazy
	// store also records uses on disk: a use (Get, GetFile, ReadSmall,
	// Touch) sets the file's access time when its last recorded use is
	// over an hour old (at most one small write per object an hour; the
	// modification time stays the time the object was stored).
	Lazy bool
}

// Disk is the directory-backed Store. Each object is one regular file at
// its key's path under the directory, so a warm read is an open(2) and the
// file can be sent with sendfile(2).
//
// Sizes and last-use times are kept in memory: Open walks the directory to
// index them (last use starting from the file's mtime or atime, whichever is
// later) and reads update them in memory only, so reads never write to the
// disk (an SD card). A store opened with Options.Lazy builds the index on
// first need instead and marks uses on disk (see Options.Lazy). Several
// processes may share a directory (each go command starts its own
// GOCACHEPROG helper): writes stay atomic, a process notices objects other
// processes wrote when it reads them, and eviction in one process shows up
// as misses in the others.
type Disk struct {
	dir string
	opt Options
	log *slog.Logger
	fs  atomicfile.FS // fsync, rename, directory fsync (a seam for tests)

	mu       sync.RWMutex
	loaded   bool // the index reflects the directory; until then (Lazy) it is empty
	index    map[string]*entry
	bytes    int64
	reserved int64 // bytes reserved by writers in flight (capped stores only)

	maxSize atomic.Int64 // opt.MaxSize, or what SetMaxSize set
	block   int64        // the unit room counts in: 1, or the block size (CountBlocks)

	clock atomic.Int64 // last use time handed out, unix nanoseconds

	evictMu      sync.Mutex // one eviction at a time
	evictions    atomic.Int64
	evictedBytes atomic.Int64
}

type entry struct {
	size    int64
	mtime   int64        // unix nanoseconds, when stored
	lastUse atomic.Int64 // unix nanoseconds
}

var _ Trimmer = (*Disk)(nil)

// Open opens (creating it if needed) the disk store in dir. It indexes the
// objects there, removes temp files left by writers that crashed (a temp
// file still being written by another live process is left alone) and, if
// the directory holds more than opt.MaxSize, evicts down to the cap.
func Open(dir string, opt Options) (*Disk, error) {
	if opt.MaxSize < 0 {
		return nil, fmt.Errorf("store: negative maximum size %d", opt.MaxSize)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	d := &Disk{dir: abs, opt: opt, log: opt.Logger, index: make(map[string]*entry), block: 1}
	if opt.CountBlocks {
		var st unix.Statfs_t
		if err := unix.Statfs(abs, &st); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		if st.Bsize > 1 {
			d.block = int64(st.Bsize)
		}
	}
	d.maxSize.Store(opt.MaxSize)
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if opt.Lazy {
		return d, nil
	}
	if err := d.LoadIndex(); err != nil {
		return nil, err
	}
	d.maybeEvict()
	return d, nil
}

// LoadIndex builds the index of sizes and last uses if it is not built yet:
// Open does it for stores that are not Lazy; for lazy ones Usage, Trim,
// Walk and capped Commits call it. Call it to see the walk's error (Usage
// can only log it).
func (d *Disk) LoadIndex() error {
	d.mu.RLock()
	loaded := d.loaded
	d.mu.RUnlock()
	if loaded {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loaded {
		return nil
	}
	if err := d.load(); err != nil {
		clear(d.index)
		d.bytes = 0
		return fmt.Errorf("store: indexing %s: %w", d.dir, err)
	}
	d.loaded = true
	return nil
}

// Dir returns the store's directory, as an absolute path.
func (d *Disk) Dir() string { return d.dir }

// Close releases the store. The disk store holds no resources, so it only
// exists to satisfy callers that close every store.
func (d *Disk) Close() error { return nil }

// load walks the directory into the index; d.mu must be held.
func (d *Disk) load() error {
	return filepath.WalkDir(d.dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile by another process
			}
			return err
		}
		if p == d.dir {
			return nil
		}
		name := de.Name()
		if de.IsDir() {
			if name[0] == '.' {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, tempPrefix) {
			d.removeStaleTemp(p)
			return nil
		}
		if !de.Type().IsRegular() || name[0] == '.' {
			return nil
		}
		rel, err := filepath.Rel(d.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if CheckKey(key) != nil {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		e := newEntry(statOf(fi))
		d.index[key] = e
		d.bytes += d.Room(e.size)
		if lu := e.lastUse.Load(); lu > d.clock.Load() {
			d.clock.Store(lu) // later uses rank after every loaded one
		}
		return nil
	})
}

// fileStat is what the index needs to know of an object's file.
type fileStat struct {
	size, mtime, atime int64 // times in unix nanoseconds
	dev, ino           uint64
}

func statOf(fi fs.FileInfo) fileStat {
	s := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.atime = st.Atim.Nano()
		s.dev, s.ino = uint64(st.Dev), uint64(st.Ino)
	}
	return s
}

func statOfUnix(st *unix.Stat_t) fileStat {
	return fileStat{size: st.Size, mtime: st.Mtim.Nano(), atime: st.Atim.Nano(), dev: uint64(st.Dev), ino: uint64(st.Ino)}
}

func (s fileStat) sameFile(o fileStat) bool { return s.dev == o.dev && s.ino == o.ino }

// lastUse is the file's last recorded use: the later of its times.
func (s fileStat) lastUse() int64 { return max(s.mtime, s.atime) }

func newEntry(s fileStat) *entry {
	e := &entry{size: s.size, mtime: s.mtime}
	e.lastUse.Store(s.lastUse())
	return e
}

// Room is what an object of size bytes counts for in the store's size: its
// size, or with CountBlocks the blocks it takes.
func (d *Disk) Room(size int64) int64 {
	if d.block <= 1 {
		return size
	}
	return (size + d.block - 1) / d.block * d.block
}

// removeStaleTemp removes a temp file unless a live writer holds its lock.
func (d *Disk) removeStaleTemp(p string) {
	f, err := os.Open(p)
	if err != nil {
		return
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return // a live writer in another process
	}
	if err := os.Remove(p); err == nil {
		d.log.Info("store: removed leftover temp file", "path", p)
	}
}

// path checks key and returns its file name.
func (d *Disk) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return d.dir + string(filepath.Separator) + filepath.FromSlash(key), nil
}

func notExist(key string) error {
	return &fs.PathError{Op: "get", Path: key, Err: fs.ErrNotExist}
}

// isMiss reports whether an open/stat error means "no such object".
func isMiss(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get implements Store. The Object's Body is an *os.File.
func (d *Disk) Get(ctx context.Context, key string) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	p, err := d.path(key)
	if err != nil {
		return Object{}, err
	}
	// O_NOFOLLOW: the store never makes symlinks, so one in an object's
	// place is not an object.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if isMiss(err) || errors.Is(err, syscall.ELOOP) {
			d.forget(key, p)
			return Object{}, notExist(key)
		}
		return Object{}, fmt.Errorf("store: %w", err)
	}
	return d.opened(key, p, f)
}

// opened turns an open object file into an Object and records the use:
// a file that is not regular (a planted device or directory) is a miss.
func (d *Disk) opened(key, p string, f *os.File) (Object, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return Object{}, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return Object{}, notExist(key)
	}
	d.touch(key, p, statOf(fi))
	return Object{Body: f, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// now returns the current time in unix nanoseconds, strictly increasing
// across calls so that uses in quick succession keep their order even with
// a coarse clock.
func (d *Disk) now() int64 {
	n := time.Now().UnixNano()
	for {
		p := d.clock.Load()
		if n <= p {
			n = p + 1
		}
		if d.clock.CompareAndSwap(p, n) {
			return n
		}
	}
}

// markInterval is how stale a lazy store lets a file's last recorded use
// get on disk before a read refreshes it.
const markInterval = time.Hour

// touch records a use of key, whose file at p was read as st. A key missing
// from the index (written by another process) is added if the file at p is
// still the one read. A lazy store also marks the use on disk.
func (d *Disk) touch(key, p string, st fileStat) {
	if d.opt.Lazy {
		if now := time.Now().UnixNano(); now-st.lastUse() > int64(markInterval) {
			// Set the access time only: the modification time is when
			// the object was stored. A failure only costs eviction order.
			ts := []unix.Timespec{unix.NsecToTimespec(now), {Nsec: unix.UTIME_OMIT}}
			unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	d.mu.RLock()
	e, loaded := d.index[key], d.loaded
	d.mu.RUnlock()
	if !loaded {
		return // a lazy store's index is built from the disk when needed
	}
	now := d.now()
	if e != nil && e.size == st.size && e.mtime == st.mtime {
		e.lastUse.Store(now)
		return
	}
	// Not indexed, or replaced by another process since: index the file
	// read, if it is still the one at p.
	d.mu.Lock()
	defer d.mu.Unlock()
	e = d.index[key]
	if e != nil && e.size == st.size && e.mtime == st.mtime {
		e.lastUse.Store(now)
		return
	}
	if cur, err := os.Lstat(p); err != nil || !st.sameFile(statOf(cur)) {
		if e != nil {
			e.lastUse.Store(now)
		}
		return
	}
	if e != nil {
		d.bytes -= d.Room(e.size)
	}
	e = newEntry(st)
	e.lastUse.Store(now)
	d.index[key] = e
	d.bytes += d.Room(e.size)
}

// forget drops key from the index if its file is gone (deleted by another
// process).
func (d *Disk) forget(key, p string) {
	d.mu.RLock()
	e := d.index[key]
	d.mu.RUnlock()
	if e == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Lstat(p); !isMiss(err) {
		return
	}
	if e := d.index[key]; e != nil {
		delete(d.index, key)
		d.bytes -= d.Room(e.size)
	}
}

// Stat implements Store.
func (d *Disk) Stat(ctx context.Context, key string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if isMiss(err) {
			return Info{}, notExist(key)
		}
		return Info{}, fmt.Errorf("store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, notExist(key)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Put implements Store.
func (d *Disk) Put(ctx context.Context, key string, r io.Reader) error {
	w, err := d.Create(ctx, key)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Commit()
}

// Create implements Store. The Writer also has a Name method returning the
// temp file's path (valid until Commit or Abort), for checks that need a
// file name, such as golang.org/x/mod/zip.CheckZip.
func (d *Disk) Create(ctx context.Context, key string) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(p)
	for attempt := 0; ; attempt++ {
		f, err := d.createTemp(dir)
		if err == nil {
			return &diskWriter{d: d, ctx: ctx, key: key, final: p, f: f}, nil
		}
		// A concurrent eviction may remove an empty parent directory
		// between MkdirAll and CreateTemp, and a concurrent Open in another
		// process may remove a temp file before we lock it: try again.
		if attempt >= 8 || !(isMiss(err) || errors.Is(err, errUnlinked)) {
			return nil, fmt.Errorf("store: creating %s: %w", key, err)
		}
	}
}

var errUnlinked = errors.New("temp file removed before it was locked")

func (d *Disk) createTemp(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return nil, err
	}
	// The lock tells Open in other processes that this temp file is live;
	// the kernel drops it when we die, so a crash leaves a removable file.
	fd := int(f.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink == 0 {
		f.Close()
		return nil, errUnlinked
	}
	return f, nil
}

type diskWriter struct {
	d        *Disk
	ctx      context.Context
	key      string
	final    string
	f        *os.File
	size     atomic.Int64
	err      error       // sticky write error
	done     atomic.Bool // after Commit or Abort; read by concurrent ReadAt
	reserved int64       // bytes reserved under the store's cap (Write's goroutine)
	held     int64       // the room (Disk.Room) of that the store counts in d.reserved; under d.mu
}

func (w *diskWriter) Write(b []byte) (int, error) {
	if w.done.Load() {
		return 0, errors.New("store: write after Commit or Abort")
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return 0, err
	}
	size := w.size.Load()
	if need := size + int64(len(b)); need > w.reserved {
		if err := w.reserve(need); err != nil {
			w.err = err
			return 0, err
		}
	}
	n, err := w.f.Write(b)
	w.size.Store(size + int64(n))
	if err != nil {
		w.err = fmt.Errorf("store: writing %s: %w", w.key, err)
	}
	return n, w.err
}

func (w *diskWriter) ReadAt(b []byte, off int64) (int, error) {
	if w.done.Load() {
		return 0, errors.New("store: read after Commit or Abort")
	}
	return w.f.ReadAt(b, off)
}

func (w *diskWriter) Size() int64 { return w.size.Load() }

// Name returns the temp file's path, valid until Commit or Abort.
func (w *diskWriter) Name() string { return w.f.Name() }

func (w *diskWriter) Abort() error {
	if w.done.Swap(true) {
		return nil
	}
	w.f.Close()
	err := os.Remove(w.f.Name())
	// Give the room back only once the bytes are gone from the disk.
	w.d.mu.Lock()
	w.d.reserved -= w.held
	w.held = 0
	w.d.mu.Unlock()
	return err
}

func (w *diskWriter) Commit() (err error) {
	if w.done.Load() {
		return errors.New("store: Commit after Commit or Abort")
	}
	defer func() {
		if err != nil {
			w.Abort()
		}
	}()
	if w.err != nil {
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if err := w.f.Chmod(0o644); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !w.d.opt.NoSync {
		if err := w.d.fs.Fsync(w.f); err != nil {
			return fmt.Errorf("store: fsync %s: %w", w.key, err)
		}
	}
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d := w.d
	d.mu.Lock()
	// Renaming while still holding the temp file's lock keeps another
	// process's Open from removing it first.
	err = d.fs.Rename(w.f.Name(), w.final)
	if err == nil {
		// The object's bytes now count as stored: release the reservation.
		d.reserved -= w.held
		w.held = 0
	}
	if err == nil && d.loaded {
		e := newEntry(statOf(fi))
		e.lastUse.Store(d.now())
		if old := d.index[w.key]; old != nil {
			d.bytes -= d.Room(old.size)
		}
		d.index[w.key] = e
		d.bytes += d.Room(e.size)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	w.done.Store(true)
	w.f.Close()
	if !d.opt.NoSync {
		if err := d.fs.SyncDir(filepath.Dir(w.final)); err != nil {
			return fmt.Errorf("store: %s stored but maybe not durable: %w", w.key, err)
		}
	}
	d.maybeEvict()
	return nil
}

// Delete implements Store.
func (d *Disk) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	d.mu.Lock()
	err = d.removeLocked(key, p)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	d.removeEmptyDirs(filepath.Dir(p))
	return nil
}

// removeLocked removes key's file and index entry; d.mu must be held.
func (d *Disk) removeLocked(key, p string) error {
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil // not an object
	}
	if err := os.Remove(p); err != nil && !isMiss(err) {
		return err
	}
	if e := d.index[key]; e != nil {
		delete(d.index, key)
		d.bytes -= d.Room(e.size)
	}
	return nil
}

// removeEmptyDirs removes dir and its parents up to the store's root while
// they are empty. A concurrent Create recreates what it needs.
func (d *Disk) removeEmptyDirs(dir string) {
	for len(dir) > len(d.dir) && strings.HasPrefix(dir, d.dir) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// Usage implements Trimmer. A lazy store builds its index first; if that
// fails, the error is logged and Usage reports what it knows.
func (d *Disk) Usage() Usage {
	if err := d.LoadIndex(); err != nil {
		d.log.Warn("store: usage", "err", err)
	}
	d.mu.RLock()
	u := Usage{Bytes: d.bytes, Objects: int64(len(d.index)), MaxSize: d.maxSize.Load()}
	d.mu.RUnlock()
	u.Evictions = d.evictions.Load()
	u.EvictedBytes = d.evictedBytes.Load()
	return u
}

func (d *Disk) maybeEvict() {
	max := d.maxSize.Load()
	if max == 0 {
		return
	}
	if err := d.LoadIndex(); err != nil {
		d.log.Warn("store: eviction", "err", err)
		return
	}
	d.mu.RLock()
	over := d.bytes > max
	d.mu.RUnlock()
	if over {
		if err := d.Trim(context.Background(), max-max/10); err != nil {
			d.log.Warn("store: eviction failed", "err", err)
		}
	}
}

// Trim implements Trimmer: it evicts least-recently-used objects that are
// not pinned until the store holds at most target bytes.
func (d *Disk) Trim(ctx context.Context, target int64) error {
	if err := d.LoadIndex(); err != nil {
		return err
	}
	d.evictMu.Lock()
	defer d.evictMu.Unlock()
	// Objects used while a pass runs are spared, so a pass may fall short
	// of the target: take a fresh look, a few times at most.
	for range 3 {
		if done, err := d.trimPass(ctx, target); done || err != nil {
			return err
		}
	}
	return nil
}

// trimPass evicts in least-recently-used order from one snapshot of the
// index and reports whether the store is now at or under target.
func (d *Disk) trimPass(ctx context.Context, target int64) (done bool, err error) {
	type victim struct {
		key     string
		e       *entry
		lastUse int64
	}
	var vs []victim
	d.mu.RLock()
	over := d.bytes - target
	if over > 0 {
		vs = make([]victim, 0, len(d.index))
		for k, e := range d.index {
			vs = append(vs, victim{k, e, e.lastUse.Load()})
		}
	}
	d.mu.RUnlock()
	if over <= 0 {
		return true, nil
	}
	slices.SortFunc(vs, func(a, b victim) int {
		switch {
		case a.lastUse < b.lastUse:
			return -1
		case a.lastUse > b.lastUse:
			return 1
		}
		return strings.Compare(a.key, b.key)
	})

	var n, freed int64
	dirs := make(map[string]bool)
	defer func() {
		for dir := range dirs {
			d.removeEmptyDirs(dir)
		}
		if n > 0 {
			d.evictions.Add(n)
			d.evictedBytes.Add(freed)
			d.log.Info("store: evicted", "objects", n, "bytes", freed, "target", target)
		}
	}()
	// Evict in batches so readers and writers are not held up for long.
	const batch = 64
	for i := 0; i < len(vs); {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		d.mu.Lock()
		for end := min(i+batch, len(vs)); i < end; i++ {
			if d.bytes <= target {
				d.mu.Unlock()
				return true, nil
			}
			v := vs[i]
			if d.index[v.key] != v.e || v.e.lastUse.Load() != v.lastUse {
				continue // replaced or used since the snapshot
			}
			if d.opt.Pinned != nil && d.opt.Pinned(v.key) {
				continue
			}
			p := d.dir + string(filepath.Separator) + filepath.FromSlash(v.key)
			if err := d.removeLocked(v.key, p); err != nil {
				d.mu.Unlock()
				return false, fmt.Errorf("store: evicting %s: %w", v.key, err)
			}
			n++
			freed += d.Room(v.e.size)
			dirs[filepath.Dir(p)] = true
		}
		d.mu.Unlock()
	}
	// Nothing more to evict in this pass; another pass helps only if
	// something was skipped for being used meanwhile and this one made
	// progress.
	return n == 0, nil
}

// Walk calls fn for every object whose key starts with prefix, in key
// order, as the in-memory index knows them. Stopping early: return an error
// from fn, which Walk returns.
func (d *Disk) Walk(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := d.LoadIndex(); err != nil {
		return err
	}
	var infos []Info
	d.mu.RLock()
	for k, e := range d.index {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, Info{Key: k, Size: e.size, ModTime: time.Unix(0, e.mtime)})
		}
	}
	d.mu.RUnlock()
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}
