package modproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/store"
)

// holdBack is how much of a zip's end streaming clients wait for until the
// zip is verified. A zip's central directory is at its end, so a client
// cut off before it has nothing it can use.
const holdBack = 64 << 10

// flight is one upstream zip fetch that clients follow as it arrives.
type flight struct {
	key string

	mu      sync.Mutex
	written int64
	total   int64 // Content-Length from upstream, -1 if unknown
	done    bool
	err     error
	notify  chan struct{} // closed and replaced on every change

	rw sync.RWMutex // readers of w hold R; Commit and Abort hold W
	w  store.Writer

	cancel   context.CancelCauseFunc // cancels the fetch
	waiters  int                     // clients following it; under mu
	abandon  *time.Timer             // cancels it once no client follows; under mu
	streamed int                     // clients that got part of it; under mu
}

// errAbandoned cancels a zip fetch no client waits for any more.
var errAbandoned = errors.New("every client waiting for the zip left")

// join counts a client following fl and stops a pending cancellation.
func (fl *flight) join() {
	fl.mu.Lock()
	fl.waiters++
	if fl.abandon != nil {
		fl.abandon.Stop()
		fl.abandon = nil
	}
	fl.mu.Unlock()
}

// leave counts a client gone; the last one out starts the grace period
// after which the fetch is cancelled.
func (fl *flight) leave(grace time.Duration) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fl.waiters--
	if fl.waiters > 0 || fl.done || grace < 0 {
		return
	}
	fl.abandon = time.AfterFunc(grace, func() {
		fl.mu.Lock()
		idle := fl.waiters == 0 && !fl.done
		fl.mu.Unlock()
		if idle {
			fl.cancel(errAbandoned)
		}
	})
}

func (fl *flight) state() (written, total int64, done bool, ch <-chan struct{}, err error) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.written, fl.total, fl.done, fl.notify, fl.err
}

func (fl *flight) update(fn func()) {
	fl.mu.Lock()
	fn()
	close(fl.notify)
	fl.notify = make(chan struct{})
	fl.mu.Unlock()
}

func (h *Handler) serveZip(w http.ResponseWriter, r *http.Request, req Request) {
	served, err := h.serveStoredErr(w, r, req, cacheHit)
	if served {
		h.m.request(req.Kind, resHit, 0)
		return
	}
	if msg, ok := h.isNegative(req.Key); ok {
		h.m.request(req.Kind, resNotFound, 0)
		h.plain(w, http.StatusNotFound, msg)
		return
	}
	if storageDown(err) {
		// Shared storage is unreachable: a fetched zip could not be
		// stored, so say so now rather than after downloading it.
		h.fail(w, req, err)
		return
	}
	fl, stored := h.flightFor(req)
	if stored {
		if h.serveStored(w, r, req, cacheHit) {
			h.m.request(req.Kind, resHit, 0)
			return
		}
		fl, _ = h.flightFor(req)
	}
	h.follow(w, r, req, fl)
}

// serveStored answers from the store if the zip is there.
//
// A plain GET or HEAD (no Range, no conditions) is answered with headers
// prepared once per stored file and the body sent with sendfile straight
// from the opened file: the syscalls are open, fstat, one write of the
// headers, sendfile and close. Range and conditional requests go through
// http.ServeContent.
func (h *Handler) serveStored(w http.ResponseWriter, r *http.Request, req Request, how []string) bool {
	served, _ := h.serveStoredErr(w, r, req, how)
	return served
}

// serveStoredErr is serveStored that also returns why the store had no
// answer (fs.ErrNotExist, store.ErrUnavailable, ...).
func (h *Handler) serveStoredErr(w http.ResponseWriter, r *http.Request, req Request, how []string) (bool, error) {
	var obj store.Object
	var err error
	if fg, ok := h.Store.(fileGetter); ok {
		obj, err = fg.GetFile(r.Context(), req.Key)
	} else {
		obj, err = h.Store.Get(r.Context(), req.Key)
	}
	if err != nil {
		return false, err
	}
	defer obj.Close()
	zh := h.zipHeaders(req.Key, obj.Size, obj.ModTime)
	hd := w.Header()
	hd[hdrCType] = zipCType
	hd[hdrETag] = zh.etag
	hd[hdrCacheCtl] = ccImmutableV
	hd[hdrCache] = how
	rh := r.Header
	if rh["Range"] != nil || rh["If-None-Match"] != nil || rh["If-Modified-Since"] != nil || rh["If-Range"] != nil || rh["If-Match"] != nil || rh["If-Unmodified-Since"] != nil {
		// ServeContent handles Range and the conditions (and HEAD).
		http.ServeContent(w, r, "", obj.ModTime, obj.Body)
		return true, nil
	}
	hd[hdrLastMod] = zh.lastMod
	hd[hdrCLen] = zh.clen
	hd[hdrAcceptRanges] = acceptBytes
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead || obj.Size == 0 {
		return true, nil
	}
	// Send the headers now: net/http would otherwise read and write the
	// first 512 bytes through user space before switching to sendfile.
	// The LimitedReader stops sendfile at the size instead of asking once
	// more for EOF.
	http.NewResponseController(w).Flush()
	io.Copy(w, &io.LimitedReader{R: obj.Body, N: obj.Size})
	return true, nil
}

// fileGetter is a store that opens objects without the poller
// registration os.OpenFile attempts (store.Disk).
type fileGetter interface {
	GetFile(ctx context.Context, key string) (store.Object, error)
}

var (
	zipCType         = []string{zipType}
	ccImmutableV     = []string{ccImmutable}
	acceptBytes      = []string{"bytes"}
	hdrAcceptRanges  = "Accept-Ranges"
	maxZipHeaderKeys = 4096
)

// zipHeader is the prepared header values of one stored zip.
type zipHeader struct {
	size                int64
	mod                 time.Time
	etag, lastMod, clen []string
}

// zipHeaders returns the header values for the stored zip key of the
// given size and modification time, prepared on its first use.
func (h *Handler) zipHeaders(key string, size int64, mod time.Time) *zipHeader {
	h.zhMu.RLock()
	zh := h.zh[key]
	h.zhMu.RUnlock()
	if zh != nil && zh.size == size && zh.mod.Equal(mod) {
		return zh
	}
	zh = &zipHeader{
		size:    size,
		mod:     mod,
		etag:    []string{etagOf(size, mod)},
		lastMod: []string{mod.UTC().Format(http.TimeFormat)},
		clen:    []string{strconv.FormatInt(size, 10)},
	}
	h.zhMu.Lock()
	if h.zh == nil || len(h.zh) >= maxZipHeaderKeys {
		h.zh = map[string]*zipHeader{}
	}
	h.zh[key] = zh
	h.zhMu.Unlock()
	return zh
}

// flightFor returns the running fetch of req's zip, starting one if none
// runs. stored reports that the zip arrived in the store meanwhile.
func (h *Handler) flightFor(req Request) (fl *flight, stored bool) {
	h.flMu.Lock()
	defer h.flMu.Unlock()
	if fl := h.flights[req.Key]; fl != nil {
		return fl, false
	}
	// A fetch may have finished between our miss and taking the lock.
	if _, err := h.Store.Stat(context.Background(), req.Key); err == nil {
		return nil, true
	}
	ctx, cancel := context.WithTimeout(h.BaseContext, h.ZipTimeout)
	ctx, cancelCause := context.WithCancelCause(ctx)
	fl = &flight{key: req.Key, total: -1, notify: make(chan struct{}), cancel: cancelCause}
	h.flights[req.Key] = fl
	go func() {
		defer cancel()
		h.runFlight(ctx, fl, req)
	}()
	return fl, false
}

func (h *Handler) runFlight(ctx context.Context, fl *flight, req Request) {
	start := time.Now()
	var err error
	select {
	case h.zipSem <- struct{}{}:
		err = h.fetchZip(ctx, fl, req)
		<-h.zipSem
	case <-ctx.Done():
		err = fmt.Errorf("waiting for a turn to fetch (%d zips at once): %w", h.MaxZipFetches, context.Cause(ctx))
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, context.Cause(ctx)) {
		// Cancelled (abandoned, timed out, shutting down): say why, not
		// only what the cancellation broke on the way.
		err = fmt.Errorf("%w: %v", context.Cause(ctx), err)
	}
	fl.mu.Lock()
	written, streamed := fl.written, fl.streamed
	fl.mu.Unlock()
	switch {
	case err == nil:
		h.observeFetch(req, start, nil)
		h.clearNegative(req.Key)
		h.log.Info("fetched", "module", req.Path, "version", req.Version, "bytes", written, "duration", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, errAbandoned):
		h.m.fetch(req.Kind, "error", time.Since(start))
		h.log.Info("zip fetch cancelled: no client waits for it", "module", req.Path, "version", req.Version, "bytes", written, "grace", h.AbandonGrace)
	case isNotFound(err):
		h.observeFetch(req, start, err)
		h.setNegative(req.Key, "not found: "+trimNotFound(err))
	default:
		// A failure after streaming began cuts the clients off mid-zip:
		// say so, as the access log shows only an aborted 200.
		var extra []any
		if streamed > 0 {
			extra = []any{"streamed_to", streamed, "bytes", written, "clients", "cut off mid-zip"}
		}
		h.observeFetch(req, start, err, extra...)
	}
	fl.update(func() { fl.done, fl.err = true, err })
	h.flMu.Lock()
	delete(h.flights, req.Key)
	h.flMu.Unlock()
}

func (h *Handler) fetchZip(ctx context.Context, fl *flight, req Request) error {
	release, landed, err := h.fleetLock(ctx, req)
	if err != nil || landed {
		return err // landed: another replica stored it; followers serve that
	}
	stored := false
	defer func() { release(stored) }()
	sw, err := h.Store.Create(ctx, req.Key)
	if err != nil {
		return err
	}
	zw, ok := sw.(modfetch.ZipWriter)
	if !ok {
		sw.Abort()
		return errors.New("store writer has no file name; the proxy needs a disk store")
	}
	fl.rw.Lock()
	fl.w = sw
	fl.rw.Unlock()
	reserved := false
	_, err = h.Fetcher.Zip(ctx, req.Path, req.Version, zw, func(n, total int64) {
		if !reserved && total > 0 {
			// Take room under the store's cap for the whole zip now: a
			// failure stops the download at its first write instead of
			// after streaming it (the writer's error is sticky).
			reserved = true
			if r, ok := sw.(store.Reserver); ok {
				r.Reserve(total)
			}
		}
		fl.update(func() { fl.written, fl.total = n, total })
	})
	fl.rw.Lock()
	defer fl.rw.Unlock()
	if err != nil {
		sw.Abort()
		return err
	}
	err = sw.Commit()
	stored = err == nil
	return err
}

// follow streams fl's zip to the client as it arrives.
func (h *Handler) follow(w http.ResponseWriter, r *http.Request, req Request, fl *flight) {
	fl.join()
	defer fl.leave(h.AbandonGrace)
	// Range and HEAD requests simply wait for the stored file.
	waitOnly := r.Method == http.MethodHead || r.Header["Range"] != nil
	var off int64
	sent := false
	buf := make([]byte, 0)
	for {
		written, total, done, ch, err := fl.state()
		if done {
			if err != nil {
				if !sent {
					h.fail(w, req, err)
					return
				}
				h.m.request(req.Kind, resError, 0)
				// Cut the connection: the client must not take a partial zip.
				panic(http.ErrAbortHandler)
			}
			if !sent {
				if h.serveStored(w, r, req, cacheMiss) {
					h.m.request(req.Kind, resMiss, 0)
					return
				}
				h.fail(w, req, errors.New("zip was stored and evicted at once: the store is too small (--max-size)"))
				return
			}
			obj, gerr := h.Store.Get(r.Context(), req.Key)
			if gerr != nil {
				panic(http.ErrAbortHandler)
			}
			_, serr := obj.Body.Seek(off, io.SeekStart)
			if serr == nil {
				_, serr = io.Copy(w, obj.Body)
			}
			obj.Close()
			if serr != nil {
				panic(http.ErrAbortHandler)
			}
			h.m.request(req.Kind, resMiss, 0)
			return
		}
		if avail := written - holdBack; !waitOnly && avail > off {
			if !sent {
				hd := w.Header()
				hd[hdrCType] = []string{zipType}
				hd[hdrCache] = cacheStream
				if total >= 0 {
					hd[hdrCLen] = []string{strconv.FormatInt(total, 10)}
				}
				w.WriteHeader(http.StatusOK)
				sent = true
				fl.update(func() { fl.streamed++ })
				buf = make([]byte, 256<<10)
			}
			stuck := false
			for off < avail {
				n := int(min(int64(len(buf)), avail-off))
				fl.rw.RLock()
				var rerr error
				if fl.w != nil {
					n, rerr = fl.w.ReadAt(buf[:n], off)
				} else {
					rerr = errors.New("no writer")
				}
				fl.rw.RUnlock()
				if rerr != nil && !(errors.Is(rerr, io.EOF) && n > 0) {
					// Committed or aborted under us: wait and see.
					stuck = true
					break
				}
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				off += int64(n)
			}
			http.NewResponseController(w).Flush()
			if !stuck {
				continue
			}
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, os.ErrNotExist) }

func trimNotFound(err error) string {
	return strings.TrimPrefix(oneLine(err), "not found: ")
}
