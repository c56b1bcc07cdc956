// Package modproxy is pitstop's caching Go module proxy: an http.Handler
// that speaks the GOPROXY protocol and proxies the checksum database,
// answering from a store (internal/store) and fetching misses through
// internal/modfetch, which verifies every zip and go.mod against the
// checksum database before anything is stored.
//
//   - Immutable answers (.mod, .zip, .info of a canonical version,
//     checksum-database lookups and tiles) are kept until evicted. Lookups
//     and tiles are kept only once verified (modfetch's Fetcher.SumDB), in
//     the store that is also the Fetcher's own verification cache; an
//     unverifiable one is served and kept in memory for ListTTL only. A
//     lookup for a path the Fetcher's GOPRIVATE/GONOSUMDB match is answered
//     here and never forwarded.
//   - @v/list, @latest, .info queries and the database's latest tree head
//     are refreshed after ListTTL and served stale, with an
//     X-Pitstop-Stale header, when the upstream fails.
//   - Not-found answers are remembered for NotFoundTTL.
//   - Concurrent misses for one file make one upstream fetch; clients that
//     ask for a zip while it arrives stream it as it is written (all but
//     its last 64 KiB until it is verified), later ones read the store.
//   - Zips are served from files (sendfile) with Range, ETag and
//     Last-Modified; small answers are served from memory.
package modproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/pitstop-go/pitstop/internal/coord"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/modproxy/policy"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
)

// Defaults for the Handler's zero fields.
const (
	DefaultListTTL     = time.Minute
	DefaultNotFoundTTL = 30 * time.Second
	DefaultStaleWait   = 5 * time.Second
	DefaultMetaTimeout = 2 * time.Minute
	DefaultZipTimeout  = 30 * time.Minute
	DefaultMemCache    = 4 << 20
	DefaultMemRecheck  = 2 * time.Second
	// DefaultMaxZipFetches bounds zip downloads with their verification
	// (checking and hashing a zip is what takes memory).
	DefaultMaxZipFetches = 4
	// DefaultMaxMetaFetches bounds fetches of everything but zips.
	DefaultMaxMetaFetches = 16
	// DefaultAbandonGrace is how long a zip fetch goes on after its last
	// client left, for one that asks again (the go command retries).
	DefaultAbandonGrace = 10 * time.Second
)

// StaleHeader is set on answers served stale because the upstream failed.
const StaleHeader = "X-Pitstop-Stale"

// LoopHeader carries a proxy's LoopToken on its upstream requests.
const LoopHeader = "X-Pitstop-Loop"

// CacheHeader says how an answer was produced: hit, miss or stream.
const CacheHeader = "X-Pitstop-Cache"

// Handler is the proxy. Fetcher and Store are required; every other zero
// field means its default. Set fields before the first request and do not
// change them afterwards.
type Handler struct {
	// Fetcher fetches misses from upstream and verifies them.
	Fetcher *modfetch.Fetcher
	// Store keeps answers; a *store.Disk serves zips with sendfile.
	Store store.Store
	// Logger receives fetch and error logs; nil means slog.Default().
	Logger *slog.Logger
	// Registry, if set, receives the pitstop_proxy_* metrics.
	Registry prometheus.Registerer
	// ListTTL is how long lists, @latest, queries and the checksum
	// database's latest tree head are fresh; 0 means DefaultListTTL.
	ListTTL time.Duration
	// NotFoundTTL is how long a not-found answer is remembered; 0 means
	// DefaultNotFoundTTL, negative disables.
	NotFoundTTL time.Duration
	// StaleWait is how long a request with a stale copy waits for the
	// refresh before it is answered with the stale copy; 0 means
	// DefaultStaleWait.
	StaleWait time.Duration
	// MetaTimeout bounds fetching a small file; ZipTimeout a zip.
	MetaTimeout, ZipTimeout time.Duration
	// MemCache is the bytes of small answers kept in memory; 0 means
	// DefaultMemCache, negative disables.
	MemCache int64
	// MemRecheck is how often an answer served from memory is checked
	// against the store (one stat): that records its use there, so a hot
	// file is not the first evicted, and drops the memory copy when
	// another process (pitstop proxy gc) removed or replaced the file. 0
	// means DefaultMemRecheck.
	MemRecheck time.Duration
	// LoopToken, if set, makes the handler refuse (508) requests carrying
	// it in the LoopHeader header: set the same header on the Fetcher so
	// that an upstream list that leads back here fails at once instead of
	// recursing.
	LoopToken string
	// (Init sets Fetcher.SumDBCache, when nil, to Store: verified
	// checksum-database lookups and tiles are kept there once, for the
	// Fetcher's own verification and for clients alike.)
	//
	// BaseContext is the parent of upstream fetches, which outlive the
	// request that started them (others may be waiting); cancel it to stop
	// them at shutdown. nil means context.Background().
	BaseContext context.Context
	// Coord, if set, makes zip fetches and the refreshes of lists,
	// @latest and queries single flight across replicas that share Store
	// (see internal/coord), and shares those answers and not-founds
	// through it for their TTL; nil dedupes within this process.
	Coord coord.Coordinator
	// MaxZipFetches bounds concurrent zip fetches, each a download and
	// its verification; more wait for a turn. 0 means
	// DefaultMaxZipFetches.
	MaxZipFetches int
	// MaxMetaFetches bounds concurrent fetches of other files; 0 means
	// DefaultMaxMetaFetches.
	MaxMetaFetches int
	// AbandonGrace is how long a zip fetch continues once no client
	// waits for it; then it is cancelled (its upstream connection
	// closed). 0 means DefaultAbandonGrace; negative lets fetches run to
	// the end.
	AbandonGrace time.Duration
	// Policy, if set, gates versions (internal/modproxy/policy): lists,
	// @latest and queries leave out what it does not allow, and a .info,
	// .mod or .zip of a refused version is answered 403 with the rule and
	// its reason. nil serves every version.
	Policy *policy.Source
	// Status, if set, receives upstream health and the misses, upstream
	// errors and refused (tampered) files, for the status page (NewStats).
	Status *service.Stats

	once     sync.Once
	log      *slog.Logger
	m        *metrics
	mem      *memCache
	sf       singleflight.Group
	sumdb    string // the proxied checksum database's name, "" if none
	flMu     sync.Mutex
	flights  map[string]*flight
	negMu    sync.Mutex
	negative map[string]negEntry
	zhMu     sync.RWMutex
	zh       map[string]*zipHeader
	zipSem   chan struct{}
	metaSem  chan struct{}
	initErr  error
}

type negEntry struct {
	until time.Time
	msg   string
}

// Init prepares the handler and registers its metrics; ServeHTTP calls it
// on first use. It reports a metrics registration error.
func (h *Handler) Init() error {
	h.once.Do(func() {
		h.log = h.Logger
		if h.log == nil {
			h.log = slog.Default()
		}
		if h.ListTTL <= 0 {
			h.ListTTL = DefaultListTTL
		}
		if h.NotFoundTTL == 0 {
			h.NotFoundTTL = DefaultNotFoundTTL
		}
		if h.StaleWait <= 0 {
			h.StaleWait = DefaultStaleWait
		}
		if h.MetaTimeout <= 0 {
			h.MetaTimeout = DefaultMetaTimeout
		}
		if h.ZipTimeout <= 0 {
			h.ZipTimeout = DefaultZipTimeout
		}
		if h.MemRecheck <= 0 {
			h.MemRecheck = DefaultMemRecheck
		}
		if h.BaseContext == nil {
			h.BaseContext = context.Background()
		}
		if h.MaxZipFetches <= 0 {
			h.MaxZipFetches = DefaultMaxZipFetches
		}
		if h.MaxMetaFetches <= 0 {
			h.MaxMetaFetches = DefaultMaxMetaFetches
		}
		if h.AbandonGrace == 0 {
			h.AbandonGrace = DefaultAbandonGrace
		}
		h.zipSem = make(chan struct{}, h.MaxZipFetches)
		h.metaSem = make(chan struct{}, h.MaxMetaFetches)
		switch {
		case h.MemCache == 0:
			h.mem = newMemCache(DefaultMemCache, 64<<10)
		case h.MemCache > 0:
			h.mem = newMemCache(h.MemCache, 64<<10)
		}
		if h.Fetcher.SumDBCache == nil {
			h.Fetcher.SumDBCache = storeSumDBCache{h.Store}
		}
		if name, err := h.Fetcher.SumDBName(); err == nil {
			h.sumdb = name
		}
		h.flights = map[string]*flight{}
		h.negative = map[string]negEntry{}
		h.statusInit()
		h.m, h.initErr = newMetrics(h.Registry, h.Store)
		if h.m == nil {
			h.m, _ = newMetrics(nil, h.Store)
		}
	})
	return h.initErr
}

var (
	hdrCType       = "Content-Type"
	hdrCLen        = "Content-Length"
	hdrLastMod     = "Last-Modified"
	hdrETag        = "Etag"
	hdrCacheCtl    = "Cache-Control"
	plainText      = []string{"text/plain; charset=utf-8"}
	jsonType       = "application/json"
	textType       = "text/plain; charset=utf-8"
	zipType        = "application/zip"
	ccImmutable    = "public, max-age=31536000, immutable"
	ccMutable      = "public, max-age=60"
	cacheHit       = []string{"hit"}
	cacheMiss      = []string{"miss"}
	cacheStream    = []string{"stream"}
	hdrCache       = CacheHeader
	noSniffOptions = []string{"nosniff"}
)

// ServeHTTP answers GET and HEAD requests for the GOPROXY protocol and
// /sumdb/<name>/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.Init()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.plain(w, http.StatusMethodNotAllowed, "method not allowed: the module proxy answers GET and HEAD")
		return
	}
	if h.LoopToken != "" && r.Header[LoopHeader] != nil && r.Header.Get(LoopHeader) == h.LoopToken {
		h.plain(w, http.StatusLoopDetected, "pitstop proxy: request loop: the upstream list (--upstream or go env GOPROXY) leads back to this proxy")
		return
	}
	// Fast path: a fresh answer in memory is keyed by the very path it
	// was parsed and checked from, so it needs no parsing again.
	if p := r.URL.Path; len(p) > 1 && h.Policy == nil {
		if e := h.memHit(p[1:]); e != nil {
			service.SetRoute(w, kindNames[e.kind])
			h.m.request(e.kind, resHit, int64(len(e.data)))
			writeMem(w, r, e, cacheHit)
			return
		}
	}
	req, err := ParseRequest(r.URL.Path)
	if err != nil {
		var re *RequestError
		errors.As(err, &re)
		h.m.request(KindOther, resBad, 0)
		service.SetRoute(w, "bad")
		h.plain(w, re.Status, re.Msg)
		return
	}
	service.SetRoute(w, req.Kind.String())
	if h.Policy != nil && h.gate(w, r, req) {
		return
	}
	if req.Kind == KindSumDB {
		if h.sumdb == "" || req.SumDB != h.sumdb {
			h.m.request(req.Kind, resNotFound, 0)
			h.plain(w, http.StatusNotFound, "not found: this proxy does not proxy checksum database "+req.SumDB)
			return
		}
		if req.SumDBPath == "supported" {
			h.m.request(req.Kind, resHit, 0)
			w.WriteHeader(http.StatusOK)
			return
		}
		if req.Path != "" {
			// A private module's path never leaves this machine.
			if err := h.Fetcher.PrivateLookup(req.Path); err != nil {
				h.m.request(req.Kind, resNotFound, 0)
				h.plain(w, http.StatusNotFound, err.Error())
				return
			}
		}
	}
	if req.Kind == KindZip {
		h.serveZip(w, r, req)
		return
	}
	h.serveMeta(w, r, req)
}

func (h *Handler) plain(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	hd[hdrCType] = plainText
	hd["X-Content-Type-Options"] = noSniffOptions
	hd[hdrCacheCtl] = []string{"no-store"}
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

func contentType(k Kind) string {
	switch k {
	case KindInfo, KindLatest:
		return jsonType
	}
	return textType
}

func (h *Handler) fresh(req Request, mod time.Time) bool {
	return req.Immutable() || time.Since(mod) < h.ListTTL
}

// serveMeta answers everything but zips: small files, from memory, the
// store or upstream.
func (h *Handler) serveMeta(w http.ResponseWriter, r *http.Request, req Request) {
	e := h.memHit(req.Key)
	if e == nil {
		e = h.fleetMeta(r.Context(), req)
	}
	if e != nil {
		h.m.request(req.Kind, resHit, int64(len(e.data)))
		writeMem(w, r, e, cacheHit)
		return
	}
	var stale *memEntry
	if obj, err := h.Store.Get(r.Context(), req.Key); err == nil {
		data, rerr := readAllLimit(obj.Body, modfetch.MaxMetaSize)
		obj.Close()
		if rerr == nil {
			e := h.remember(req, data, obj.ModTime)
			if h.fresh(req, obj.ModTime) {
				h.m.request(req.Kind, resHit, int64(len(data)))
				writeMem(w, r, e, cacheHit)
				return
			}
			stale = e
		}
	}
	if msg, ok := h.isNegative(req.Key); ok && stale == nil {
		h.m.request(req.Kind, resNotFound, 0)
		h.plain(w, http.StatusNotFound, msg)
		return
	}
	ch := h.sf.DoChan(req.Key, func() (any, error) { return h.fetchMeta(req) })
	var timer <-chan time.Time
	if stale != nil {
		t := time.NewTimer(h.StaleWait)
		defer t.Stop()
		timer = t.C
	}
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-timer:
		res.Err = fmt.Errorf("upstream did not answer within %v", h.StaleWait)
	case <-r.Context().Done():
		return
	}
	if res.Err == nil {
		e := res.Val.(*memEntry)
		h.m.request(req.Kind, resMiss, int64(len(e.data)))
		writeMem(w, r, e, cacheMiss)
		return
	}
	if stale != nil {
		h.m.request(req.Kind, resStale, int64(len(stale.data)))
		w.Header().Set(StaleHeader, fmt.Sprintf("upstream failed (%s); this answer is from %s", oneLine(res.Err), stale.modTime.UTC().Format(time.RFC3339)))
		writeMem(w, r, stale, cacheHit)
		return
	}
	h.fail(w, req, res.Err)
}

// fail answers an upstream failure: 404 with the upstream's words for
// not-found, 502 otherwise.
func (h *Handler) fail(w http.ResponseWriter, req Request, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		h.m.request(req.Kind, resNotFound, 0)
		h.plain(w, http.StatusNotFound, "not found: "+strings.TrimPrefix(oneLine(err), "not found: "))
		return
	}
	h.m.request(req.Kind, resError, 0)
	if storageDown(err) {
		h.log.Warn("shared storage unavailable", "key", req.Key, "err", err)
		h.plain(w, http.StatusServiceUnavailable, "pitstop proxy: not cached here and the shared storage is unreachable: "+oneLine(err))
		return
	}
	h.log.Warn("upstream fetch failed", "key", req.Key, "err", err)
	h.plain(w, http.StatusBadGateway, "pitstop proxy: "+clientMessage(err))
}

// clientMessage is what a client is told of a failure: the upstream's
// words, but never the server's file names (a store or file system error
// says only that the server failed; its log has the details).
func clientMessage(err error) string {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.Is(err, store.ErrFull), errors.Is(err, syscall.ENOSPC):
		return "the proxy's store is full (files in flight or the disk); try again later"
	case errors.Is(err, store.ErrTooLarge):
		return "the file is larger than the proxy's store may hold"
	case errors.As(err, &pe), errors.As(err, &le), errors.As(err, &se):
		return "the proxy failed to store or read a file; its log says why"
	}
	return oneLine(err)
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " ")
}

// memHit returns the fresh in-memory answer for key, or nil. Every
// MemRecheck, one request for the key checks it against the store
// (Touch, else Stat): a file gone or replaced there drops the memory copy.
func (h *Handler) memHit(key string) *memEntry {
	e := h.mem.get(key)
	if e == nil {
		return nil
	}
	now := time.Now()
	if !e.immutable && now.Sub(e.modTime) >= h.ListTTL {
		return nil
	}
	n := now.UnixNano()
	// A mutable answer a fleet shares is checked against the coordinator
	// when it expires, not against the shared store (that would be an S3
	// request per key every MemRecheck).
	if c := e.checked.Load(); n-c >= int64(h.MemRecheck) && (e.immutable || h.Coord == nil) && e.checked.CompareAndSwap(c, n) {
		var info store.Info
		var err error
		if t, ok := h.Store.(toucher); ok {
			info, err = t.Touch(h.BaseContext, key)
		} else {
			info, err = h.Store.Stat(h.BaseContext, key)
		}
		if err != nil || info.Size != int64(len(e.data)) || !info.ModTime.Equal(e.modTime) {
			h.mem.drop(key, e)
			return nil
		}
	}
	return e
}

// toucher is a store that records a use without opening the object
// (store.Disk).
type toucher interface {
	Touch(ctx context.Context, key string) (store.Info, error)
}

// remember puts a small answer in memory (if it fits) and returns an entry
// to serve it from.
func (h *Handler) remember(req Request, data []byte, mod time.Time) *memEntry {
	return h.rememberAs(req, data, mod, req.Immutable())
}

// rememberAs is remember with the answer's immutability given: an
// unverified checksum-database answer is mutable whatever its kind.
func (h *Handler) rememberAs(req Request, data []byte, mod time.Time, immutable bool) *memEntry {
	cc := ccMutable
	if immutable {
		cc = ccImmutable
	}
	if e := h.mem.put(req.Key, req, data, mod, contentType(req.Kind), cc, immutable); e != nil {
		return e
	}
	return newMemCache(int64(len(data))+1, len(data)+1).put("", req, data, mod, contentType(req.Kind), cc, immutable)
}

func (h *Handler) fetchMeta(req Request) (any, error) {
	ctx, cancel := context.WithTimeout(h.BaseContext, h.MetaTimeout)
	defer cancel()
	start := time.Now()
	share, landed, err := h.fleetMetaTurn(ctx, req)
	if landed != nil {
		return landed, nil
	} else if err != nil {
		return nil, err
	}
	var shared []byte
	var sharedMod time.Time
	defer func() { share(shared, sharedMod) }()
	select {
	case h.metaSem <- struct{}{}:
		defer func() { <-h.metaSem }()
	case <-ctx.Done():
		err := fmt.Errorf("waiting for a turn to fetch from upstream (%d fetches at once): %w", h.MaxMetaFetches, ctx.Err())
		h.observeFetch(req, start, err)
		return nil, err
	}
	var data []byte
	verified := true // everything but checksum-database answers is checked by Fetcher
	f := h.Fetcher
	switch req.Kind {
	case KindList:
		data, err = f.ListRaw(ctx, req.Path)
	case KindLatest:
		_, data, err = f.Latest(ctx, req.Path)
	case KindInfo:
		if req.Query {
			_, data, err = f.Info(ctx, req.Path, req.Version)
		} else {
			data, err = f.InfoRaw(ctx, req.Path, req.Version)
		}
	case KindMod:
		data, err = f.GoMod(ctx, req.Path, req.Version)
	case KindSumDB:
		data, verified, err = f.SumDB(ctx, req.SumDB, req.SumDBPath)
	default:
		err = fmt.Errorf("unexpected request kind %v", req.Kind)
	}
	h.observeFetch(req, start, err)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			h.setNegative(req.Key, "not found: "+strings.TrimPrefix(oneLine(err), "not found: "))
		}
		return nil, err
	}
	h.clearNegative(req.Key)
	now := time.Now()
	fetched := now // the TTL base shared with the fleet (the store's time may be truncated)
	switch {
	case req.Kind == KindSumDB && req.Immutable():
		// Verified lookups and tiles are already in the store: the
		// Fetcher's checksum-database cache is the store (SumDBCache).
		// An unverified one is served, kept in memory for ListTTL only.
		if !verified {
			return h.rememberAs(req, data, now, false), nil
		}
		if info, serr := h.Store.Stat(ctx, req.Key); serr == nil && info.Size == int64(len(data)) {
			now = info.ModTime
		}
	default:
		if perr := h.Store.Put(ctx, req.Key, bytes.NewReader(data)); perr != nil {
			h.log.Error("storing failed; answering from memory", append(req.logAttrs(), "err", perr)...)
		} else if info, serr := h.Store.Stat(ctx, req.Key); serr == nil {
			now = info.ModTime
		}
	}
	shared, sharedMod = data, fetched
	return h.remember(req, data, now), nil
}

func (h *Handler) observeFetch(req Request, start time.Time, err error, extra ...any) {
	res := "ok"
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		res = "notfound"
	default:
		res = "error"
	}
	h.m.fetch(req.Kind, res, time.Since(start))
	h.statusFetch(req, time.Since(start), err)
	if res != "error" {
		h.log.Debug("upstream fetch", "key", req.Key, "result", res, "duration", time.Since(start), "err", err)
		return
	}
	attrs := append(append(req.logAttrs(), extra...), "duration", time.Since(start).Round(time.Millisecond), "err", err)
	var ce *modfetch.ChecksumError
	if errors.As(err, &ce) {
		h.log.Error("checksum mismatch: upstream sent other content than the checksum database records", attrs...)
		return
	}
	h.log.Warn("upstream fetch failed", attrs...)
}

// logAttrs names the module and version (or the checksum database path)
// in a log line.
func (req Request) logAttrs() []any {
	if req.Kind == KindSumDB {
		return []any{"kind", req.Kind.String(), "path", req.SumDBPath}
	}
	a := []any{"kind", req.Kind.String(), "module", req.Path}
	if req.Version != "" {
		a = append(a, "version", req.Version)
	}
	return a
}

func (h *Handler) isNegative(key string) (string, bool) {
	if msg, ok := h.isNegativeHere(key); ok {
		return msg, ok
	}
	return h.fleetNegative(key)
}

func (h *Handler) isNegativeHere(key string) (string, bool) {
	if h.NotFoundTTL < 0 {
		return "", false
	}
	h.negMu.Lock()
	defer h.negMu.Unlock()
	e, ok := h.negative[key]
	if !ok {
		return "", false
	}
	if time.Now().After(e.until) {
		delete(h.negative, key)
		return "", false
	}
	return e.msg, true
}

func (h *Handler) setNegative(key, msg string) {
	if h.NotFoundTTL < 0 {
		return
	}
	h.shareNegative(key, msg)
	now := time.Now()
	h.negMu.Lock()
	defer h.negMu.Unlock()
	if len(h.negative) > 10000 {
		for k, e := range h.negative {
			if now.After(e.until) {
				delete(h.negative, k)
			}
		}
		if len(h.negative) > 10000 {
			clear(h.negative)
		}
	}
	h.negative[key] = negEntry{until: now.Add(h.NotFoundTTL), msg: msg}
}

func (h *Handler) clearNegative(key string) {
	h.negMu.Lock()
	delete(h.negative, key)
	h.negMu.Unlock()
}

// writeMem writes an in-memory answer; conditional and Range requests go
// through http.ServeContent.
func writeMem(w http.ResponseWriter, r *http.Request, e *memEntry, how []string) {
	hd := w.Header()
	hd[hdrCType] = e.ctype
	hd[hdrLastMod] = e.lastMod
	hd[hdrETag] = e.etag
	hd[hdrCacheCtl] = e.cc
	hd[hdrCache] = how
	rh := r.Header
	if rh["Range"] != nil || rh["If-None-Match"] != nil || rh["If-Modified-Since"] != nil || rh["If-Range"] != nil {
		delete(hd, hdrLastMod) // ServeContent sets it from modtime
		http.ServeContent(w, r, "", e.modTime, bytes.NewReader(e.data))
		return
	}
	hd[hdrCLen] = e.clen
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Write(e.data)
}

func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("stored answer too large")
	}
	return b, nil
}

// storeSumDBCache keeps the Fetcher's verified checksum-database answers
// in the store under the keys the proxy serves them from
// ("sumdb/<name>/lookup/...", "sumdb/<name>/tile/...").
type storeSumDBCache struct{ st store.Store }

func (c storeSumDBCache) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := c.st.Get(ctx, "sumdb/"+key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return readAllLimit(obj.Body, modfetch.MaxMetaSize)
}

func (c storeSumDBCache) Put(ctx context.Context, key string, data []byte) error {
	return c.st.Put(ctx, "sumdb/"+key, bytes.NewReader(data))
}
