package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
)

// Tiered is a bounded local disk store in front of a shared remote store
// (S3). Objects are immutable by name in every use pitstop makes of a
// fleet (module files, build outputs), so a local hit is served without
// asking the remote: a warm hit never leaves the machine. A miss reads the
// remote once, keeps a copy locally and serves the copy (sendfile). Writes
// go to the remote first, then to the local tier.
//
// Usage and Trim are the remote's (the fleet-wide cap); the local tier
// evicts under its own MaxSize.
type Tiered struct {
	Local  *Disk
	Remote Store
	Logger *slog.Logger // nil discards
	// Mutable, if set, reports keys whose objects get replaced (a module
	// list): those are read from the remote every time, never kept locally.
	Mutable func(key string) bool
}

func (t *Tiered) mutable(key string) bool { return t.Mutable != nil && t.Mutable(key) }

func (t *Tiered) log() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

// Get implements Store: the local copy if there is one, else the remote's,
// copied into the local tier on the way.
func (t *Tiered) Get(ctx context.Context, key string) (Object, error) {
	if t.mutable(key) {
		return t.Remote.Get(ctx, key)
	}
	obj, err := t.Local.Get(ctx, key)
	if err == nil {
		t.touchRemote(key)
		return obj, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return obj, err
	}
	robj, err := t.Remote.Get(ctx, key)
	if err != nil {
		return Object{}, err
	}
	w, err := t.Local.Create(ctx, key)
	if err != nil {
		return robj, nil
	}
	defer w.Abort()
	_, cerr := io.Copy(w, robj.Body)
	if cerr == nil {
		cerr = w.Commit()
	}
	if cerr != nil {
		robj.Close()
		if errors.Is(cerr, ErrTooLarge) {
			// Larger than the local tier can hold: serve the remote.
			return t.Remote.Get(ctx, key)
		}
		return Object{}, cerr
	}
	robj.Close()
	obj, err = t.Local.Get(ctx, key)
	if errors.Is(err, fs.ErrNotExist) { // evicted at once by a tiny cap
		return t.Remote.Get(ctx, key)
	}
	return obj, err
}

// GetFile is Get with the local tier opening its file as Disk.GetFile
// does (no poller registration: the proxy sends it with sendfile).
func (t *Tiered) GetFile(ctx context.Context, key string) (Object, error) {
	if !t.mutable(key) {
		if obj, err := t.Local.GetFile(ctx, key); err == nil {
			t.touchRemote(key)
			return obj, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return obj, err
		}
	}
	return t.Get(ctx, key)
}

// touchRemote tells the remote of a use served locally, so its eviction
// order follows real use (s3store.Store.Touch makes no request).
func (t *Tiered) touchRemote(key string) {
	if tc, ok := t.Remote.(interface{ Touch(string) }); ok {
		tc.Touch(key)
	}
}

// Touch records a use of key without opening it, as Disk.Touch does: the
// local tier's eviction order and the remote's both see it. A key the
// local tier lacks (or a mutable one) is the remote's Stat.
func (t *Tiered) Touch(ctx context.Context, key string) (Info, error) {
	if !t.mutable(key) {
		in, err := t.Local.Touch(ctx, key)
		if err == nil {
			t.touchRemote(key)
			return in, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return in, err
		}
	}
	return t.Remote.Stat(ctx, key)
}

// Stat implements Store.
func (t *Tiered) Stat(ctx context.Context, key string) (Info, error) {
	if t.mutable(key) {
		return t.Remote.Stat(ctx, key)
	}
	in, err := t.Local.Stat(ctx, key)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return in, err
	}
	return t.Remote.Stat(ctx, key)
}

// Put implements Store.
func (t *Tiered) Put(ctx context.Context, key string, r io.Reader) error {
	w, err := t.Create(ctx, key)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	return w.Commit()
}

// Create implements Store: the content goes to both tiers; Commit makes it
// visible in the remote, then in the local tier.
func (t *Tiered) Create(ctx context.Context, key string) (Writer, error) {
	rw, err := t.Remote.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	if t.mutable(key) {
		return rw, nil
	}
	lw, err := t.Local.Create(ctx, key)
	if err != nil {
		t.log().Warn("store: local tier", "key", key, "err", err)
		lw = nil
	}
	return &tieredWriter{t: t, key: key, rw: rw, lw: lw}, nil
}

type tieredWriter struct {
	t   *Tiered
	key string
	rw  Writer
	lw  Writer // nil once the local copy failed
}

func (w *tieredWriter) Write(b []byte) (int, error) {
	n, err := w.rw.Write(b)
	if w.lw != nil {
		if _, lerr := w.lw.Write(b[:n]); lerr != nil {
			w.lw.Abort()
			w.lw = nil
		}
	}
	return n, err
}

func (w *tieredWriter) ReadAt(b []byte, off int64) (int, error) { return w.rw.ReadAt(b, off) }
func (w *tieredWriter) Size() int64                             { return w.rw.Size() }

// Name names a file holding what was written, when the remote's writer has
// one (modfetch.ZipWriter: the proxy checks a zip by its file).
func (w *tieredWriter) Name() string {
	if n, ok := w.rw.(interface{ Name() string }); ok {
		return n.Name()
	}
	if n, ok := w.lw.(interface{ Name() string }); ok {
		return n.Name()
	}
	return ""
}

func (w *tieredWriter) Abort() error {
	if w.lw != nil {
		w.lw.Abort()
	}
	return w.rw.Abort()
}

func (w *tieredWriter) Commit() error {
	if err := w.rw.Commit(); err != nil {
		w.Abort()
		return err
	}
	if w.lw != nil {
		if err := w.lw.Commit(); err != nil && !errors.Is(err, ErrTooLarge) {
			w.t.log().Warn("store: local tier", "key", w.key, "err", err)
		}
	}
	return nil
}

// Delete implements Store: both tiers.
func (t *Tiered) Delete(ctx context.Context, key string) error {
	if err := t.Remote.Delete(ctx, key); err != nil {
		return err
	}
	return t.Local.Delete(ctx, key)
}

// Usage implements Trimmer: the remote's when it accounts, else the local
// tier's.
func (t *Tiered) Usage() Usage {
	if tr, ok := t.Remote.(Trimmer); ok {
		return tr.Usage()
	}
	return t.Local.Usage()
}

// Trim implements Trimmer: it trims the remote (the fleet's cap).
func (t *Tiered) Trim(ctx context.Context, target int64) error {
	if tr, ok := t.Remote.(Trimmer); ok {
		return tr.Trim(ctx, target)
	}
	return t.Local.Trim(ctx, target)
}
