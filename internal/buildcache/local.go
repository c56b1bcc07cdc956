package buildcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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

// Entry is what an ActionID maps to.
type Entry struct {
	OutputID ID
	Size     int64
	Time     time.Time // when it was put
}

// Local is the local tier: a directory holding objects named by their
// OutputID (o/xx/<hex>, no file extension, so the path can be handed to the
// go command as DiskPath) and action entries (a/xx/<hex>, one line
// "v1 <outputid> <size> <unixnano>"). Several helpers may share it: every
// file appears by rename.
//
// Files are not fsynced: like the go command's own GOCACHE, the tier is
// disposable, and a file torn by a power cut is caught by the size check
// every hit makes (an empty or short object is a miss).
type Local struct {
	Dir string
}

// markInterval is how stale a file's mtime may get before a hit refreshes
// it; mtimes drive Trim's least-recently-used order.
const markInterval = time.Hour

// Init creates the directory layout.
func (l *Local) Init() error {
	for _, d := range []string{"o", "a", "tmp"} {
		if err := os.MkdirAll(filepath.Join(l.Dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// ObjectPath is where the object with OutputID out lives.
func (l *Local) ObjectPath(out ID) string {
	h := out.String()
	return filepath.Join(l.Dir, "o", h[:2], h)
}

func (l *Local) entryPath(action ID) string {
	h := action.String()
	return filepath.Join(l.Dir, "a", h[:2], h)
}

// Lookup returns the entry for action and the path of its object. A miss,
// including an entry whose object is gone or has the wrong size, is an
// error wrapping fs.ErrNotExist.
func (l *Local) Lookup(action ID) (Entry, string, error) {
	ep := l.entryPath(action)
	var buf [maxEntryLen + 1]byte
	data, err := readSmall(ep, buf[:])
	if err != nil {
		return Entry{}, "", err
	}
	e, err := parseEntry(data)
	if err == nil && len(data) > maxEntryLen {
		err = errors.New("entry too long")
	}
	if err != nil {
		os.Remove(ep)
		return Entry{}, "", fmt.Errorf("%w: %s: %v", fs.ErrNotExist, ep, err)
	}
	op := l.ObjectPath(e.OutputID)
	fi, err := os.Stat(op)
	if err != nil {
		return Entry{}, "", err
	}
	if fi.Size() != e.Size {
		return Entry{}, "", fmt.Errorf("%w: %s is %d bytes, entry says %d", fs.ErrNotExist, op, fi.Size(), e.Size)
	}
	now := time.Now()
	if now.Sub(fi.ModTime()) > markInterval {
		os.Chtimes(op, now, now)
		os.Chtimes(ep, now, now)
	}
	return e, op, nil
}

// maxEntryLen bounds an entry file: "v1 <64 hex> <size> <unixnano>\n" is
// at most 108 bytes.
const maxEntryLen = 128

// readSmall reads the file at name into buf with plain open, read and
// close system calls: os.ReadFile also stats the file, registers it with
// the poller and sets its flags, which is most of the cost of a local hit.
// A file that does not fit in buf is returned cut to len(buf).
func readSmall(name string, buf []byte) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	return buf[:n], nil
}

// Has reports whether an entry for action exists, without checking it.
func (l *Local) Has(action ID) bool {
	_, err := os.Stat(l.entryPath(action))
	return err == nil
}

func parseEntry(data []byte) (Entry, error) {
	f := strings.Fields(string(data))
	if len(f) != 4 || f[0] != "v1" {
		return Entry{}, errors.New("malformed entry")
	}
	out, err := ParseHexID(f[1])
	if err != nil {
		return Entry{}, err
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || size < 0 {
		return Entry{}, errors.New("malformed entry size")
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil || ns < 0 {
		return Entry{}, errors.New("malformed entry time")
	}
	return Entry{OutputID: out, Size: size, Time: time.Unix(0, ns)}, nil
}

func formatEntry(e Entry) []byte {
	return fmt.Appendf(nil, "v1 %s %d %d\n", e.OutputID, e.Size, e.Time.UnixNano())
}

// ObjectWriter receives an object's bytes in the local tier's temp
// directory; Commit checks them against the expected OutputID and size and
// renames them into place.
//
// If the tier's disk is full (or the directory unusable), the bytes go to
// an anonymous memory file instead (memfd), whose /proc path stays valid
// while the helper runs: the go command must get a DiskPath for every put,
// or its build fails.
type ObjectWriter struct {
	l    *Local
	f    *os.File
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

// NewObject starts writing an object. It fails only if neither the disk
// nor memory can take it.
func (l *Local) NewObject() (*ObjectWriter, error) {
	w := &ObjectWriter{l: l, h: sha256.New()}
	f, err := os.CreateTemp(filepath.Join(l.Dir, "tmp"), "obj-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = l.Init(); err == nil {
			f, err = os.CreateTemp(filepath.Join(l.Dir, "tmp"), "obj-*")
		}
	}
	if err != nil {
		w.Err = err
		if w.mem, err = memFile(); err != nil {
			return nil, fmt.Errorf("%v; and in memory: %v", w.Err, err)
		}
		return w, nil
	}
	w.f = f
	return w, nil
}

// InMemory reports whether the object went to memory (the disk failed).
func (w *ObjectWriter) InMemory() bool { return w.mem != nil }

func (w *ObjectWriter) Write(p []byte) (int, error) {
	if w.mem == nil {
		n, err := w.f.Write(p)
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

func (w *ObjectWriter) toMemory() error {
	m, err := memFile()
	if err != nil {
		return fmt.Errorf("%v; and in memory: %v", w.Err, err)
	}
	if _, err := io.Copy(m, io.NewSectionReader(w.f, 0, w.n)); err != nil {
		m.Close()
		return fmt.Errorf("%v; and moving to memory: %v", w.Err, err)
	}
	w.f.Close()
	os.Remove(w.f.Name())
	w.f = nil
	w.mem = m
	return nil
}

// ErrCorrupt marks bytes whose sha256 or length is not what their name
// promised.
var ErrCorrupt = errors.New("corrupt object")

// Commit verifies the bytes written and moves them to ObjectPath(out).
func (w *ObjectWriter) Commit(out ID, size int64) (string, error) {
	defer w.Abort()
	if w.n != size {
		return "", fmt.Errorf("%w: got %d bytes, want %d", ErrCorrupt, w.n, size)
	}
	var sum ID
	w.h.Sum(sum[:0])
	if sum != out {
		return "", fmt.Errorf("%w: sha256 %s, want %s", ErrCorrupt, sum, out)
	}
	if w.mem != nil {
		// Kept open (and so alive) until the helper exits.
		w.done = true
		return memPath(w.mem), nil
	}
	if err := w.f.Close(); err != nil {
		return "", err
	}
	p := w.l.ObjectPath(out)
	if err := renameMkdir(w.f.Name(), p); err != nil {
		return "", err
	}
	w.done = true
	return p, nil
}

// Abort discards an uncommitted object.
func (w *ObjectWriter) Abort() {
	if !w.done {
		w.done = true
		if w.f != nil {
			w.f.Close()
			os.Remove(w.f.Name())
		}
		if w.mem != nil {
			w.mem.Close()
		}
	}
}

func renameMkdir(from, to string) error {
	err := os.Rename(from, to)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		err = os.Rename(from, to)
	}
	return err
}

// PutEntry records that action produced e.
func (l *Local) PutEntry(action ID, e Entry) error {
	f, err := os.CreateTemp(filepath.Join(l.Dir, "tmp"), "ent-*")
	if err != nil {
		return err
	}
	_, err = f.Write(formatEntry(e))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameMkdir(f.Name(), l.entryPath(action))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Usage is how much a tier holds.
type Usage struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
	Entries int64 `json:"entries"`
}

// Usage walks the tier.
func (l *Local) Usage() (Usage, error) {
	var u Usage
	err := walkFiles(filepath.Join(l.Dir, "o"), func(_ string, fi fs.FileInfo) {
		u.Objects++
		u.Bytes += fi.Size()
	})
	if err != nil {
		return u, err
	}
	err = walkFiles(filepath.Join(l.Dir, "a"), func(string, fs.FileInfo) { u.Entries++ })
	return u, err
}

// TrimResult says what Trim removed.
type TrimResult struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
	Entries int64 `json:"entries"`
}

// Trim removes the least recently used objects until the tier holds at
// most maxSize bytes (0 empties it), then the entries whose objects are
// gone and temporary files older than a day.
func (l *Local) Trim(maxSize int64) (TrimResult, error) {
	var r TrimResult
	type obj struct {
		path string
		size int64
		mt   time.Time
	}
	var objs []obj
	var total int64
	err := walkFiles(filepath.Join(l.Dir, "o"), func(p string, fi fs.FileInfo) {
		objs = append(objs, obj{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
	})
	if err != nil {
		return r, err
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].mt.Before(objs[j].mt) })
	for _, o := range objs {
		if total <= maxSize && maxSize > 0 {
			break
		}
		if err := os.Remove(o.path); err == nil {
			total -= o.size
			r.Objects++
			r.Bytes += o.size
		}
	}
	if r.Objects > 0 {
		err = walkFiles(filepath.Join(l.Dir, "a"), func(p string, _ fs.FileInfo) {
			data, err := os.ReadFile(p)
			if err != nil {
				return
			}
			e, err := parseEntry(data)
			if err == nil {
				if _, err = os.Stat(l.ObjectPath(e.OutputID)); err == nil {
					return
				}
			}
			if os.Remove(p) == nil {
				r.Entries++
			}
		})
	}
	old := time.Now().Add(-24 * time.Hour)
	walkFiles(filepath.Join(l.Dir, "tmp"), func(p string, fi fs.FileInfo) {
		if fi.ModTime().Before(old) {
			os.Remove(p)
		}
	})
	return r, err
}

func walkFiles(root string, fn func(string, fs.FileInfo)) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				fn(p, fi)
			}
		}
		return nil
	})
	return err
}
