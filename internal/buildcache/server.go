package buildcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Server is the shared cache's http.Handler. Objects live in Store under
// "o/xx/<outputid>", action entries under "a/xx/<actionid>" and build
// manifests under "m/<sha256 of the key>"; the store's size cap evicts the
// least recently used of them.
//
// API (IDs are 64 hex digits):
//
//	GET  /v1/get/{action}     the object, with X-Pitstop-Output-Id and X-Pitstop-Size; 404 on a miss
//	PUT  /v1/put/{action}     body = object; headers X-Pitstop-Output-Id, X-Pitstop-Size; sha256 checked;
//	                          409 if the action already maps to another output
//	POST /v1/batch            body = action IDs, one a line; answer = a stream of header line + bytes
//	GET|PUT /v1/manifest/{key} the action IDs the last builds of key used
//	GET  /v1/stats            the store's usage as JSON (store.Usage)
//	POST /v1/trim?max-size=N  evict down to N bytes (admin)
//	DELETE /v1/action/{action} forget what the action maps to (admin), so that it can be mapped again
//
// Access (for service.Server.Access) sorts these into read, write and
// admin requests.
//
// An action, once mapped, keeps its output: a PUT offering another output
// for it is refused and logged at warn with the client's address, so a
// client that may write cannot change what an action already gives the
// others. An action whose object is gone (evicted or damaged) is unmapped
// and may be mapped again; an admin repairs a bad entry with DELETE.
type Server struct {
	// Store holds everything; required.
	Store store.Trimmer
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
	// MaxObject bounds one uploaded object; 0 means 1 GiB.
	MaxObject int64

	once sync.Once
	mux  *http.ServeMux
	m    serverMetrics
	// locks serialize the check and the write of an action's entry, so
	// that of two PUTs racing to map an action, one wins and the other is
	// refused. Stripes keyed by the action's first byte.
	locks [64]sync.Mutex
}

type serverMetrics struct {
	gets      *prometheus.CounterVec // result: hit, miss, error
	puts      *prometheus.CounterVec // result: ok, rejected, error
	bytesOut  prometheus.Counter
	bytesIn   prometheus.Counter
	batchObjs prometheus.Counter
	corrupt   prometheus.Counter
}

func (s *Server) init() {
	s.once.Do(func() {
		s.m = serverMetrics{
			gets: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "pitstop_cache_gets_total", Help: "Action lookups by result (hit, miss, error), single and batched.",
			}, []string{"result"}),
			puts: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "pitstop_cache_puts_total", Help: "Uploads by result (ok, unchanged, rejected, conflict, error).",
			}, []string{"result"}),
			bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "pitstop_cache_sent_bytes_total", Help: "Object bytes sent (before compression).",
			}),
			bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "pitstop_cache_received_bytes_total", Help: "Object bytes accepted.",
			}),
			batchObjs: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "pitstop_cache_batch_objects_total", Help: "Objects sent in batch (prefetch) answers.",
			}),
			corrupt: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "pitstop_cache_corrupt_total", Help: "Stored objects found damaged (wrong size) and dropped.",
			}),
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v1/get/{action}", s.handleGet)
		mux.HandleFunc("PUT /v1/put/{action}", s.handlePut)
		mux.HandleFunc("POST /v1/batch", s.handleBatch)
		mux.HandleFunc("GET /v1/manifest/{key}", s.handleGetManifest)
		mux.HandleFunc("PUT /v1/manifest/{key}", s.handlePutManifest)
		mux.HandleFunc("GET /v1/stats", s.handleStats)
		mux.HandleFunc("POST /v1/trim", s.handleTrim)
		mux.HandleFunc("DELETE /v1/action/{action}", s.handleForget)
		s.mux = mux
	})
}

// Collectors returns the server's metrics for registration.
func (s *Server) Collectors() []prometheus.Collector {
	s.init()
	return []prometheus.Collector{s.m.gets, s.m.puts, s.m.bytesOut, s.m.bytesIn, s.m.batchObjs, s.m.corrupt,
		service.StoreUsageCollector(service.MetricPrefix("cache"), s.Store.Usage),
		// The eviction count under its first name (a gauge), which
		// dashboards may read; pitstop_cache_store_evictions_total is the
		// same count as a counter, named like the proxy's.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pitstop_cache_evictions_total", Help: "Files evicted since start."},
			func() float64 { return float64(s.Store.Usage().Evictions) }),
	}
}

// Access says what a request needs: uploads (objects and manifests) are
// writes; trim and forgetting an action are admin requests; the rest
// reads. Unknown requests are treated as admin, the most guarded.
func (s *Server) Access(r *http.Request) service.Access {
	p := r.URL.Path
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return service.Read
	case r.Method == http.MethodPost && p == "/v1/batch":
		return service.Read
	case r.Method == http.MethodPut && (strings.HasPrefix(p, "/v1/put/") || strings.HasPrefix(p, "/v1/manifest/")):
		return service.Write
	}
	return service.Admin
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	s.mux.ServeHTTP(w, r)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func manifestKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "m/" + hex.EncodeToString(sum[:])
}

// lookup opens the object action maps to, checking that its size is the
// one recorded. A damaged pair is deleted and reported as a miss.
func (s *Server) lookup(ctx context.Context, a ID) (Entry, []byte, store.Object, error) {
	e, sig, err := s.readEntry(ctx, a)
	if errors.Is(err, errBadEntry) {
		s.m.corrupt.Inc()
		s.Store.Delete(ctx, entryKey(a))
		return Entry{}, nil, store.Object{}, fmt.Errorf("%w: entry %s: %v", fs.ErrNotExist, a, err)
	}
	if err != nil {
		return Entry{}, nil, store.Object{}, err
	}
	o, err := s.getObject(ctx, objectKey(e.OutputID))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// The object was evicted: the entry can give nothing, so
			// the action is unmapped and the next build may map it.
			s.unmap(ctx, a, e.OutputID)
		}
		return Entry{}, nil, store.Object{}, err
	}
	if o.Size != e.Size {
		o.Close()
		s.m.corrupt.Inc()
		s.Store.Delete(ctx, objectKey(e.OutputID))
		s.unmap(ctx, a, e.OutputID)
		return Entry{}, nil, store.Object{}, fmt.Errorf("%w: object %s is %d bytes, want %d", fs.ErrNotExist, e.OutputID, o.Size, e.Size)
	}
	return e, sig, o, nil
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "get")
	a, err := ParseHexID(r.PathValue("action"))
	if err != nil {
		s.m.gets.WithLabelValues("error").Inc()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e, sig, o, err := s.lookup(r.Context(), a)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.m.gets.WithLabelValues("miss").Inc()
			http.Error(w, "miss", http.StatusNotFound)
			return
		}
		s.m.gets.WithLabelValues("error").Inc()
		s.logger().Error("get", "action", a, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer o.Close()
	s.m.gets.WithLabelValues("hit").Inc()
	h := w.Header()
	h.Set(hdrOutputID, e.OutputID.String())
	h.Set(hdrSize, strconv.FormatInt(e.Size, 10))
	h.Set(hdrTime, strconv.FormatInt(e.Time.UnixNano(), 10))
	if sig != nil {
		h.Set(hdrSig, base64.StdEncoding.EncodeToString(sig))
	}
	h.Set("Content-Type", "application/octet-stream")
	var body io.Reader = o.Body
	if acceptsGzip(r) && e.Size >= minCompress {
		br := bufio.NewReaderSize(o.Body, sampleSize)
		sample, _ := br.Peek(sampleSize)
		body = br
		if compressible(sample) {
			h.Set("Content-Encoding", "gzip")
			h.Add("Vary", "Accept-Encoding")
			zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			n, _ := io.Copy(zw, body)
			zw.Close()
			s.m.bytesOut.Add(float64(n))
			return
		}
	}
	h.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	n, _ := io.Copy(w, body)
	s.m.bytesOut.Add(float64(n))
}

// Compression: objects smaller than minCompress are sent as they are; for
// larger ones the first sampleSize bytes are compressed at gzip's fastest
// level and the object is sent compressed only if that saves a quarter.
const (
	minCompress = 4 << 10
	sampleSize  = 32 << 10
)

func acceptsGzip(r *http.Request) bool {
	for _, p := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(p, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

func compressible(sample []byte) bool {
	if len(sample) == 0 {
		return false
	}
	var b countWriter
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	zw.Write(sample)
	zw.Close()
	return b.n < int64(len(sample))*3/4
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func (s *Server) maxObject() int64 {
	if s.MaxObject > 0 {
		return s.MaxObject
	}
	return 1 << 30
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "put")
	reject := func(code int, format string, args ...any) {
		s.m.puts.WithLabelValues("rejected").Inc()
		http.Error(w, fmt.Sprintf(format, args...), code)
	}
	a, err := ParseHexID(r.PathValue("action"))
	if err != nil {
		reject(http.StatusBadRequest, "action: %v", err)
		return
	}
	out, err := ParseHexID(r.Header.Get(hdrOutputID))
	if err != nil {
		reject(http.StatusBadRequest, "%s: %v", hdrOutputID, err)
		return
	}
	size, err := strconv.ParseInt(r.Header.Get(hdrSize), 10, 64)
	if err != nil || size < 0 {
		reject(http.StatusBadRequest, "%s %q: want a byte count", hdrSize, r.Header.Get(hdrSize))
		return
	}
	sig, err := parseSig(r.Header.Get(hdrSig))
	if err != nil {
		reject(http.StatusBadRequest, "%s: %v", hdrSig, err)
		return
	}
	if size > s.maxObject() {
		reject(http.StatusRequestEntityTooLarge, "object of %d bytes is over the %d-byte limit", size, s.maxObject())
		return
	}
	ctx := r.Context()
	// Refuse a remapping before reading the body (unless the output it
	// maps to is gone: see lost); checked again below, under the action's
	// lock, before the entry is written.
	if old, oldSig, ok := s.mapped(ctx, a); ok && old.OutputID != out {
		if oldSig != nil || s.stored(ctx, old.OutputID, old.Size, false) != objLost {
			s.conflict(w, r, a, old, out)
			return
		}
	} else if ok && old.Size == size && (oldSig != nil || sig == nil) && s.stored(ctx, out, size, true) == objIntact {
		// The same entry again (the go command puts a link's empty
		// stdout on every build): nothing to write, nor to fsync. The
		// body is read past to keep the connection.
		io.Copy(io.Discard, io.LimitReader(r.Body, size+1))
		s.m.puts.WithLabelValues("unchanged").Inc()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ow, err := s.Store.Create(ctx, objectKey(out))
	if err != nil {
		s.putError(w, "create", err)
		return
	}
	defer ow.Abort()
	h := sha256.New()
	body := &errReader{r: r.Body}
	n, err := io.Copy(io.MultiWriter(ow, h), io.LimitReader(body, size+1))
	if err != nil {
		// The client's fault (a body cut short, or too slow): 400.
		if body.err != nil || ctx.Err() != nil {
			reject(http.StatusBadRequest, "reading body: %v", err)
			return
		}
		s.putError(w, "write", err)
		return
	}
	if n != size {
		reject(http.StatusBadRequest, "body is %d bytes, %s says %d", n, hdrSize, size)
		return
	}
	var sum ID
	h.Sum(sum[:0])
	if sum != out {
		reject(http.StatusBadRequest, "body sha256 is %s, not the OutputID %s", sum, out)
		return
	}
	if err := ow.Commit(); err != nil {
		s.putError(w, "commit", err)
		return
	}
	mu := &s.locks[int(a[0])%len(s.locks)]
	mu.Lock()
	old, oldSig, ok := s.mapped(ctx, a)
	if ok && old.OutputID != out {
		if oldSig != nil || s.stored(ctx, old.OutputID, old.Size, true) != objLost {
			mu.Unlock()
			// The object just stored stays unreferenced until evicted.
			s.conflict(w, r, a, old, out)
			return
		}
		// The output the action maps to is lost (evicted, or torn by a
		// power cut, which the server's unsynced writes allow): no client
		// can get it, so the action is as good as new and its first
		// whole output is this one.
		s.logger().Warn("put replaced an entry whose output is lost", "action", a, "lost", old.OutputID,
			"output", out, "client", r.RemoteAddr)
	}
	if oldSig != nil {
		sig = oldSig // like the output, the first signature stays
	}
	err = s.Store.Put(ctx, entryKey(a), bytes.NewReader(formatSignedEntry(Entry{OutputID: out, Size: size, Time: time.Now()}, sig)))
	mu.Unlock()
	if err != nil {
		s.putError(w, "entry", err)
		return
	}
	s.m.puts.WithLabelValues("ok").Inc()
	s.m.bytesIn.Add(float64(size))
	w.WriteHeader(http.StatusNoContent)
}

// objState is what the store says of an object: intact (as far as it
// was checked), lost for good, or nothing certain.
type objState int

const (
	objIntact  objState = iota // there, at its size (and hashing to its ID, if hashed)
	objLost                    // not in the store, or not its size, or (hashed) other bytes
	objUnknown                 // the store could not answer, or a read failed: proves nothing
)

// stored checks the object out of size bytes: whether it is there at its
// size and, with hash, whether its bytes hash to out (reading it whole).
//
// Two rules go by it. A put of an entry the server holds writes nothing
// only when the object is intact, hashed, so that a re-upload still
// repairs one damaged on the disk. An unsigned entry may be remapped only
// when its object is lost (not merely unknown: S3 down), so that an
// output evicted or torn by a power cut does not leave its action a miss
// forever (a non-reproducible build's next output would be refused as a
// remap).
func (s *Server) stored(ctx context.Context, out ID, size int64, hash bool) objState {
	o, err := s.getObject(ctx, objectKey(out))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return objLost
		}
		return objUnknown
	}
	defer o.Close()
	if o.Size != size {
		return objLost
	}
	if !hash {
		return objIntact
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(o.Body, size+1))
	if err != nil {
		return objUnknown
	}
	var sum ID
	h.Sum(sum[:0])
	if n != size || sum != out {
		return objLost
	}
	return objIntact
}

// unmap deletes action a's entry if it still maps to out.
func (s *Server) unmap(ctx context.Context, a, out ID) {
	mu := &s.locks[int(a[0])%len(s.locks)]
	mu.Lock()
	defer mu.Unlock()
	if e, _, ok := s.mapped(ctx, a); ok && e.OutputID == out {
		s.Store.Delete(ctx, entryKey(a))
	}
}

// errBadEntry marks a stored entry that does not parse.
var errBadEntry = errors.New("malformed entry")

// readEntry reads action a's stored entry and its signature (nil if the
// writer did not sign).
func (s *Server) readEntry(ctx context.Context, a ID) (Entry, []byte, error) {
	var buf [maxSignedEntryLen]byte
	var data []byte
	if sr, ok := s.Store.(smallReader); ok {
		var err error
		if data, _, err = sr.ReadSmall(ctx, entryKey(a), buf[:]); err != nil {
			return Entry{}, nil, err
		}
	} else {
		eo, err := s.Store.Get(ctx, entryKey(a))
		if err != nil {
			return Entry{}, nil, err
		}
		n, err := io.ReadFull(eo.Body, buf[:])
		eo.Close()
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return Entry{}, nil, err
		}
		data = buf[:n]
	}
	e, sig, err := parseSignedEntry(data)
	if err != nil {
		return Entry{}, nil, fmt.Errorf("%w: %v", errBadEntry, err)
	}
	return e, sig, nil
}

// maxSignedEntryLen bounds what is read of a stored entry: one with a
// signature is under 200 bytes; a longer one is cut and fails to parse.
const maxSignedEntryLen = 512

// smallReader and fileGetter are what a store.Disk offers beyond
// store.Store: reads of an entry, and opens of an object, without an
// *os.File's set-up (poller registration and its fcntls), which is most
// of the cost of a lookup; the object's file can still be sent with
// sendfile.
type (
	smallReader interface {
		ReadSmall(ctx context.Context, key string, buf []byte) ([]byte, store.Info, error)
	}
	fileGetter interface {
		GetFile(ctx context.Context, key string) (store.Object, error)
	}
)

// getObject opens an object, without the poller when the store allows.
func (s *Server) getObject(ctx context.Context, key string) (store.Object, error) {
	if fg, ok := s.Store.(fileGetter); ok {
		return fg.GetFile(ctx, key)
	}
	return s.Store.Get(ctx, key)
}

// mapped returns the entry action maps to, if it has a readable one, and
// its signature.
func (s *Server) mapped(ctx context.Context, a ID) (Entry, []byte, bool) {
	e, sig, err := s.readEntry(ctx, a)
	return e, sig, err == nil
}

// conflict refuses a PUT that would remap action a from old to out, and
// logs it at warn: it is a broken build's non-determinism at best, and an
// attempt to poison the cache at worst.
func (s *Server) conflict(w http.ResponseWriter, r *http.Request, a ID, old Entry, out ID) {
	s.m.puts.WithLabelValues("conflict").Inc()
	s.logger().Warn("put refused: action already maps to another output", "action", a, "output", old.OutputID,
		"offered", out, "client", r.RemoteAddr)
	http.Error(w, fmt.Sprintf("action %s already maps to output %s; an action keeps its first output (an admin can forget it)", a, old.OutputID), http.StatusConflict)
}

func (s *Server) putError(w http.ResponseWriter, what string, err error) {
	s.m.puts.WithLabelValues("error").Inc()
	s.logger().Error("put", "step", what, "err", err)
	code := http.StatusInternalServerError
	if errors.Is(err, store.ErrTooLarge) {
		code = http.StatusRequestEntityTooLarge
	}
	msg := "storing failed (the server's log says why)"
	if code == http.StatusRequestEntityTooLarge {
		msg = "storing failed: the object does not fit in the server's store"
	}
	http.Error(w, msg, code)
}

func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "batch")
	ids, err := parseIDList(io.LimitReader(r.Body, maxManifest*66))
	if err != nil {
		http.Error(w, "batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-pitstop-batch")
	var out io.Writer = w
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer zw.Close()
		out = zw
	}
	bw := bufio.NewWriterSize(out, 256<<10)
	enc := json.NewEncoder(bw)
	sent := 0
	for _, a := range ids {
		e, sig, o, err := s.lookup(r.Context(), a)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				s.m.gets.WithLabelValues("miss").Inc()
			} else {
				s.m.gets.WithLabelValues("error").Inc()
			}
			continue
		}
		bh := batchHeader{A: a.String(), O: e.OutputID.String(), S: e.Size, T: e.Time.UnixNano()}
		if sig != nil {
			bh.G = base64.StdEncoding.EncodeToString(sig)
		}
		enc.Encode(bh)
		n, err := io.CopyN(bw, o.Body, e.Size)
		o.Close()
		if err != nil {
			// The stream can no longer be framed: cut it so that the
			// client sees a truncated answer, not a wrong one.
			s.logger().Error("batch: reading object", "output", e.OutputID, "err", err)
			panic(http.ErrAbortHandler)
		}
		s.m.gets.WithLabelValues("hit").Inc()
		s.m.batchObjs.Inc()
		s.m.bytesOut.Add(float64(n))
		sent++
	}
	enc.Encode(batchHeader{End: true, Sent: sent})
	bw.Flush()
}

// manifestGenerations is how many uploads a manifest remembers: the
// builds and tests of one module each keep what they need, and what no
// recent build used drops out.
const manifestGenerations = 3

// readManifest parses a stored manifest: generations of hex IDs, newest
// first, separated by "--" lines.
func readManifest(r io.Reader) [][]ID {
	var gens [][]ID
	var cur []ID
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "--" {
			gens = append(gens, cur)
			cur = nil
			continue
		}
		if id, err := ParseHexID(l); err == nil {
			cur = append(cur, id)
		}
	}
	return append(gens, cur)
}

func (s *Server) handleGetManifest(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "manifest")
	o, err := s.Store.Get(r.Context(), manifestKey(r.PathValue("key")))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "no manifest", http.StatusNotFound)
			return
		}
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	gens := readManifest(o.Body)
	o.Close()
	seen := map[ID]bool{}
	var b bytes.Buffer
	for _, g := range gens {
		for _, id := range g {
			if !seen[id] && len(seen) < maxManifest {
				seen[id] = true
				b.WriteString(id.String() + "\n")
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b.Bytes())
}

// handlePutManifest stores the uploaded list as the newest generation and
// keeps the manifestGenerations-1 before it.
func (s *Server) handlePutManifest(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "manifest")
	ids, err := parseIDList(io.LimitReader(r.Body, maxManifest*66))
	if err != nil {
		http.Error(w, "manifest: "+err.Error(), http.StatusBadRequest)
		return
	}
	mk := manifestKey(r.PathValue("key"))
	gens := [][]ID{ids}
	if o, err := s.Store.Get(r.Context(), mk); err == nil {
		gens = append(gens, readManifest(o.Body)...)
		o.Close()
	}
	var b bytes.Buffer
	for i, g := range gens[:min(len(gens), manifestGenerations)] {
		if i > 0 {
			b.WriteString("--\n")
		}
		for _, id := range g {
			b.WriteString(id.String() + "\n")
		}
	}
	if err := s.Store.Put(r.Context(), mk, &b); err != nil {
		s.logger().Error("manifest", "err", err)
		http.Error(w, "storing failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "stats")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Store.Usage())
}

func (s *Server) handleTrim(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "trim")
	target, err := strconv.ParseInt(r.URL.Query().Get("max-size"), 10, 64)
	if err != nil || target < 0 {
		http.Error(w, "max-size: want a byte count", http.StatusBadRequest)
		return
	}
	before := s.Store.Usage()
	if err := s.Store.Trim(r.Context(), target); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, store.ErrGCBusy) {
			code = http.StatusConflict
		}
		http.Error(w, "trim: "+err.Error(), code)
		return
	}
	after := s.Store.Usage()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(TrimResult{Objects: before.Objects - after.Objects, Bytes: before.Bytes - after.Bytes})
}

// handleForget unmaps an action (an admin's repair of a bad entry): the
// next build that needs it compiles it and may map it again. The object
// stays until evicted, since other actions may share it.
func (s *Server) handleForget(w http.ResponseWriter, r *http.Request) {
	service.SetRoute(w, "forget")
	a, err := ParseHexID(r.PathValue("action"))
	if err != nil {
		http.Error(w, "action: "+err.Error(), http.StatusBadRequest)
		return
	}
	mu := &s.locks[int(a[0])%len(s.locks)]
	mu.Lock()
	old, _, ok := s.mapped(r.Context(), a)
	err = s.Store.Delete(r.Context(), entryKey(a))
	mu.Unlock()
	if err != nil {
		s.logger().Error("forget", "action", a, "err", err)
		http.Error(w, "forgetting failed", http.StatusInternalServerError)
		return
	}
	if !ok {
		http.Error(w, "no entry for action "+a.String(), http.StatusNotFound)
		return
	}
	s.logger().Warn("action forgotten", "action", a, "output", old.OutputID, "client", r.RemoteAddr)
	w.WriteHeader(http.StatusNoContent)
}

// MutableKey reports whether the server may replace the object stored
// under key: everything but the content-addressed outputs ("o/...").
// A local tier in front of shared storage keeps only the immutable ones.
func MutableKey(key string) bool { return !strings.HasPrefix(key, "o/") }
