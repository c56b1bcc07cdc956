// Package toolchain installs, switches and removes Go toolchains. Every Go
// release is published as the module golang.org/toolchain (version
// v0.0.1-go1.22.5.linux-arm64); pitstop fetches that zip through the
// user's GOPROXY list with internal/modfetch (the go command's fallback
// rules and its checksum-database verification), unpacks it beside the
// other versions and switches a "current" link only after the new bin/go
// has run and reported the expected version.
//
// Layout (see Layout): ~/.local/share/pitstop/go/<go1.22.5> and a
// "current" link, so that one PATH entry, current/bin, reaches the active
// toolchain; the system-wide layout keeps versions in
// /usr/local/lib/pitstop/go and makes /usr/local/go the link.
package toolchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/units"
)

// ErrSumDBOff is returned when the checksum database is disabled for
// golang.org/toolchain and Installer.Insecure is not set.
var ErrSumDBOff = errors.New("the checksum database is off for golang.org/toolchain (GOSUMDB=off, or GONOSUMDB/GOPRIVATE match it): pitstop verifies every toolchain, as the go command does; turn it back on (go env -u GOSUMDB)")

// Installer installs toolchains into a Layout. Set the fields, then call
// Install; the zero value of each optional field is documented.
type Installer struct {
	Layout Layout
	// Source fetches and verifies zips; nil means
	// FetcherSource(NewFetcher(Env, nil)).
	Source Source
	// Env is the go command's environment (GOSUMDB, GONOSUMDB, GOPRIVATE
	// are checked here); nil means goenv.FromOS().
	Env goenv.Env
	// Target is the toolchain's target; zero means Native.
	Target Target
	// Native is this machine's userland target; zero means DetectTarget.
	Native Target
	// Insecure allows installing with the checksum database turned off.
	Insecure bool
	// NoUse installs without switching the active toolchain.
	NoUse bool
	// Dir is where go.mod is read for a go.mod query; "" means ".".
	Dir string
	// Out receives one line per step; nil discards them.
	Out io.Writer
	// Progress, if set, is called as the zip downloads; ProgressDone, if
	// set, when the download ends (to finish a progress bar's line).
	Progress     func(written, total int64)
	ProgressDone func()
	// UnpackProgress, if set, is called as the zip unpacks (bytes written
	// of the uncompressed total); UnpackProgressDone, if set, when it ends.
	UnpackProgress     func(done, total int64)
	UnpackProgressDone func()
	// Attempts bounds whole-download attempts after transient errors
	// (each resumes where the body broke off); 0 means 3.
	Attempts int
	// Backoff is the first pause between attempts; 0 means 2 s.
	Backoff time.Duration
	// VerifyTimeout bounds `bin/go version`; 0 means 2 minutes.
	VerifyTimeout time.Duration
}

// Result says what Install did.
type Result struct {
	Version Version
	Target  Target
	Name    string // directory name under Layout.Dir
	Path    string
	Hash    string // the h1: hash the checksum database confirmed; "" if already installed
	Output  string // what bin/go version printed; "" when not run (foreign target)
	Active  bool   // the link now points at it
	Already bool   // it was installed before
}

func (in *Installer) say(format string, args ...any) {
	if in.Out != nil {
		fmt.Fprintf(in.Out, format+"\n", args...)
	}
}

func (in *Installer) setup() error {
	if in.Env == nil {
		in.Env = goenv.FromOS()
	}
	if in.Native == (Target{}) {
		t, err := DetectTarget(nil)
		if err != nil {
			return err
		}
		in.Native = t
	}
	if in.Target == (Target{}) {
		in.Target = in.Native
	}
	if in.Source == nil {
		in.Source = FetcherSource(NewFetcher(in.Env, nil))
	}
	return nil
}

// Resolve turns q into a release available for the installer's target.
func (in *Installer) Resolve(ctx context.Context, q Query) (Version, error) {
	if err := in.setup(); err != nil {
		return Version{}, err
	}
	dir := in.Dir
	if dir == "" {
		dir = "."
	}
	return Resolve(ctx, in.Source, q, in.Target, dir)
}

// Install resolves q, downloads and verifies the toolchain, unpacks it,
// runs its bin/go version and (unless NoUse, or the target is another
// machine's) makes it the active one. On any error the layout is as it
// was: no half-written directory, the previous version still active.
func (in *Installer) Install(ctx context.Context, q Query) (*Result, error) {
	if err := in.setup(); err != nil {
		return nil, err
	}
	if in.Env.NoSumDB(ModulePath) && !in.Insecure {
		return nil, ErrSumDBOff
	}
	if !in.NoUse && in.Target == in.Native {
		if fi, err := os.Lstat(in.Layout.Link); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return nil, fmt.Errorf("%s %w: move it away (e.g. mv %s %s.old) and retry", in.Layout.Link, ErrLinkIsDir, in.Layout.Link, in.Layout.Link)
		}
	}
	v, err := in.Resolve(ctx, q)
	if err != nil {
		return nil, err
	}
	if q.Kind != QueryExact {
		in.say("%s is %s (%s)", queryText(q), v.Go(), in.Target)
	}
	native := in.Target == in.Native
	name := Name(v, in.Target, native)
	res := &Result{Version: v, Target: in.Target, Name: name, Path: filepath.Join(in.Layout.Dir, name)}

	if err := os.MkdirAll(in.Layout.Dir, 0o755); err != nil {
		return nil, in.diskError("creating", in.Layout.Dir, err)
	}
	unlock, err := in.Layout.lock()
	if err != nil {
		return nil, in.diskError("locking", in.Layout.Dir, err)
	}
	defer unlock()
	removeStaleDownloads(in.Layout.Dir, 7*24*time.Hour)

	if _, err := os.Stat(filepath.Join(res.Path, "bin", "go")); err == nil {
		res.Already = true
		in.say("%s is already installed in %s", v.Go(), res.Path)
	} else {
		if err := in.fetchAndUnpack(ctx, v, res); err != nil {
			return nil, err
		}
	}
	if native && res.Output == "" {
		out, err := checkGoVersion(ctx, filepath.Join(res.Path, "bin", "go"), v, in.Target, in.verifyTimeout())
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("%s is installed but broken (%v): pitstop go remove %s, then install it again", res.Path, err, v.Go())
		}
		res.Output = out
	}
	if res.Output != "" {
		in.say("%s", res.Output)
	}
	if !native {
		in.say("prepared for %s (not run here): copy %s to that machine", in.Target, res.Path)
		return res, nil
	}
	if in.NoUse {
		return res, nil
	}
	if err := in.Layout.Use(name); err != nil {
		return nil, in.diskError("switching", in.Layout.Link, err)
	}
	res.Active = true
	in.say("active: %s -> %s", in.Layout.Link, name)
	return res, nil
}

func queryText(q Query) string {
	switch q.Kind {
	case QueryLatest:
		return "latest"
	case QueryGoMod:
		return "go.mod"
	case QueryMinor:
		return q.Version.Go() + ".x"
	}
	return q.Version.Go()
}

func (in *Installer) verifyTimeout() time.Duration {
	if in.VerifyTimeout > 0 {
		return in.VerifyTimeout
	}
	return 2 * time.Minute
}

// fetchAndUnpack downloads into a file beside the versions, unpacks into
// <name>.tmp, checks bin/go (native targets) and renames into place. A
// complete download that an interruption (ctx) keeps from being installed
// stays, marked, and the next install checks it again instead of
// downloading it.
//
// With a Source that can check a zip with the caller's hash (FetcherSource)
// the zip is unpacked while it is hashed, one pass over its content
// instead of two: its structure is checked first, and the hash of what
// was written is verified with the checksum database before anything
// unpacked runs or is renamed into place (a mismatch removes it all).
func (in *Installer) fetchAndUnpack(ctx context.Context, v Version, res *Result) error {
	mv := ModuleVersion(v, in.Target)
	d := &download{in: in, mv: mv, path: filepath.Join(in.Layout.Dir, ".download-"+mv+".zip")}
	tmp := res.Path + ".tmp"
	if err := RemoveTree(tmp); err != nil {
		return in.diskError("clearing", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			RemoveTree(tmp)
		}
	}()
	unpacked := false
	var hasher func(string) (string, error)
	if _, one := in.Source.(hashingSource); one {
		hasher = func(file string) (string, error) {
			unpacked = false
			if err := RemoveTree(tmp); err != nil {
				return "", err
			}
			in.say("unpacking into %s (hashing it on the way)", tmp)
			h, err := unpack(ctx, file, mv, tmp, in.UnpackProgress)
			if in.UnpackProgressDone != nil {
				in.UnpackProgressDone()
			}
			unpacked = err == nil
			return h, err
		}
	}
	interrupted := func(hash string) error {
		if d.keepVerified(hash) {
			in.say("interrupted: kept the complete download in %s; the next install of %s checks it again and unpacks it without downloading again", d.path, v.Go())
		}
		return ctx.Err()
	}
	hash, err := d.reuse(ctx, hasher)
	if err == nil && hash == "" {
		in.say("downloading %s@%s", ModulePath, mv)
		hash, err = d.run(ctx, hasher)
		if in.ProgressDone != nil {
			in.ProgressDone()
		}
		if err == nil && hasher != nil {
			hash, err = in.Source.(hashingSource).CheckZipFileHashed(ctx, ModulePath, mv, d.path, hasher)
			if err != nil && ctx.Err() != nil {
				return interrupted("")
			}
			if err != nil {
				d.remove() // a bad zip, or one that cannot be unpacked here
				return in.diskError("unpacking "+v.Go()+" into", tmp, err)
			}
		}
	}
	if err != nil {
		return in.diskError("downloading "+v.Go()+" into", in.Layout.Dir, err)
	}
	res.Hash = hash
	if !in.Source.Verified(ModulePath) {
		in.say("NOT verified (an insecure install, with the checksum database off): %s", hash)
	} else {
		in.say("verified %s with the checksum database", hash)
	}
	if !unpacked {
		in.say("unpacking into %s", tmp)
		err = Unpack(ctx, d.path, mv, tmp, in.UnpackProgress)
		if in.UnpackProgressDone != nil {
			in.UnpackProgressDone()
		}
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(hash)
			}
			d.remove()
			return in.diskError("unpacking "+v.Go()+" into", tmp, err)
		}
	}
	if in.Target == in.Native {
		out, err := checkGoVersion(ctx, filepath.Join(tmp, "bin", "go"), v, in.Target, in.verifyTimeout())
		if err != nil && ctx.Err() != nil {
			return interrupted(hash)
		}
		if err != nil {
			d.remove()
			return fmt.Errorf("the new toolchain does not work (%v); nothing was changed", err)
		}
		res.Output = out
	}
	d.remove()
	// Unpack made the tree durable (one syncfs instead of an fsync per
	// file; a toolchain holds thousands) before the rename: without it, a
	// power cut soon after an install (a Pi unplugged) could leave a
	// toolchain whose files are empty but whose name and `current` link
	// survived.
	if err := os.Rename(tmp, res.Path); err != nil {
		return in.diskError("renaming into", res.Path, err)
	}
	ok = true
	if err := atomicfile.SyncDir(filepath.Dir(res.Path)); err != nil {
		return fmt.Errorf("unpacked into %s, but flushing %s failed: %v (run the install again)", res.Path, filepath.Dir(res.Path), err)
	}
	in.say("installed %s in %s", v.Go(), res.Path)
	return nil
}

// hashingSource is a Source that downloads without checking and checks a
// zip on disk with the caller's hash (FetcherSource): the install then
// unpacks while it hashes.
type hashingSource interface {
	DownloadZip(ctx context.Context, path, vers string, dst *os.File, progress func(written, total int64)) error
	CheckZipFileHashed(ctx context.Context, path, vers, file string, hasher func(file string) (string, error)) (string, error)
}

// zipChecker is a Source that can check a zip already on disk as it
// checks one it downloads (structure, hash, checksum database).
type zipChecker interface {
	CheckZipFile(ctx context.Context, path, vers, file string) (string, error)
}

// verifiedSuffix marks a download that was complete and verified when an
// interruption kept it from being installed.
const verifiedSuffix = ".verified"

// reuse returns the hash of a verified download kept by an interrupted
// install, after checking it again; "" when there is none to use (a kept
// zip that fails its check is removed and downloaded again).
func (d *download) reuse(ctx context.Context, hasher func(string) (string, error)) (string, error) {
	if _, err := os.Stat(d.path + verifiedSuffix); err != nil {
		return "", nil
	}
	zc, ok := d.in.Source.(zipChecker)
	if _, err := os.Stat(d.path); err != nil || !ok {
		d.remove()
		return "", nil
	}
	d.in.say("using the download of %s@%s kept by an interrupted install (%s); checking it again", ModulePath, d.mv, d.path)
	var hash string
	var err error
	if hs, ok := d.in.Source.(hashingSource); ok && hasher != nil {
		hash, err = hs.CheckZipFileHashed(ctx, ModulePath, d.mv, d.path, hasher)
	} else {
		hash, err = zc.CheckZipFile(ctx, ModulePath, d.mv, d.path)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", err
		}
		d.in.say("the kept download failed its check (%v); downloading again", err)
		d.remove()
		return "", nil
	}
	return hash, nil
}

// keepVerified marks the complete, verified download to be used by the
// next install; it reports whether it is kept.
func (d *download) keepVerified(hash string) bool {
	if err := atomicfile.WriteFile(d.path+verifiedSuffix, []byte(hash+"\n"), 0o644); err != nil {
		d.remove()
		return false
	}
	return true
}

// download is one toolchain zip being fetched into path. A download that
// breaks off is kept (path, and path.json saying where from) so that the
// next attempt, in this run or a later one, asks only for the rest.
type download struct {
	in   *Installer
	mv   string
	path string
}

func (d *download) remove() {
	os.Remove(d.path)
	os.Remove(d.path + verifiedSuffix)
	os.Remove(d.path + ".json")
	os.Remove(d.path + ".prev")
}

// run fetches and verifies the zip, retrying transient failures.
// With hasher set it only downloads (and returns no hash): the caller
// checks the zip with CheckZipFileHashed.
func (d *download) run(ctx context.Context, hasher func(string) (string, error)) (string, error) {
	in := d.in
	attempts := in.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	var rt *ResumeTransport
	if fs, ok := in.Source.(fetcherSource); ok {
		rt = fs.resumer()
	}
	var last error
	for i := 1; i <= attempts; i++ {
		hash, err := d.attempt(ctx, rt, hasher != nil)
		if err == nil {
			return hash, nil
		}
		last = err
		if ctx.Err() == nil && !transient(err) {
			d.remove() // a bad zip or a missing version: nothing worth keeping
			break
		}
		if i == attempts || ctx.Err() != nil {
			if n := d.keep(rt); n > 0 {
				in.say("kept %s of the download in %s; the next pitstop go install continues it", units.HumanSize(n), d.path)
			}
			break
		}
		in.say("download failed (%v); retrying", err)
		first := in.Backoff
		if first <= 0 {
			first = 2 * time.Second
		}
		if err := sleepCtx(ctx, backoff(first, i)); err != nil {
			d.keep(rt)
			return "", err
		}
	}
	return "", last
}

// attempt downloads once, continuing a kept partial download when there
// is one and the transport can.
func (d *download) attempt(ctx context.Context, rt *ResumeTransport, downloadOnly bool) (string, error) {
	var p Partial
	if rt != nil {
		if b, err := os.ReadFile(d.path + ".json"); err == nil {
			json.Unmarshal(b, &p)
		} else if l := rt.lastZip(); strings.HasSuffix(l.URL, "/"+d.mv+".zip") {
			p = l
		}
	}
	os.Remove(d.path + ".json")
	if fi, err := os.Stat(d.path); err == nil && p.URL != "" && fi.Size() > 0 && fi.Size() < p.Size {
		if err := os.Rename(d.path, d.path+".prev"); err == nil {
			if prev, err := os.Open(d.path + ".prev"); err == nil {
				defer prev.Close()
				rt.continueFrom(p, prev, fi.Size())
				d.in.say("continuing the download kept from an earlier try: %s of %s already here", units.HumanSize(fi.Size()), units.HumanSize(p.Size))
			}
		}
	}
	defer os.Remove(d.path + ".prev")
	zf, err := os.OpenFile(d.path, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer zf.Close()
	if downloadOnly {
		return "", d.in.Source.(hashingSource).DownloadZip(ctx, ModulePath, d.mv, zf, d.in.Progress)
	}
	return d.in.Source.Zip(ctx, ModulePath, d.mv, zf, d.in.Progress)
}

// keep records where the partial download came from; it returns how many
// bytes are kept (0: nothing worth keeping, and the file is removed).
func (d *download) keep(rt *ResumeTransport) int64 {
	fi, err := os.Stat(d.path)
	if rt == nil || err != nil || fi.Size() == 0 {
		d.remove()
		return 0
	}
	p := rt.lastZip()
	if p.URL == "" || !strings.HasSuffix(p.URL, "/"+d.mv+".zip") || fi.Size() >= p.Size {
		d.remove()
		return 0
	}
	b, _ := json.Marshal(p)
	if err := atomicfile.WriteFile(d.path+".json", b, 0o644); err != nil {
		d.remove()
		return 0
	}
	return fi.Size()
}

// transient reports whether err may go away on retry: network errors and
// 5xx answers, not a missing version or a checksum mismatch.
func transient(err error) bool {
	if notAvailable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) {
		return false
	}
	var ue *modfetch.UpstreamError
	if errors.As(err, &ue) {
		return ue.Status >= 500 || ue.Status == 429
	}
	var ce *modfetch.ChecksumError
	if errors.As(err, &ce) || errors.Is(err, modfetch.ErrSecurity) {
		return false
	}
	s := err.Error()
	if strings.Contains(s, "checksum") || strings.Contains(s, "SECURITY") || strings.Contains(s, "invalid module zip") {
		return false
	}
	return true
}

// Check runs the installed toolchain's bin/go version and returns its
// output when it reports v for t.
func Check(ctx context.Context, in Installed, t Target) (string, error) {
	return checkGoVersion(ctx, filepath.Join(in.Path, "bin", "go"), in.Version, t, 2*time.Minute)
}

// checkGoVersion runs goBin version and checks that it names v and t.
func checkGoVersion(ctx context.Context, goBin string, v Version, t Target, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "version")
	cmd.Dir = filepath.Dir(goBin)
	// The toolchain must answer for itself: no switching to another one,
	// no GOROOT from the caller's environment.
	cmd.Env = append(withoutEnv(os.Environ(), "GOROOT", "GOTOOLCHAIN", "GOFLAGS"), "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	line := strings.TrimSpace(string(out))
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s version fails: %s", goBin, firstLineOf(msg))
	}
	want := "go version " + v.Go() + " " + t.Slash()
	if firstLineOf(line) != want {
		return "", fmt.Errorf("%s version reports %q, want %q", goBin, firstLineOf(line), want)
	}
	return want, nil
}

func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func withoutEnv(env []string, keys ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, d := range keys {
			if k == d {
				drop = true
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// DiskError is a failure to write a toolchain directory that the user can
// act on: a full disk, a read-only file system, a directory they may not
// write. Nothing was changed.
type DiskError struct {
	Doing string // "creating", "downloading go1.22.5 into"
	Path  string
	Err   error // wraps syscall.ENOSPC, EDQUOT, EROFS or fs.ErrPermission
}

func (e *DiskError) Error() string { return e.Explain("toolchain directory", "the system-wide layout") }

func (e *DiskError) Unwrap() error { return e.Err }

// Explain says what went wrong and what to do, naming the settings as the
// user knows them: dir for the one that chooses the toolchain directory
// (Layout.Dir), system for the one that picks SystemLayout.
func (e *DiskError) Explain(dir, system string) string {
	var why string
	switch {
	case errors.Is(e.Err, syscall.ENOSPC), errors.Is(e.Err, syscall.EDQUOT):
		why = "no space left on device (a toolchain needs about 300 MB: free space there or choose another " + dir + ")"
	case errors.Is(e.Err, syscall.EROFS):
		why = "read-only file system (choose a writable " + dir + ")"
	default:
		why = "permission denied (choose a " + dir + " you can write, or use sudo for " + system + ")"
	}
	return fmt.Sprintf("%s %s: %s; nothing was changed", e.Doing, e.Path, why)
}

// diskError makes the errors users can act on DiskErrors.
func (in *Installer) diskError(doing, where string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission):
		return &DiskError{Doing: doing, Path: where, Err: err}
	}
	return err
}

// removeStaleDownloads removes partial downloads nobody continued.
func removeStaleDownloads(dir string, age time.Duration) {
	m, _ := filepath.Glob(filepath.Join(dir, ".download-*"))
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > age {
			os.Remove(p)
		}
	}
}
