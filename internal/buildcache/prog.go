package buildcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// Prog is the GOCACHEPROG helper: it answers the go command's requests from
// Local, falling back to Remote, and uploads what the go command puts.
type Prog struct {
	// Local is the local tier; required.
	Local *Local
	// Remote is the shared server; nil means local only.
	Remote *Client
	// ManifestKey names the package set being built (see ManifestKey); ""
	// disables prefetching and recording.
	ManifestKey string
	// Logger receives warnings; nil discards.
	Logger *slog.Logger
	// FlushTimeout bounds how long close waits for uploads; 0 means 10s.
	FlushTimeout time.Duration
	// QueueSize bounds pending uploads; further puts are not uploaded
	// (counted as dropped). 0 means 4096.
	QueueSize int
	// Uploaders is how many uploads run at once; 0 means 4.
	Uploaders int
	// StatsOut, if set, receives one stats line at close: Stats.String,
	// or a JSON object of Stats.Map if StatsJSON is set.
	StatsOut  io.Writer
	StatsJSON bool

	Stats Stats

	rw       *ResponseWriter
	handlers sync.WaitGroup
	uploads  chan upload
	upWG     sync.WaitGroup
	// refusedOnce warns once that the server takes no uploads from us.
	refusedOnce sync.Once
	upCtx       context.Context
	upCancel    context.CancelFunc

	mu           sync.Mutex
	pending      map[ID]chan struct{} // prefetches not yet landed
	prefetched   map[ID]bool          // prefetches that landed
	served       map[ID]ID            // entries the server sent this session: action → output
	used         []ID                 // actions the go command got or put, in order
	usedSet      map[ID]bool
	prefDone     chan struct{}
	lastManifest []ID // what the server's manifest listed at start
	stopPrefetch context.CancelFunc
	diskWarn     sync.Once
	authWarn     sync.Once
}

type upload struct {
	action ID
	entry  Entry
	path   string
}

// Stats counts what a helper did; fields are updated atomically.
type Stats struct {
	Gets, LocalHits, PrefetchHits, RemoteHits, Misses atomic.Int64
	Puts, PutBytes                                    atomic.Int64
	Uploads, UploadBytes, UploadsDropped, UploadErrs  atomic.Int64
	RemoteGets, RemoteErrs, Corrupt, DownloadBytes    atomic.Int64
	Prefetched, PrefetchBytes, PrefetchWanted         atomic.Int64
	BadRequests, LocalErrs                            atomic.Int64
	UploadsRefused                                    atomic.Int64 // conflicts and uploads without the write token
	UploadsSkipped                                    atomic.Int64 // puts of entries the server sent this session
	WaitNanos                                         atomic.Int64 // time gets spent waiting on the server
	CloseNanos                                        atomic.Int64 // time close took (flushing uploads, the manifest)
}

// String is the one-line summary printed at close.
func (s *Stats) String() string {
	return fmt.Sprintf("pitstop cache: %d gets: %d local hits (%d prefetched), %d remote hits, %d misses; "+
		"%d puts (%s); uploaded %d (%s), %d dropped, %d refused, %d failed, %d the server had; prefetched %d of %d (%s); "+
		"%d remote gets (%s), %d remote errors, %d corrupt; %d bad requests, %d local errors; waited %s on the server, %s at close",
		s.Gets.Load(), s.LocalHits.Load(), s.PrefetchHits.Load(), s.RemoteHits.Load(), s.Misses.Load(),
		s.Puts.Load(), units.HumanSize(s.PutBytes.Load()), s.Uploads.Load(), units.HumanSize(s.UploadBytes.Load()),
		s.UploadsDropped.Load(), s.UploadsRefused.Load(), s.UploadErrs.Load(), s.UploadsSkipped.Load(),
		s.Prefetched.Load(), s.PrefetchWanted.Load(), units.HumanSize(s.PrefetchBytes.Load()),
		s.RemoteGets.Load(), units.HumanSize(s.DownloadBytes.Load()), s.RemoteErrs.Load(), s.Corrupt.Load(),
		s.BadRequests.Load(), s.LocalErrs.Load(),
		time.Duration(s.WaitNanos.Load()).Round(time.Millisecond), time.Duration(s.CloseNanos.Load()).Round(time.Millisecond))
}

// Map returns the counters by name, for JSON.
func (s *Stats) Map() map[string]int64 {
	return map[string]int64{
		"gets": s.Gets.Load(), "local_hits": s.LocalHits.Load(), "prefetch_hits": s.PrefetchHits.Load(),
		"remote_hits": s.RemoteHits.Load(), "misses": s.Misses.Load(),
		"puts": s.Puts.Load(), "put_bytes": s.PutBytes.Load(),
		"uploads": s.Uploads.Load(), "upload_bytes": s.UploadBytes.Load(),
		"uploads_dropped": s.UploadsDropped.Load(), "upload_errors": s.UploadErrs.Load(), "uploads_refused": s.UploadsRefused.Load(),
		"uploads_skipped": s.UploadsSkipped.Load(),
		"remote_gets":     s.RemoteGets.Load(), "remote_errors": s.RemoteErrs.Load(), "corrupt": s.Corrupt.Load(),
		"download_bytes": s.DownloadBytes.Load(),
		"prefetched":     s.Prefetched.Load(), "prefetch_bytes": s.PrefetchBytes.Load(), "prefetch_wanted": s.PrefetchWanted.Load(),
		"bad_requests": s.BadRequests.Load(), "local_errors": s.LocalErrs.Load(),
		"wait_ms": s.WaitNanos.Load() / 1e6, "close_ms": s.CloseNanos.Load() / 1e6,
	}
}

func (p *Prog) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Run speaks the protocol on r and w until the go command sends close or
// closes the stream. It returns an error only for a broken stream.
func (p *Prog) Run(ctx context.Context, r io.Reader, w io.Writer) error {
	if stop := StartProfile(); stop != nil {
		defer stop()
	}
	if err := p.Local.Init(); err != nil {
		return fmt.Errorf("local cache directory: %w", err)
	}
	p.rw = NewResponseWriter(w)
	p.pending = map[ID]chan struct{}{}
	p.prefetched = map[ID]bool{}
	p.served = map[ID]ID{}
	p.usedSet = map[ID]bool{}
	p.prefDone = make(chan struct{})
	if err := p.rw.Write(&Response{ID: 0, KnownCommands: []Cmd{CmdGet, CmdPut, CmdClose}}); err != nil {
		return err
	}
	if p.Remote != nil {
		q := p.QueueSize
		if q <= 0 {
			q = 4096
		}
		p.uploads = make(chan upload, q)
		p.upCtx, p.upCancel = context.WithCancel(context.Background())
		n := p.Uploaders
		if n <= 0 {
			n = 4
		}
		for range n {
			p.upWG.Add(1)
			go p.uploader()
		}
	}
	var prefCancel context.CancelFunc = func() {}
	if p.Remote != nil && p.ManifestKey != "" {
		var pctx context.Context
		pctx, prefCancel = context.WithCancel(ctx)
		go p.prefetch(pctx)
	} else {
		close(p.prefDone)
	}

	defer func() { prefCancel(); <-p.prefDone }()
	p.stopPrefetch = prefCancel

	rr := NewRequestReader(r)
	for {
		req, err := rr.Next()
		if err == io.EOF {
			// The go command went away without close (killed or
			// cancelled): answer what is in flight and stop.
			p.finish(false)
			return nil
		}
		if err != nil {
			p.finish(false)
			return err
		}
		switch req.Command {
		case CmdGet:
			// A local hit (or a miss with no server) is a few system
			// calls: answer it here. A goroutine per get costs a thread
			// wake-up each way, and the go command waits for every
			// answer. Only gets that may wait on the server go async.
			if res, a, ok := p.getLocal(req); ok {
				p.respond(res)
			} else {
				p.handlers.Add(1)
				go func() {
					defer p.handlers.Done()
					p.respond(p.getRemote(ctx, req, a))
				}()
			}
		case CmdPut:
			res, after, err := p.readPut(rr, req)
			p.respond(res)
			if err != nil {
				// The stream is out of step: nothing more can be read.
				p.finish(false)
				return err
			}
			if after != nil {
				after()
			}
		case CmdClose:
			p.finish(true)
			p.respond(&Response{ID: req.ID})
			return nil
		default:
			p.Stats.BadRequests.Add(1)
			if req.BodySize > 0 {
				if err := rr.Body(io.Discard, req.BodySize); err != nil {
					return err
				}
			}
			p.respond(&Response{ID: req.ID, Err: fmt.Sprintf("pitstop cache prog: unknown command %q", req.Command)})
		}
	}
}

func (p *Prog) respond(res *Response) {
	if err := p.rw.Write(res); err != nil {
		p.logger().Warn("writing response", "err", err)
	}
}

// finish waits for in-flight answers, flushes uploads within the bound,
// records the manifest and prints stats.
func (p *Prog) finish(clean bool) {
	start := time.Now()
	p.handlers.Wait()
	p.stopPrefetch()
	<-p.prefDone
	if p.Remote != nil {
		// The manifest goes up while the uploads flush: it only names
		// actions (a fresh machine's prefetch skips any the server
		// lacks), and the go command waits for both.
		var manifest sync.WaitGroup
		if clean && p.ManifestKey != "" && p.Remote.Healthy() {
			p.mu.Lock()
			used := append([]ID(nil), p.used...)
			same := sameSet(used, p.usedSet, p.lastManifest)
			p.mu.Unlock()
			// A build that used exactly what the manifest already
			// lists (a rebuild) would only store the same union
			// again: skip the round trip the go command waits for.
			if len(used) > 0 && !same {
				manifest.Add(1)
				go func() {
					defer manifest.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					if err := p.Remote.PutManifest(ctx, p.ManifestKey, used); err != nil {
						p.logger().Warn("recording build manifest", "err", err)
					}
					cancel()
				}()
			}
		}
		close(p.uploads)
		d := p.FlushTimeout
		if d <= 0 {
			d = 10 * time.Second
		}
		done := make(chan struct{})
		go func() { p.upWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(d):
			p.logger().Warn("upload flush timed out; the rest stay local only", "after", d)
			p.upCancel()
			<-done
		}
		p.upCancel()
		manifest.Wait()
	}
	p.Stats.CloseNanos.Store(int64(time.Since(start)))
	if p.StatsOut != nil {
		if p.StatsJSON {
			b, _ := json.Marshal(map[string]any{"pitstop_cache_stats": p.Stats.Map()})
			fmt.Fprintf(p.StatsOut, "%s\n", b)
		} else {
			fmt.Fprintln(p.StatsOut, p.Stats.String())
		}
	}
}

// sameSet reports whether the manifest m lists exactly the set used
// (whose members are the keys of usedSet).
func sameSet(used []ID, usedSet map[ID]bool, m []ID) bool {
	if len(m) < len(used) {
		return false
	}
	seen := make(map[ID]bool, len(m))
	for _, a := range m {
		if !usedSet[a] {
			return false
		}
		seen[a] = true
	}
	return len(seen) == len(used)
}

func (p *Prog) noteUsed(a ID) {
	p.mu.Lock()
	if !p.usedSet[a] && len(p.used) < maxManifest {
		p.usedSet[a] = true
		p.used = append(p.used, a)
	}
	p.mu.Unlock()
}

func hit(id int64, e Entry, path string) *Response {
	t := e.Time
	return &Response{ID: id, OutputID: append([]byte(nil), e.OutputID[:]...), Size: e.Size, Time: &t, DiskPath: path}
}

// getLocal answers a get from the local tier. ok is false when the
// answer must come from the server (getRemote, with the parsed action a).
func (p *Prog) getLocal(req *Request) (res *Response, a ID, ok bool) {
	p.Stats.Gets.Add(1)
	miss := &Response{ID: req.ID, Miss: true}
	a, err := ParseID(req.ActionID)
	if err != nil {
		p.Stats.BadRequests.Add(1)
		p.Stats.Misses.Add(1)
		return miss, a, true
	}
	p.noteUsed(a)
	if e, path, err := p.Local.Lookup(a); err == nil {
		p.Stats.LocalHits.Add(1)
		if p.Remote != nil {
			p.mu.Lock()
			if p.prefetched[a] {
				p.Stats.PrefetchHits.Add(1)
			}
			p.mu.Unlock()
		}
		return hit(req.ID, e, path), a, true
	} else if !errors.Is(err, fs.ErrNotExist) {
		p.Stats.LocalErrs.Add(1)
	}
	if p.Remote == nil {
		p.Stats.Misses.Add(1)
		return miss, a, true
	}
	return nil, a, false
}

// getRemote answers a get the local tier missed: it waits for a
// prefetch of a in flight, else fetches it from the server.
func (p *Prog) getRemote(ctx context.Context, req *Request, a ID) *Response {
	miss := &Response{ID: req.ID, Miss: true}
	start := time.Now()
	defer func() { p.Stats.WaitNanos.Add(int64(time.Since(start))) }()
	p.mu.Lock()
	ch := p.pending[a]
	p.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-time.After(p.Remote.timeout()):
		case <-ctx.Done():
		}
		if e, path, err := p.Local.Lookup(a); err == nil {
			p.Stats.LocalHits.Add(1)
			p.Stats.PrefetchHits.Add(1)
			return hit(req.ID, e, path)
		}
	}
	e, path, err := p.fetch(ctx, a)
	if err != nil {
		if !errors.Is(err, ErrMiss) && !errors.Is(err, ErrUnavailable) {
			p.Stats.RemoteErrs.Add(1)
			if errors.Is(err, ErrCorrupt) {
				p.Stats.Corrupt.Add(1)
			}
			p.logger().Debug("remote get failed; a miss", "action", a, "err", err)
			if errors.Is(err, ErrUnauthorized) {
				p.authWarn.Do(func() { p.logger().Warn("the cache server is not used", "err", err) })
			}
		}
		p.Stats.Misses.Add(1)
		return miss
	}
	p.Stats.RemoteHits.Add(1)
	return hit(req.ID, e, path)
}

// fetch gets one action from the server into the local tier.
func (p *Prog) fetch(ctx context.Context, a ID) (Entry, string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Remote.timeout())
	defer cancel()
	if err := p.Remote.allow(); err != nil {
		return Entry{}, "", err
	}
	p.Stats.RemoteGets.Add(1)
	obj, err := p.Remote.Get(ctx, a)
	if err != nil {
		return Entry{}, "", err
	}
	defer obj.Body.Close()
	path, err := p.store(a, obj.Entry, obj.Body)
	if errors.Is(err, ErrCorrupt) && !errors.Is(err, errCutShort) {
		// A damaged object is not a sick server: it answered. Only
		// failures to answer open the breaker (and stop uploads, which
		// would repair the object).
		p.Remote.Report(nil)
	} else {
		p.Remote.Report(err)
	}
	if err != nil {
		return Entry{}, "", err
	}
	p.Stats.DownloadBytes.Add(obj.Size)
	p.noteServed(a, obj.Entry.OutputID)
	return obj.Entry, path, nil
}

// store writes body (which must be e.Size bytes hashing to e.OutputID) and
// the entry for a into the local tier.
func (p *Prog) store(a ID, e Entry, body io.Reader) (string, error) {
	if path, ok := p.Local.Object(e.OutputID, e.Size); ok {
		// Another action's output already brought these bytes (checked
		// then): read past them, so the connection stays usable.
		if _, err := io.Copy(io.Discard, io.LimitReader(body, e.Size)); err != nil {
			return "", fmt.Errorf("%w: %w: %v", ErrCorrupt, errCutShort, err)
		}
		if err := p.Local.PutEntry(a, e); err != nil {
			p.Stats.LocalErrs.Add(1)
			p.noteDiskErr(err)
		}
		return path, nil
	}
	w, err := p.Local.NewObject(e.OutputID, e.Size)
	if err != nil {
		p.Stats.LocalErrs.Add(1)
		return "", fmt.Errorf("local tier: %w", err)
	}
	// Read one byte more than promised to catch an over-long body.
	src := &errReader{r: io.LimitReader(body, e.Size+1)}
	if _, err := io.Copy(w, src); err != nil {
		w.Abort()
		if src.err == nil {
			p.Stats.LocalErrs.Add(1)
			return "", fmt.Errorf("local tier: %w", err)
		}
		if errors.Is(err, ErrCorrupt) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w: %v", ErrCorrupt, errCutShort, err)
	}
	path, err := w.Commit()
	if err != nil {
		return "", err
	}
	p.noteDiskTrouble(w)
	if !w.InMemory() {
		if err := p.Local.PutEntry(a, e); err != nil {
			p.Stats.LocalErrs.Add(1)
			p.noteDiskErr(err)
		}
	}
	return path, nil
}

// errCutShort marks a body that could not be read to its end (a
// connection cut, a timeout): the server is failing, not just one object.
var errCutShort = errors.New("reading body")

type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// noteDiskTrouble counts an object that went to memory because the local
// tier's disk failed, and warns once.
func (p *Prog) noteDiskTrouble(w *ObjectWriter) {
	if w.InMemory() {
		p.Stats.LocalErrs.Add(1)
		p.noteDiskErr(w.Err)
	}
}

func (p *Prog) noteDiskErr(err error) {
	p.diskWarn.Do(func() {
		p.logger().Warn("the local cache directory cannot be written; keeping new objects in memory until the go command exits (free space or run `pitstop cache trim`)",
			"dir", p.Local.Dir, "err", err)
	})
}

// readPut reads a put's body from the stream and stores the object. An
// error means the stream itself broke. The go command waits for the
// answer, which needs only the object in place: what can wait (the action's
// entry, queueing the upload) is left to after, which the caller runs once
// the answer is sent, before reading the next request.
func (p *Prog) readPut(rr *RequestReader, req *Request) (res *Response, after func(), err error) {
	p.Stats.Puts.Add(1)
	p.Stats.PutBytes.Add(req.BodySize)
	fail := func(format string, args ...any) *Response {
		return &Response{ID: req.ID, Err: "pitstop cache prog: " + fmt.Sprintf(format, args...)}
	}
	a, errA := ParseID(req.ActionID)
	out, errO := ParseID(req.OutputID)
	var w *ObjectWriter
	var errW error
	var dst io.Writer = io.Discard
	// An object the tier already holds (the same output of another
	// action, such as an empty stdout) is not written again: its bytes
	// were checked against its name when it was stored.
	have, ok := "", false
	if errA == nil && errO == nil {
		if have, ok = p.Local.Object(out, req.BodySize); !ok {
			if w, errW = p.Local.NewObject(out, req.BodySize); errW == nil {
				dst = w
			}
		}
	}
	if req.BodySize > 0 {
		if err := rr.Body(dst, req.BodySize); err != nil {
			var bw *BodyWriteError
			if !errors.As(err, &bw) {
				if w != nil {
					w.Abort()
				}
				return fail("%v", err), nil, err
			}
			errW = bw.Err
		}
	}
	if errA != nil || errO != nil {
		p.Stats.BadRequests.Add(1)
		return fail("bad put: ActionID: %v, OutputID: %v", errA, errO), nil, nil
	}
	if errW != nil {
		// Neither the disk nor memory could take it.
		if w != nil {
			w.Abort()
		}
		p.Stats.LocalErrs.Add(1)
		return fail("storing %s: %v", out, errW), nil, nil
	}
	path := have
	inMemory := false
	if w != nil {
		if path, err = w.Commit(); err != nil {
			if errors.Is(err, ErrCorrupt) {
				p.Stats.BadRequests.Add(1)
			} else {
				p.Stats.LocalErrs.Add(1)
			}
			return fail("storing %s: %v", out, err), nil, nil
		}
		p.noteDiskTrouble(w)
		inMemory = w.InMemory()
	}
	// Puts count too: many are entries (such as a compile's empty
	// stdout) that the next build gets without this one having asked.
	p.noteUsed(a)
	e := Entry{OutputID: out, Size: req.BodySize, Time: time.Now()}
	after = func() {
		if !inMemory {
			if err := p.Local.PutEntry(a, e); err != nil {
				// The object is there for this build; later ones miss.
				p.Stats.LocalErrs.Add(1)
				p.noteDiskErr(err)
			}
		}
		if p.Remote != nil {
			if p.serverHas(a, out) {
				p.Stats.UploadsSkipped.Add(1)
				return
			}
			select {
			case p.uploads <- upload{a, e, path}:
			default:
				p.Stats.UploadsDropped.Add(1)
			}
		}
	}
	return &Response{ID: req.ID, DiskPath: path}, after, nil
}

// noteServed records that the server sent action a's entry, mapping it to
// output out, this session.
func (p *Prog) noteServed(a, out ID) {
	p.mu.Lock()
	if p.served == nil {
		p.served = map[ID]ID{}
	}
	p.served[a] = out
	p.mu.Unlock()
}

// serverHas reports whether an upload of a put of action a with output out
// would change nothing on the server: it sent that very entry this session
// (a build that gets an action and then puts it again, as the go command
// does with a link's empty stdout every time). Not when this helper signs
// its uploads: the server may hold the entry unsigned, and an upload adds
// the signature.
func (p *Prog) serverHas(a, out ID) bool {
	if p.Remote.SignKey != nil {
		return false
	}
	p.mu.Lock()
	o, ok := p.served[a]
	p.mu.Unlock()
	return ok && o == out
}

func (p *Prog) uploader() {
	defer p.upWG.Done()
	for u := range p.uploads {
		if p.upCtx.Err() != nil || !p.Remote.Healthy() {
			p.Stats.UploadsDropped.Add(1)
			continue
		}
		f, err := os.Open(u.path)
		if err != nil {
			p.Stats.UploadErrs.Add(1)
			continue
		}
		ctx, cancel := context.WithTimeout(p.upCtx, 30*time.Second)
		err = p.Remote.Put(ctx, u.action, u.entry, f)
		cancel()
		f.Close()
		if errors.Is(err, ErrWriteRefused) {
			p.refusedOnce.Do(func() {
				p.logger().Warn("the cache server takes no uploads from this machine; builds still read from it", "err", err)
			})
		}
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrWriteRefused) {
			p.Stats.UploadsRefused.Add(1)
			p.logger().Debug("upload refused", "action", u.action, "err", err)
			continue
		}
		if err != nil {
			p.Stats.UploadErrs.Add(1)
			p.logger().Debug("upload failed", "action", u.action, "err", err)
			continue
		}
		p.Stats.Uploads.Add(1)
		p.Stats.UploadBytes.Add(u.entry.Size)
	}
}

// StartProfile writes a CPU profile of this process to the file named by
// PITSTOP_CACHE_CPUPROFILE and, at stop, an allocation profile to the one
// named by PITSTOP_CACHE_MEMPROFILE (hidden knobs for measuring the
// helper's and the server's own overhead, see bench/cache/run.sh), one
// file per process: "%p" in a name becomes the pid. It returns nil when
// neither is set.
func StartProfile() func() {
	name := func(env string) string {
		return strings.ReplaceAll(os.Getenv(env), "%p", strconv.Itoa(os.Getpid()))
	}
	cpu, mem := name("PITSTOP_CACHE_CPUPROFILE"), name("PITSTOP_CACHE_MEMPROFILE")
	if cpu == "" && mem == "" {
		return nil
	}
	var cf *os.File
	if cpu != "" {
		if f, err := os.Create(cpu); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				cf = f
			} else {
				f.Close()
			}
		}
	}
	return func() {
		if cf != nil {
			pprof.StopCPUProfile()
			cf.Close()
		}
		if mem != "" {
			if f, err := os.Create(mem); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
