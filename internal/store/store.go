// Package store is pitstop's content store: named objects written
// atomically, read back as seekable files, with size accounting and
// least-recently-used eviction under a byte cap.
//
// The module proxy keeps module files and checksum-database tiles in it; the
// build cache keeps action entries and objects. The embedded backend is a
// directory (Open); other backends (Redis, S3) implement the same Store
// interface and must pass the conformance suite in
// internal/store/storetest.
//
// Keys are slash-separated relative paths such as
// "golang.org/x/text/@v/v0.3.0.zip". CheckKey says which keys are valid; a
// bad key is an error, never a file outside the store.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Store is a set of objects named by keys.
//
// A miss is reported as an error for which errors.Is(err, fs.ErrNotExist)
// holds. Readers never see a partly written object: a Put or a Writer's
// Commit replaces the whole object at once, and a reader that has an Object
// open keeps reading the version it opened.
//
// All methods are safe for concurrent use.
type Store interface {
	// Get opens the object named key. The caller must Close the Object.
	// Get counts as a use for least-recently-used eviction.
	Get(ctx context.Context, key string) (Object, error)

	// Stat returns the size and modification time of the object named key
	// without opening it. It does not count as a use.
	Stat(ctx context.Context, key string) (Info, error)

	// Put stores everything read from r under key, replacing any object
	// there. If reading r fails or ctx is cancelled, nothing changes.
	Put(ctx context.Context, key string, r io.Reader) error

	// Create starts writing an object named key. Nothing is visible under
	// key until the Writer's Commit succeeds; Abort (or a crash) leaves
	// nothing behind. Use it to stream a body, verify it, then keep it.
	Create(ctx context.Context, key string) (Writer, error)

	// Delete removes the object named key. Deleting a missing key is not an
	// error. Readers that have the object open may keep reading it.
	Delete(ctx context.Context, key string) error
}

// Trimmer is a Store that accounts its size and evicts the least recently
// used objects. The disk store (*Disk) is one.
type Trimmer interface {
	Store

	// Usage reports the store's current size and eviction counters.
	Usage() Usage

	// Trim evicts least-recently-used objects until the store holds at most
	// target bytes (or only pinned objects are left).
	Trim(ctx context.Context, target int64) error
}

// Object is a stored object open for reading.
type Object struct {
	// Body reads the object's content. For the disk store it is an
	// *os.File, so handing it straight to http.ServeContent lets the kernel
	// send it (sendfile) and serves Range requests; don't wrap it.
	Body io.ReadSeekCloser

	// Size is the content's length in bytes.
	Size int64

	// ModTime is when the object was stored (committed). Reads do not
	// change it, so it is suitable for TTLs and Last-Modified.
	ModTime time.Time
}

// Close closes the object's Body.
func (o Object) Close() error {
	if o.Body == nil {
		return nil
	}
	return o.Body.Close()
}

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time // when it was stored
}

// Writer receives the content of a new object. Exactly one of Commit or
// Abort must be called; calling Abort after Commit is a harmless no-op, so
// `defer w.Abort()` is the usual pattern.
//
// Write, Commit and Abort belong to one goroutine; ReadAt and Size may be
// called from others at the same time as Write (to stream an object while
// it arrives), but not at the same time as Commit or Abort, after which
// ReadAt fails.
type Writer interface {
	io.Writer

	// ReadAt reads back what has been written so far, e.g. to check a zip
	// (zip.NewReader(w, w.Size())) or to let other clients stream an object
	// that is still arriving.
	io.ReaderAt

	// Size reports how many bytes have been written so far.
	Size() int64

	// Commit makes the object visible under its key, atomically replacing
	// any previous object, and durable (fsync of the file and directory)
	// unless the store was opened with NoSync. It fails if a Write failed,
	// the store's MaxSize was exceeded (ErrTooLarge) or the Create context
	// was cancelled; then nothing changes.
	Commit() error

	// Abort discards what was written. It returns nil after Commit.
	Abort() error
}

// Usage is a snapshot of a store's size and eviction counters. It is the
// one usage figure of every store in pitstop (the module proxy's, the
// cache server's, a cache helper's local tier); the JSON names are what
// `pitstop cache stats --json` and the cache server's /v1/stats print.
type Usage struct {
	Bytes        int64 `json:"bytes"`         // bytes stored (with the disk store's CountBlocks, the blocks they take)
	Objects      int64 `json:"objects"`       // objects stored (files, for the disk store)
	MaxSize      int64 `json:"max_size"`      // the cap in bytes; 0 means unlimited
	Evictions    int64 `json:"evictions"`     // objects evicted since Open (by the cap or Trim)
	EvictedBytes int64 `json:"evicted_bytes"` // bytes evicted since Open
}

// ErrTooLarge is returned (wrapped) when a single object is larger than the
// store's MaxSize and so could never be kept.
var ErrTooLarge = errors.New("object larger than the store's maximum size")

// ErrBadKey is returned (wrapped, in a *KeyError) for a key CheckKey rejects.
var ErrBadKey = errors.New("invalid store key")

// ErrUnavailable wraps errors that mean a shared (remote) store could not
// be reached: callers answer "try again", not "bad upstream".
var ErrUnavailable = errors.New("shared storage unavailable")

// ErrGCBusy is returned by a shared store's Trim when another process of
// the fleet holds the gc lock: it is collecting, so this one did not.
var ErrGCBusy = errors.New("another pitstop process is collecting the shared store (it holds the fleet's gc lock); try again when it is done")

// KeyError reports a rejected key and why.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("invalid store key %q: %s", e.Key, e.Reason)
}

// Unwrap returns ErrBadKey.
func (e *KeyError) Unwrap() error { return ErrBadKey }

// MaxKeyLen is the longest key accepted, in bytes.
const MaxKeyLen = 1024

// maxElemLen is the longest path element accepted (NAME_MAX on Linux).
const maxElemLen = 255

// CheckKey reports whether key is a valid store key and returns a *KeyError
// saying why if not. A valid key is 1 to MaxKeyLen bytes of valid UTF-8 made
// of slash-separated elements, each non-empty, at most 255 bytes and not
// starting with a dot (so "." and ".." are out, and names the store uses for
// its own temp files never clash with keys). Backslashes, NUL and other
// control characters are rejected anywhere, as are leading and trailing
// slashes and empty elements ("a//b"); a valid key is therefore always a
// clean relative path that stays inside the store.
func CheckKey(key string) error {
	bad := func(reason string) error { return &KeyError{Key: key, Reason: reason} }
	if key == "" {
		return bad("empty")
	}
	if len(key) > MaxKeyLen {
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	}
	if !utf8.ValidString(key) {
		return bad("not valid UTF-8")
	}
	for elem := range strings.SplitSeq(key, "/") {
		switch {
		case elem == "":
			return bad("empty path element (leading, trailing or double slash)")
		case elem[0] == '.':
			return bad("path element starts with a dot")
		case len(elem) > maxElemLen:
			return bad(fmt.Sprintf("path element longer than %d bytes", maxElemLen))
		}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\':
			return bad("contains a backslash")
		case c < 0x20 || c == 0x7f:
			return bad("contains a control character")
		}
	}
	return nil
}
