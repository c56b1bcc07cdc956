// Package atomicfiletest records the order of the operations that make
// writes durable (atomicfile.Ops), for tests that assert it: killing a
// process keeps the page cache, so no crash test can see that order.
package atomicfiletest

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// Event is one recorded operation.
type Event struct {
	// Op is "fsync", "syncdir", "rename" or "syncfs".
	Op string
	// Path is the file, directory or filesystem path; for a rename, the
	// old path.
	Path string
	// To is a rename's new path.
	To string
	// Size is the file's size when it was fsynced (-1 if unknown).
	Size int64
}

func (e Event) String() string {
	switch e.Op {
	case "rename":
		return fmt.Sprintf("rename %s -> %s", e.Path, e.To)
	case "fsync":
		return fmt.Sprintf("fsync %s (%d bytes)", e.Path, e.Size)
	}
	return e.Op + " " + e.Path
}

// Recorder is an atomicfile.Ops that performs each operation on the real
// OS and records it. Safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

var _ atomicfile.Ops = (*Recorder)(nil)

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// Events returns a copy of what was recorded, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.events = nil
	r.mu.Unlock()
}

// String lists the events, one a line.
func (r *Recorder) String() string {
	var b strings.Builder
	for _, e := range r.Events() {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

// Index returns the position of the first event after from (-1: from the
// start) for which match is true, or -1.
func (r *Recorder) Index(from int, match func(Event) bool) int {
	ev := r.Events()
	for i := from + 1; i < len(ev); i++ {
		if match(ev[i]) {
			return i
		}
	}
	return -1
}

// Fsync implements atomicfile.Ops.
func (r *Recorder) Fsync(f *os.File) error {
	size := int64(-1)
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	err := atomicfile.OS{}.Fsync(f)
	r.add(Event{Op: "fsync", Path: f.Name(), Size: size})
	return err
}

// SyncDir implements atomicfile.Ops.
func (r *Recorder) SyncDir(dir string) error {
	err := atomicfile.OS{}.SyncDir(dir)
	r.add(Event{Op: "syncdir", Path: dir, Size: -1})
	return err
}

// Rename implements atomicfile.Ops.
func (r *Recorder) Rename(oldpath, newpath string) error {
	err := atomicfile.OS{}.Rename(oldpath, newpath)
	r.add(Event{Op: "rename", Path: oldpath, To: newpath, Size: -1})
	return err
}

// SyncFS implements atomicfile.Ops.
func (r *Recorder) SyncFS(path string) error {
	err := atomicfile.OS{}.SyncFS(path)
	r.add(Event{Op: "syncfs", Path: path, Size: -1})
	return err
}
