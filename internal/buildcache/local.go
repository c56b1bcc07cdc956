package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
)

// ID is an ActionID or an OutputID: 32 bytes (64 hex digits).
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID accepts exactly 32 bytes.
func ParseID(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return id, fmt.Errorf("ID is %d bytes, want %d", len(b), len(id))
	}
	copy(id[:], b)
	return id, nil
}

// ParseHexID accepts exactly 64 lower- or upper-case hex digits.
func ParseHexID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("ID %.80q is %d hex digits, want %d", s, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("ID %.80q is not hex", s)
	}
	return id, nil
}

// idKey is where an ID lives in a store, the one layout of the local tier
// and the server: kind/xx/<64 hex digits>, xx being the first two, so that
// no directory holds more than a 256th of them.
func idKey(kind byte, id ID) string {
	var b [2 + 3 + 2*len(id)]byte
	b[0], b[1] = kind, '/'
	hex.Encode(b[5:], id[:])
	b[2], b[3], b[4] = b[5], b[6], '/'
	return string(b[:])
}

// objectKey is where the object with OutputID out lives.
func objectKey(out ID) string { return idKey('o', out) }

// entryKey is where the entry of action a lives.
func entryKey(a ID) string { return idKey('a', a) }

// Entry is what an ActionID maps to.
type Entry struct {
	OutputID ID
	Size     int64
	Time     time.Time // when it was put
}

// Local is the local tier: a directory holding objects named by their
// OutputID (o/xx/<hex>, no file extension, so the path can be handed to the
// go command as DiskPath) and action entries (a/xx/<hex>, one line
// "v1 <outputid> <size> <unixnano>"), the same keys the server's store
// uses. It is a store.Disk opened lazily (the go command starts a helper
// per command, so opening it must not walk the directory; uses are marked
// on disk hourly, and the index is built only by Usage and Trim). Several
// helpers may share it: every file appears by rename.
//
// Files are not fsynced: like the go command's own GOCACHE, the tier is
// disposable, and a file torn by a power cut is caught by the size check
// every hit makes (an empty or short object is a miss).
type Local struct {
	Dir string

	once sync.Once
	st   *store.Disk
	err  error
}

// disk opens the tier's store once.
func (l *Local) disk() (*store.Disk, error) {
	l.once.Do(func() {
		l.st, l.err = store.Open(l.Dir, store.Options{Lazy: true, NoSync: true, CountBlocks: true})
	})
	return l.st, l.err
}

// Init opens the tier, creating its directory if needed.
func (l *Local) Init() error {
	_, err := l.disk()
	return err
}

// Lookup returns the entry for action and the path of its object. A miss,
// including an entry whose object is gone or has the wrong size, is an
// error wrapping fs.ErrNotExist. Both files count as used.
func (l *Local) Lookup(action ID) (Entry, string, error) {
	st, err := l.disk()
	if err != nil {
		return Entry{}, "", err
	}
	ctx := context.Background()
	ek := entryKey(action)
	var buf [maxEntryLen + 1]byte
	data, info, err := st.ReadSmall(ctx, ek, buf[:])
	if err != nil {
		return Entry{}, "", err
	}
	e, err := parseEntry(data)
	if err == nil && info.Size > maxEntryLen {
		err = errors.New("entry too long")
	}
	if err != nil {
		st.Delete(ctx, ek)
		return Entry{}, "", fmt.Errorf("%w: %s: %v", fs.ErrNotExist, ek, err)
	}
	ok := objectKey(e.OutputID)
	oi, err := st.Touch(ctx, ok)
	if err != nil {
		return Entry{}, "", err
	}
	if oi.Size != e.Size {
		return Entry{}, "", fmt.Errorf("%w: %s is %d bytes, entry says %d", fs.ErrNotExist, ok, oi.Size, e.Size)
	}
	p, err := st.Path(ok)
	return e, p, err
}

// Object returns the path of the object out if the tier holds it with
// size bytes (and counts it as used): a put of an object the tier already
// has need not write it again, as the go command's own cache does not. A
// torn file (a power cut) is the wrong size and gets rewritten.
func (l *Local) Object(out ID, size int64) (string, bool) {
	st, err := l.disk()
	if err != nil {
		return "", false
	}
	k := objectKey(out)
	oi, err := st.Touch(context.Background(), k)
	if err != nil || oi.Size != size {
		return "", false
	}
	p, err := st.Path(k)
	return p, err == nil
}

// maxEntryLen bounds an entry file: "v1 <64 hex> <size> <unixnano>\n" is
// at most 108 bytes.
const maxEntryLen = 128

// Has reports whether an entry for action exists, without checking it.
func (l *Local) Has(action ID) bool {
	st, err := l.disk()
	if err != nil {
		return false
	}
	_, err = st.Stat(context.Background(), entryKey(action))
	return err == nil
}

func parseEntry(data []byte) (Entry, error) {
	e, _, err := parseSignedEntry(data)
	return e, err
}

// parseSignedEntry parses an entry with its optional signature (the
// server's entries carry one when the writer signed).
func parseSignedEntry(data []byte) (Entry, []byte, error) {
	f := strings.Fields(string(data))
	if (len(f) != 4 && len(f) != 5) || f[0] != "v1" {
		return Entry{}, nil, errors.New("malformed entry")
	}
	out, err := ParseHexID(f[1])
	if err != nil {
		return Entry{}, nil, err
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return Entry{}, nil, errors.New("malformed entry size")
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || ns < 0 {
		return Entry{}, nil, errors.New("malformed entry time")
	}
	var sig []byte
	if len(f) == 5 {
		if sig, err = parseSig(f[4]); err != nil {
			return Entry{}, nil, err
		}
	}
	return Entry{OutputID: out, Size: size, Time: time.Unix(0, ns)}, sig, nil
}

func formatEntry(e Entry) []byte {
	return formatSignedEntry(e, nil)
}

func formatSignedEntry(e Entry, sig []byte) []byte {
	if sig == nil {
		return fmt.Appendf(nil, "v1 %s %d %d\n", e.OutputID, e.Size, e.Time.UnixNano())
	}
	return fmt.Appendf(nil, "v1 %s %d %d %s\n", e.OutputID, e.Size, e.Time.UnixNano(), base64.StdEncoding.EncodeToString(sig))
}

// ObjectWriter receives an object's bytes in the local tier (a store
// Writer: a temp file beside the object's place); Commit checks them
// against the OutputID and size they were promised and renames them into
// place.
//
// If the tier's disk is full (or the directory unusable), the bytes go to
// an anonymous memory file instead (memfd), whose /proc path stays valid
// while the helper runs: the go command must get a DiskPath for every put,
// or its build fails.
type ObjectWriter struct {
	l    *Local
	out  ID
	size int64
	w    store.Writer
	mem  *os.File // memory fallback, once the disk failed
	h    hashWriter
	n    int64
	done bool
	// Err is the disk error that caused the fallback to memory.
	Err error
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// NewObject starts writing the object out, which must be size bytes long.
// It fails only if neither the disk nor memory can take it.
func (l *Local) NewObject(out ID, size int64) (*ObjectWriter, error) {
	w := &ObjectWriter{l: l, out: out, size: size, h: sha256.New()}
	st, err := l.disk()
	if err == nil {
		w.w, err = st.Create(context.Background(), objectKey(out))
	}
	if err != nil {
		w.Err = err
		if w.mem, err = memFile(); err != nil {
			return nil, fmt.Errorf("%v; and in memory: %v", w.Err, err)
		}
	}
	return w, nil
}

// InMemory reports whether the object went to memory (the disk failed).
func (w *ObjectWriter) InMemory() bool { return w.mem != nil }

func (w *ObjectWriter) Write(p []byte) (int, error) {
	if w.mem == nil {
		n, err := w.w.Write(p)
		w.h.Write(p[:n])
		w.n += int64(n)
		if err == nil {
			return n, nil
		}
		// Move what the disk took to memory and go on there.
		w.Err = err
		if err := w.toMemory(); err != nil {
			return n, err
		}
		m, err := w.Write(p[n:])
		return n + m, err
	}
	n, err := w.mem.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// copyBufSize is the buffer ReadFrom reads into: as large as the batch
// stream's bufio.Reader, which then hands a big object's bytes straight
// from the socket (no copy through its own buffer), and 8 times fewer
// writes than io.Copy's 32 KiB.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// ReadFrom writes what r yields until EOF, through one pooled buffer.
func (w *ObjectWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			k, werr := w.Write(buf[:m])
			n += int64(k)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func (w *ObjectWriter) toMemory() error {
	m, err := memFile()
	if err != nil {
		return fmt.Errorf("%v; and in memory: %v", w.Err, err)
	}
	if _, err := io.Copy(m, io.NewSectionReader(w.w, 0, w.n)); err != nil {
		m.Close()
		return fmt.Errorf("%v; and moving to memory: %v", w.Err, err)
	}
	w.w.Abort()
	w.w = nil
	w.mem = m
	return nil
}

// ErrCorrupt marks bytes whose sha256 or length is not what their name
// promised.
var ErrCorrupt = errors.New("corrupt object")

// Commit verifies the bytes written and stores them under their OutputID;
// it returns the object's path.
func (w *ObjectWriter) Commit() (string, error) {
	defer w.Abort()
	if w.n != w.size {
		return "", fmt.Errorf("%w: got %d bytes, want %d", ErrCorrupt, w.n, w.size)
	}
	var sum ID
	w.h.Sum(sum[:0])
	if sum != w.out {
		return "", fmt.Errorf("%w: sha256 %s, want %s", ErrCorrupt, sum, w.out)
	}
	if w.mem != nil {
		// Kept open (and so alive) until the helper exits.
		w.done = true
		return memPath(w.mem), nil
	}
	if err := w.w.Commit(); err != nil {
		return "", err
	}
	w.done = true
	return w.l.st.Path(objectKey(w.out))
}

// Abort discards an uncommitted object.
func (w *ObjectWriter) Abort() {
	if !w.done {
		w.done = true
		if w.w != nil {
			w.w.Abort()
		}
		if w.mem != nil {
			w.mem.Close()
		}
	}
}

// PutEntry records that action produced e.
func (l *Local) PutEntry(action ID, e Entry) error {
	st, err := l.disk()
	if err != nil {
		return err
	}
	return st.Put(context.Background(), entryKey(action), bytes.NewReader(formatEntry(e)))
}

// exists reports whether the tier's directory exists: stats and trims of a
// tier never used report nothing rather than create it.
func (l *Local) exists() bool {
	_, err := os.Stat(l.Dir)
	return !errors.Is(err, fs.ErrNotExist)
}

// Usage walks the tier (its store's index) and reports what it holds:
// objects and entries alike count as objects. It has no cap.
func (l *Local) Usage() (store.Usage, error) {
	if !l.exists() {
		return store.Usage{}, nil
	}
	st, err := l.disk()
	if err != nil {
		return store.Usage{}, err
	}
	if err := st.LoadIndex(); err != nil {
		return store.Usage{}, err
	}
	return st.Usage(), nil
}

// TrimResult says what a trim removed.
type TrimResult struct {
	Objects int64 `json:"objects"` // store objects (files: objects, entries, manifests)
	Bytes   int64 `json:"bytes"`
}

// Trim evicts the least recently used objects and entries until the tier
// holds at most maxSize bytes (0 empties it), then removes the entries
// whose objects are gone and temporary files older than a day that
// versions of pitstop before the tier was a store left in tmp/.
func (l *Local) Trim(maxSize int64) (TrimResult, error) {
	var r TrimResult
	if !l.exists() {
		return r, nil
	}
	st, err := l.disk()
	if err != nil {
		return r, err
	}
	ctx := context.Background()
	if err := st.LoadIndex(); err != nil {
		return r, err
	}
	before := st.Usage()
	if err := st.Trim(ctx, maxSize); err != nil {
		return r, err
	}
	after := st.Usage()
	r.Objects, r.Bytes = after.Evictions-before.Evictions, after.EvictedBytes-before.EvictedBytes
	remove := func(in store.Info) {
		if st.Delete(ctx, in.Key) == nil {
			r.Objects++
			r.Bytes += st.Room(in.Size)
		}
	}
	if maxSize <= 0 {
		// Evicting down to 0 bytes can leave empty objects, which weigh
		// nothing (which ones depended on their order of use: the tier was
		// left with one 0-byte file now and then): 0 empties the tier.
		st.Walk(ctx, "", func(in store.Info) error {
			remove(in)
			return nil
		})
	}
	if r.Objects > 0 {
		err = st.Walk(ctx, "a/", func(in store.Info) error {
			// Read the file, not the object: a sweep is not a use.
			p, err := st.Path(in.Key)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil // gone meanwhile
			}
			if e, err := parseEntry(data); err == nil {
				if _, err := st.Stat(ctx, objectKey(e.OutputID)); err == nil {
					return nil
				}
			}
			remove(in)
			return nil
		})
	}
	old := time.Now().Add(-24 * time.Hour)
	st.Walk(ctx, "tmp/", func(in store.Info) error {
		if in.ModTime.Before(old) {
			remove(in)
		}
		return nil
	})
	return r, err
}
