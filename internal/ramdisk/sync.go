package ramdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// SyncRecord describes one sync: the last complete one is kept on disk
// (<parent>/.<base>.pitstop/last-sync.json), the last attempt in the live
// state.
type SyncRecord struct {
	Dir      string        `json:"dir,omitempty"`
	Gen      uint64        `json:"gen"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Reason   string        `json:"reason,omitempty"` // manual, timer, high-water, reclaim, disable, stop, recover
	Result   string        `json:"result"`           // "ok", "skipped (skip-sync)" or the error
	Files    int64         `json:"files"`            // files and symlinks written
	Bytes    int64         `json:"bytes"`            // their bytes
	Dels     int64         `json:"deletions"`        // entries deleted
}

// Pending is what a sync would write now.
type Pending struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
	Dels  int64 `json:"deletions"`
	Ops   int   `json:"ops"`
}

// syncer copies the changes held in an overlay's upper directory to the
// disk copy (the lower directory).
//
// Crash safety. A sync has two phases. Stage: every new or changed file
// and symbolic link is copied into meta/sync/staged (beside the disk copy,
// same filesystem) with its final mode, owner and mtime (by several
// copiers at once; every copy has finished before the next step); syncfs
// flushes them; then the list of operations is written to meta/sync/journal.tmp,
// fsynced and renamed to meta/sync/journal — the commit point. Apply: the
// operations run in order; each replaces one entry of the disk copy with a
// single rename (new entries from staged/, deleted or replaced ones into
// meta/sync/trash); syncfs; last-sync.json records the generation; the
// journal is removed; staging and trash are deleted.
//
// recover (run before every mount, sync and unmount) finishes what a crash
// interrupted: with a journal it replays it (every op is idempotent),
// without one it discards the staging area, which the disk copy never saw.
// So once recover has run the disk copy is exactly the result of the last
// sync that reached its commit point, never a mix.
type syncer struct {
	upper string // the overlay's upper directory
	disk  string // the disk copy (the overlay's lower directory)
	meta  string // the metadata directory, on the disk copy's filesystem
	log   *slog.Logger
	// hook, when set (by tests), is called before each staged file and
	// each applied op: phase "stage" or "apply", n counting from 0.
	hook func(phase string, n int)
	// fs makes the writes durable: syncfs, fsync, rename (a seam for
	// tests that record their order).
	fs atomicfile.FS
}

func (s *syncer) syncDir() string      { return filepath.Join(s.meta, "sync") }
func (s *syncer) stagedDir() string    { return filepath.Join(s.meta, "sync", "staged") }
func (s *syncer) trashDir() string     { return filepath.Join(s.meta, "sync", "trash") }
func (s *syncer) journal() string      { return filepath.Join(s.meta, "sync", "journal") }
func (s *syncer) lastSyncFile() string { return filepath.Join(s.meta, "last-sync.json") }

// plan walks the upper directory and returns the operations a sync needs.
// With stage set it copies new and changed files into the staging area:
// the walk hands them to stageWorkers copiers as it finds them (each op's
// staged name is fixed by the walk, so the journal does not depend on the
// copiers' order), and plan returns once every copy is done.
type planner struct {
	s     *syncer
	stage bool
	ctx   context.Context
	ops   []op
	p     Pending
	n     int // staged entries
	jobs  chan stageJob
	errs  map[int]error // staged entry number -> its copy's failure
}

// stageJob is one entry to stage: the upper path, the staged name's
// number n, and whether it is a symbolic link.
type stageJob struct {
	src  string
	n    int
	link bool
}

// stageWorkers is how many files are staged at once: the copy is mostly
// system calls (open, create, chown, utimens), which run in parallel on
// every core, and the walk keeps them fed.
func stageWorkers() int { return min(max(runtime.NumCPU(), 2), 8) }

func (s *syncer) plan(ctx context.Context, stage bool) ([]op, Pending, error) {
	pl := &planner{s: s, stage: stage, ctx: ctx, errs: map[int]error{}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	if stage {
		pl.jobs = make(chan stageJob, 256)
		for range stageWorkers() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := newStager()
				for j := range pl.jobs {
					var err error
					if err = ctx.Err(); err == nil {
						if s.hook != nil {
							s.hook("stage", j.n)
						}
						err = st.stage(j.src, filepath.Join(s.stagedDir(), stagedName(j.n)), j.link)
					}
					if err != nil {
						mu.Lock()
						pl.errs[j.n] = err
						mu.Unlock()
					}
				}
			}()
		}
	}
	err := pl.dir(".", false)
	if stage {
		close(pl.jobs)
		wg.Wait()
	}
	if err != nil {
		return nil, pl.p, err
	}
	if stage {
		// Drop the entries removed while we walked (the next sync sees
		// their whiteouts); any other failure fails the sync.
		kept := pl.ops[:0]
		for _, o := range pl.ops {
			if o.K == opFile && o.S != "-" {
				n, _ := strconv.Atoi(o.S[1:])
				if err := pl.errs[n]; errors.Is(err, fs.ErrNotExist) {
					continue
				} else if err != nil {
					return nil, pl.p, fmt.Errorf("staging %s: %w", filepath.Join(s.upper, filepath.FromSlash(o.P)), err)
				}
			}
			kept = append(kept, o)
		}
		pl.ops = kept
	}
	if err := ctx.Err(); err != nil {
		return nil, pl.p, err
	}
	pl.p.Ops = len(pl.ops)
	return pl.ops, pl.p, nil
}

func stagedName(n int) string { return "f" + strconv.Itoa(n) }

func (pl *planner) up(rel string) string   { return filepath.Join(pl.s.upper, filepath.FromSlash(rel)) }
func (pl *planner) down(rel string) string { return filepath.Join(pl.s.disk, filepath.FromSlash(rel)) }

func owner(fi fs.FileInfo) (int, int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func mtimeNs(fi fs.FileInfo) int64 { return fi.ModTime().UnixNano() }

// perm returns the permission bits with setuid, setgid and sticky.
func perm(fi fs.FileInfo) uint32 {
	return fi.Sys().(*syscall.Stat_t).Mode & 0o7777
}

func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	return fi.Sys().(*syscall.Stat_t).Rdev == 0
}

func isOpaque(p string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func sameMeta(a, b fs.FileInfo) bool {
	ua, ga := owner(a)
	ub, gb := owner(b)
	return ua == ub && ga == gb && perm(a) == perm(b) && mtimeNs(a) == mtimeNs(b)
}

func metaOp(rel string, fi fs.FileInfo) op {
	u, g := owner(fi)
	return op{K: opMeta, P: rel, Mode: perm(fi), UID: u, GID: g, Mt: mtimeNs(fi), Link: fi.Mode()&fs.ModeSymlink != 0}
}

// dir plans the directory rel and everything below it. newDir says that
// its parent is new on disk: then nothing below it is there to compare.
func (pl *planner) dir(rel string, newDir bool) error {
	if err := pl.ctx.Err(); err != nil {
		return err
	}
	ufi, err := os.Lstat(pl.up(rel))
	if err != nil {
		return err
	}
	var dfi fs.FileInfo
	derr := fs.ErrNotExist
	if !newDir {
		dfi, derr = os.Lstat(pl.down(rel))
	}
	before := len(pl.ops)
	if rel != "." && (derr != nil || !dfi.IsDir()) {
		u, g := owner(ufi)
		pl.ops = append(pl.ops, op{K: opMkdir, P: rel, Mode: perm(ufi), UID: u, GID: g})
		dfi, derr = nil, fs.ErrNotExist
	}
	ents, err := os.ReadDir(pl.up(rel))
	if err != nil {
		return err
	}
	if rel != "." && derr == nil && isOpaque(pl.up(rel)) {
		// An opaque directory hides everything below it on disk: keep
		// only what the upper directory has.
		var keep []string
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && !isWhiteout(fi) {
				keep = append(keep, e.Name())
			}
		}
		if dents, err := os.ReadDir(pl.down(rel)); err == nil {
			kept := map[string]bool{}
			for _, k := range keep {
				kept[k] = true
			}
			for _, d := range dents {
				if !kept[d.Name()] {
					pl.p.Dels++
				}
			}
		}
		pl.ops = append(pl.ops, op{K: opClean, P: rel, Keep: keep})
	}
	for _, e := range ents {
		child := path.Join(rel, e.Name())
		fi, err := os.Lstat(pl.up(child))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we walked; the next sync sees the whiteout
		}
		if err != nil {
			return err
		}
		switch {
		case isWhiteout(fi):
			if dfi == nil {
				continue // nothing on disk to delete
			}
			if _, err := os.Lstat(pl.down(child)); err == nil {
				pl.ops = append(pl.ops, op{K: opDel, P: child})
				pl.p.Dels++
			}
		case fi.IsDir():
			if err := pl.dir(child, dfi == nil); err != nil {
				return err
			}
		case fi.Mode().IsRegular(), fi.Mode()&fs.ModeSymlink != 0:
			if err := pl.file(child, fi, dfi == nil); err != nil {
				return err
			}
		default:
			pl.s.log.Warn("ramdisk sync: skipping special file", "path", pl.up(child), "mode", fi.Mode().String())
		}
	}
	// The directory's own attributes, after its children (their renames
	// change its mtime on disk).
	if len(pl.ops) > before || dfi == nil || !sameMeta(ufi, dfi) {
		pl.ops = append(pl.ops, metaOp(rel, ufi))
	}
	return nil
}

// file plans the file or symbolic link rel; newDir says that its
// directory is new on disk.
func (pl *planner) file(rel string, ufi fs.FileInfo, newDir bool) error {
	var dfi fs.FileInfo
	derr := fs.ErrNotExist
	if !newDir {
		dfi, derr = os.Lstat(pl.down(rel))
	}
	link := ufi.Mode()&fs.ModeSymlink != 0
	if derr == nil && dfi.Mode().Type() == ufi.Mode().Type() {
		if link {
			ut, err1 := os.Readlink(pl.up(rel))
			dt, err2 := os.Readlink(pl.down(rel))
			if err1 == nil && err2 == nil && ut == dt {
				if !sameMeta(ufi, dfi) {
					pl.ops = append(pl.ops, metaOp(rel, ufi))
				}
				return nil
			}
		} else if ufi.Size() == dfi.Size() {
			if sameMeta(ufi, dfi) {
				return nil
			}
			// Go refreshes cache files' mtimes; compare contents
			// before writing the card again.
			if same, err := atomicfile.SameContent(pl.up(rel), pl.down(rel)); err == nil && same {
				pl.ops = append(pl.ops, metaOp(rel, ufi))
				return nil
			}
		}
	}
	pl.p.Files++
	if !link {
		pl.p.Bytes += ufi.Size()
	}
	if !pl.stage {
		pl.ops = append(pl.ops, op{K: opFile, P: rel, S: "-"})
		return nil
	}
	n := pl.n
	pl.n++
	pl.ops = append(pl.ops, op{K: opFile, P: rel, S: stagedName(n)})
	select {
	case pl.jobs <- stageJob{src: pl.up(rel), n: n, link: link}:
		return nil
	case <-pl.ctx.Done():
		return pl.ctx.Err()
	}
}

// stager copies files into the staging area with its own buffer (one
// per copier).
type stager struct{ buf []byte }

func newStager() *stager { return &stager{buf: make([]byte, 128<<10)} }

// stage copies a file or symbolic link to dst (which must not exist) with
// its mode, owner and mtime. A file that changes while it is copied is
// copied again. Plain descriptors, not *os.File: a regular file gains
// nothing from the runtime's poller, and registering each one costs
// system calls that, for a small file, outnumber the copy's own.
func (st *stager) stage(src, dst string, link bool) error {
	if link {
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		fi, err := os.Lstat(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		u, g := owner(fi)
		if err := os.Lchown(dst, u, g); err != nil {
			return err
		}
		return setMtime(dst, mtimeNs(fi))
	}
	in, err := atomicfile.OpenFd(src, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(in)
	out, err := atomicfile.OpenFd(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if out >= 0 {
			unix.Close(out)
		}
	}()
	for try := 0; ; try++ {
		var before, after unix.Stat_t
		if err := unix.Fstat(in, &before); err != nil {
			return &fs.PathError{Op: "fstat", Path: src, Err: err}
		}
		if try > 0 {
			if err := unix.Ftruncate(out, 0); err != nil {
				return &fs.PathError{Op: "truncate", Path: dst, Err: err}
			}
		}
		if err := st.copyFd(out, in, before.Size, src, dst); err != nil {
			return err
		}
		if err := unix.Fstat(in, &after); err != nil {
			return &fs.PathError{Op: "fstat", Path: src, Err: err}
		}
		if (after.Size != before.Size || after.Mtim != before.Mtim) && try < 3 {
			continue // written to while we copied: copy again
		}
		if err := unix.Fchown(out, int(before.Uid), int(before.Gid)); err != nil {
			return &fs.PathError{Op: "chown", Path: dst, Err: err}
		}
		// After the chown, which clears setuid and setgid.
		if err := unix.Fchmod(out, before.Mode&0o7777); err != nil {
			return &fs.PathError{Op: "chmod", Path: dst, Err: err}
		}
		err := unix.Close(out)
		out = -1
		if err != nil {
			return &fs.PathError{Op: "close", Path: dst, Err: err}
		}
		return setMtime(dst, after.Mtim.Nano())
	}
}

// copyFd copies in (from its start) to out (at its start), size bytes
// or up to the end of in if that comes first. (A file that grows while it
// is copied has a new size and mtime: the caller copies it again.)
func (st *stager) copyFd(out, in int, size int64, src, dst string) error {
	var off int64
	for off < size {
		n, err := unix.Pread(in, st.buf[:min(int64(len(st.buf)), size-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "read", Path: src, Err: err}
		}
		if n == 0 {
			return nil
		}
		for w := 0; w < n; {
			m, err := unix.Pwrite(out, st.buf[w:n], off+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return &fs.PathError{Op: "write", Path: dst, Err: err}
			}
			w += m
		}
		off += int64(n)
	}
	return nil
}

// modeBits turns setuid/setgid/sticky bits into os.FileMode flags.
func modeBits(m uint32) fs.FileMode {
	var f fs.FileMode
	if m&unix.S_ISUID != 0 {
		f |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		f |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		f |= fs.ModeSticky
	}
	return f
}

func setMtime(p string, ns int64) error {
	ts := []unix.Timespec{{Sec: 0, Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(ns)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// run performs one complete sync (after recovering any interrupted one).
func (s *syncer) run(ctx context.Context, reason string) (SyncRecord, error) {
	start := time.Now()
	rec := SyncRecord{Start: start.UTC(), Reason: reason}
	if err := s.recover(); err != nil {
		return rec, err
	}
	last, _ := readSyncRecord(s.lastSyncFile())
	rec.Gen = last.Gen + 1
	sd := s.syncDir()
	if err := os.MkdirAll(s.meta, 0o755); err != nil { // last-sync.json: readable by all
		return rec, err
	}
	if err := os.MkdirAll(s.stagedDir(), 0o700); err != nil {
		return rec, err
	}
	ops, p, err := s.plan(ctx, true)
	if err != nil {
		os.RemoveAll(sd)
		return rec, err
	}
	rec.Files, rec.Bytes, rec.Dels = p.Files, p.Bytes, p.Dels
	h := journalHeader{Gen: rec.Gen, Start: rec.Start, Reason: reason, Files: p.Files, Bytes: p.Bytes, Dels: p.Dels}
	if len(ops) > 0 {
		// Staged files must be on the card before the commit record.
		if err := s.fs.SyncFS(sd); err != nil {
			os.RemoveAll(sd)
			return rec, err
		}
		if err := s.fs.WriteFile(s.journal(), encodeJournal(h, ops), 0o600); err != nil {
			os.RemoveAll(sd)
			return rec, fmt.Errorf("writing sync journal: %w", err)
		}
		// Committed: from here on, a crash is rolled forward.
		if err := s.apply(ops); err != nil {
			return rec, fmt.Errorf("applying sync (the journal stays; the next sync or start finishes it): %w", err)
		}
	}
	rec.Duration = time.Since(start)
	rec.Result = "ok"
	if err := s.finish(rec); err != nil {
		return rec, err
	}
	return rec, nil
}

// finish makes applied ops durable, records rec as the last complete sync
// and removes the journal and the staging area.
func (s *syncer) finish(rec SyncRecord) error {
	if err := s.fs.SyncFS(s.disk); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := s.fs.WriteFile(s.lastSyncFile(), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Remove(s.journal()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := s.fs.SyncDir(s.syncDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return removeAll(s.syncDir())
}

// recover finishes or discards an interrupted sync.
func (s *syncer) recover() error {
	sd := s.syncDir()
	if _, err := os.Lstat(sd); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	data, err := os.ReadFile(s.journal())
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("ramdisk: discarding an interrupted sync that had not committed; the disk copy is the previous sync", "dir", s.disk)
		return removeAll(sd)
	}
	if err != nil {
		return err
	}
	h, ops, err := parseJournal(data)
	if err != nil {
		return fmt.Errorf("%s: %v: cannot finish the interrupted sync; move the file away to drop it", s.journal(), err)
	}
	s.log.Warn("ramdisk: finishing an interrupted sync", "dir", s.disk, "gen", h.Gen, "ops", len(ops))
	start := time.Now()
	if err := s.apply(ops); err != nil {
		return fmt.Errorf("finishing the interrupted sync: %w", err)
	}
	return s.finish(SyncRecord{Gen: h.Gen, Start: h.Start, Duration: time.Since(start), Reason: h.Reason + "+recover",
		Result: "ok", Files: h.Files, Bytes: h.Bytes, Dels: h.Dels})
}

// apply runs ops against the disk copy. Each op is idempotent.
func (s *syncer) apply(ops []op) error {
	if err := os.MkdirAll(s.trashDir(), 0o700); err != nil {
		return err
	}
	trashN := 0
	trash := func(p string) error {
		for {
			dst := filepath.Join(s.trashDir(), "t"+strconv.Itoa(trashN))
			trashN++
			if _, err := os.Lstat(dst); err == nil {
				continue // from an earlier, interrupted replay
			}
			return inWritableDir(p, func() error { return os.Rename(p, dst) })
		}
	}
	for i, o := range ops {
		if s.hook != nil {
			s.hook("apply", i)
		}
		target := filepath.Join(s.disk, filepath.FromSlash(o.P))
		if o.K == opFile {
			if err := s.applyFile(o, target, trash); err != nil {
				return err
			}
			continue
		}
		tfi, terr := os.Lstat(target)
		switch o.K {
		case opMkdir:
			if terr == nil && tfi.IsDir() {
				continue
			}
			if terr == nil {
				if err := trash(target); err != nil {
					return err
				}
			}
			if err := inWritableDir(target, func() error { return os.Mkdir(target, 0o700) }); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if err := os.Lchown(target, o.UID, o.GID); err != nil {
				return err
			}
			if err := os.Chmod(target, fs.FileMode(o.Mode&0o777)|modeBits(o.Mode)); err != nil {
				return err
			}
		case opDel:
			if terr == nil {
				if err := trash(target); err != nil {
					return err
				}
			}
		case opClean:
			if terr != nil || !tfi.IsDir() {
				continue
			}
			keep := map[string]bool{}
			for _, k := range o.Keep {
				keep[k] = true
			}
			ents, err := os.ReadDir(target)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if !keep[e.Name()] {
					if err := trash(filepath.Join(target, e.Name())); err != nil {
						return err
					}
				}
			}
		case opMeta:
			if terr != nil {
				continue
			}
			if err := os.Lchown(target, o.UID, o.GID); err != nil {
				return err
			}
			if !o.Link {
				if err := os.Chmod(target, fs.FileMode(o.Mode&0o777)|modeBits(o.Mode)); err != nil {
					return err
				}
			}
			if err := setMtime(target, o.Mt); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyFile renames o's staged entry over target. The rename is tried
// first, and the entries are looked at only when it fails: a directory in
// the way (EISDIR, or ENOTEMPTY/EEXIST for a staged link) goes to the trash
// first; a staged entry already gone was renamed into place before a crash
// (replaying a journal).
func (s *syncer) applyFile(o op, target string, trash func(string) error) error {
	src := filepath.Join(s.stagedDir(), o.S)
	rename := func() error { return inWritableDir(target, func() error { return s.fs.Rename(src, target) }) }
	err := rename()
	if err == nil {
		return nil
	}
	if _, serr := os.Lstat(src); errors.Is(serr, fs.ErrNotExist) {
		return nil // renamed into place before the crash
	}
	tfi, terr := os.Lstat(target)
	if terr != nil || !tfi.IsDir() {
		return err
	}
	if err := trash(target); err != nil {
		return err
	}
	return rename()
}

// inWritableDir runs fn, which changes an entry of p's parent directory.
// Root may write into the module cache's read-only directories anyway; a
// process without CAP_DAC_OVERRIDE gets EACCES, and then the parent is
// made writable for fn and its mode restored (its final mode is also set
// by the sync's meta op).
func inWritableDir(p string, fn func() error) error {
	err := fn()
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	dir := filepath.Dir(p)
	fi, serr := os.Stat(dir)
	if serr != nil {
		return err
	}
	if cerr := os.Chmod(dir, fi.Mode()|0o200); cerr != nil {
		return err
	}
	err = fn()
	if cerr := os.Chmod(dir, fi.Mode()); err == nil {
		err = cerr
	}
	return err
}

// removeAll is os.RemoveAll that also removes read-only trees (Go's
// module cache) when the caller cannot override permissions.
func removeAll(p string) error {
	if err := os.RemoveAll(p); err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

func readSyncRecord(file string) (SyncRecord, error) {
	var r SyncRecord
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(b, &r)
	return r, err
}

// pending reports what a sync would write now, without writing.
func (s *syncer) pending(ctx context.Context) (Pending, error) {
	_, p, err := s.plan(ctx, false)
	return p, err
}
