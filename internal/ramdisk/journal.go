package ramdisk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The kinds of journal operations, applied in order to the disk copy.
const (
	opMkdir = "mkdir" // make directory P (moving a non-directory there aside)
	opFile  = "file"  // rename staged entry S (file or symlink) to P
	opDel   = "del"   // move P aside (to the trash)
	opClean = "clean" // opaque directory: move aside every entry of P not in Keep
	opMeta  = "meta"  // set owner, mode (not for symlinks) and mtime of P
)

// op is one step of a sync. Every op is idempotent, so a journal can be
// replayed from the start after a crash.
type op struct {
	K    string   `json:"k"`
	P    string   `json:"p"`           // slash path relative to the disk copy, "." for its root
	S    string   `json:"s,omitempty"` // staged name (opFile)
	Mode uint32   `json:"m,omitempty"` // permission bits incl. setuid/setgid/sticky
	UID  int      `json:"u,omitempty"`
	GID  int      `json:"g,omitempty"`
	Mt   int64    `json:"t,omitempty"` // mtime, Unix nanoseconds
	Link bool     `json:"l,omitempty"` // opMeta on a symbolic link: no chmod
	Keep []string `json:"keep,omitempty"`
}

// journalHeader is the journal's first line.
type journalHeader struct {
	V      int       `json:"v"`
	Gen    uint64    `json:"gen"`
	Start  time.Time `json:"start"`
	Reason string    `json:"reason,omitempty"`
	Files  int64     `json:"files"`
	Bytes  int64     `json:"bytes"`
	Dels   int64     `json:"dels"`
	Ops    int       `json:"ops"`
}

func encodeJournal(h journalHeader, ops []op) []byte {
	var b bytes.Buffer
	h.V, h.Ops = 1, len(ops)
	enc := json.NewEncoder(&b)
	enc.Encode(h)
	for _, o := range ops {
		enc.Encode(o)
	}
	return b.Bytes()
}

// parseJournal reads a journal back and checks every op, so that a damaged
// or hostile file can never make recovery touch a path outside the disk
// copy.
func parseJournal(data []byte) (journalHeader, []op, error) {
	var h journalHeader
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	if !sc.Scan() {
		return h, nil, fmt.Errorf("sync journal: empty")
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.V != 1 {
		return h, nil, fmt.Errorf("sync journal: bad header")
	}
	if h.Ops < 0 || h.Ops > 1<<26 {
		return h, nil, fmt.Errorf("sync journal: bad op count %d", h.Ops)
	}
	var ops []op
	for n := 2; sc.Scan(); n++ {
		var o op
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return h, nil, fmt.Errorf("sync journal line %d: %v", n, err)
		}
		if err := o.check(); err != nil {
			return h, nil, fmt.Errorf("sync journal line %d: %v", n, err)
		}
		ops = append(ops, o)
	}
	if err := sc.Err(); err != nil {
		return h, nil, fmt.Errorf("sync journal: %v", err)
	}
	if len(ops) != h.Ops {
		return h, nil, fmt.Errorf("sync journal: %d ops, header says %d (truncated)", len(ops), h.Ops)
	}
	return h, ops, nil
}

func (o op) check() error {
	if !localPath(o.P) {
		return fmt.Errorf("bad path %q", o.P)
	}
	if o.Mode&^0o7777 != 0 || o.UID < 0 || o.GID < 0 {
		return fmt.Errorf("bad mode or owner")
	}
	switch o.K {
	case opMkdir, opDel, opMeta:
		if o.K == opDel && o.P == "." {
			return fmt.Errorf("del of the root")
		}
	case opFile:
		if o.P == "." || o.S == "" || strings.ContainsAny(o.S, "/\x00") || o.S == "." || o.S == ".." {
			return fmt.Errorf("bad file op %q <- %q", o.P, o.S)
		}
	case opClean:
		for _, k := range o.Keep {
			if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") {
				return fmt.Errorf("bad keep name %q", k)
			}
		}
	default:
		return fmt.Errorf("unknown op %q", o.K)
	}
	return nil
}

// localPath reports whether p is "." or a clean relative slash path that
// stays inside its root.
func localPath(p string) bool {
	if p == "." {
		return true
	}
	return p != "" && !strings.ContainsRune(p, 0) && filepath.IsLocal(p) && filepath.Clean(p) == p && !strings.HasPrefix(p, "./")
}
