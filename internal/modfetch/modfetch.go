// Package modfetch fetches modules from upstream the way the go command
// does: over a GOPROXY list with its fallback rules ("," falls through on
// 404/410 only, "|" on any error, "direct" through the local go command,
// "off" refuses), with GONOPROXY/GOPRIVATE modules always fetched direct,
// and with every zip checked (golang.org/x/mod/zip), hashed (dirhash h1:)
// and verified against the checksum database (x/mod/sumdb's Client, reached
// through the proxies' /sumdb/<name>/ endpoints or GOSUMDB's URL) unless
// GOSUMDB=off or GONOSUMDB/GOPRIVATE match.
//
// The proxy (internal/modproxy) and the toolchain installer use it:
//
//	f := &modfetch.Fetcher{Env: goenv.Load(ctx)}
//	vers, err := f.List(ctx, "golang.org/toolchain")
//	tmp, _ := os.CreateTemp(dir, "zip-*")
//	hash, err := f.Zip(ctx, "golang.org/toolchain", "v0.0.1-go1.22.5.linux-arm64", tmp, nil)
//	// err == nil: tmp holds a checked zip whose hash the checksum database confirmed.
//
// Not-found answers (404/410 from every upstream) satisfy
// errors.Is(err, fs.ErrNotExist).
//
// A server whose clients choose module paths limits "direct"
// (DirectNoProxyOnly, DirectPublicHostsOnly, DirectMaxSize) and answers
// its clients' checksum-database requests through SumDB, which verifies
// lookups and tiles before they are kept.
package modfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
	"golang.org/x/sync/semaphore"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// MaxMetaSize bounds .info, .mod, list and checksum-database answers.
const MaxMetaSize = 16 << 20

// Fetcher fetches module data from the upstreams an Env describes. The
// zero value fetches with the process's go env (goenv.FromOS) on first use;
// set fields before the first call and do not change them afterwards. All
// methods are safe for concurrent use.
type Fetcher struct {
	// Env supplies GOPROXY, GOSUMDB, GOPRIVATE, GONOPROXY and GONOSUMDB.
	// nil means goenv.FromOS().
	Env goenv.Env
	// Proxies overrides Env's GOPROXY list when non-nil.
	Proxies []goenv.Proxy
	// Client makes the HTTP requests; nil means a client with dial and
	// response-header timeouts (the body is bounded by ctx only).
	Client *http.Client
	// OnUpstream, if set, is called after each request to an upstream (a
	// module proxy or checksum database) with its base URL (redacted), the
	// path asked for under it, the time to the answer's headers, and the
	// error (an *UpstreamError for a non-200 answer); for health displays.
	OnUpstream func(base, rel string, d time.Duration, err error)
	// GoBin is the go command used for "direct" fetches; "" means "go".
	GoBin string
	// DirectDir holds the isolated module cache and work directory of
	// direct fetches; "" means a directory under os.TempDir().
	DirectDir string
	// DirectConcurrency bounds concurrent go commands; 0 means 2.
	DirectConcurrency int
	// DirectTimeout bounds one go command; 0 means 10 minutes.
	DirectTimeout time.Duration
	// SumDBDir keeps the latest verified signed tree head (and, without a
	// SumDBCache, the verified tiles and lookups) on disk; "" keeps them
	// in memory for the Fetcher's life.
	SumDBDir string
	// SumDBCache, if set, keeps the verified checksum-database tiles and
	// lookups (a proxy's store, so that its clients are served from the
	// same cache).
	SumDBCache SumDBCache
	// MaxZipSize refuses larger zips; 0 means x/mod/zip's MaxZipFile.
	MaxZipSize int64
	// MaxZipFiles refuses zips with more files, counted in the central
	// directory before the full check; 0 means DefaultMaxZipFiles.
	MaxZipFiles int
	// MetaBudget bounds the memory of answers other than zips while they
	// are read, beyond 64 KiB each; 0 means DefaultMetaBudget.
	MetaBudget int64
	// Logger receives debug logs; nil means slog.Default().
	Logger *slog.Logger
	// Header is added to every HTTP request to an upstream (e.g. a proxy's
	// loop-detection token); nil adds nothing but a User-Agent.
	Header http.Header
	// RequestTimeout bounds each request to an upstream, its body
	// included; 0 leaves requests bounded by their context only.
	RequestTimeout time.Duration
	// NoDirect makes "direct" entries and GONOPROXY modules fail with
	// ErrDirect instead of running the go command, for callers that may
	// only ask proxies (the doctor); false fetches direct as the go
	// command does.
	NoDirect bool
	// DirectNoProxyOnly limits "direct" to the modules GONOPROXY (or
	// GOPRIVATE) matches: for any other module, reaching "direct" in
	// GOPROXY fails with a *DirectRefusedError (a not-found answer) and no
	// go command runs. A server whose clients choose module paths sets it,
	// so that they cannot make it fetch from arbitrary hosts.
	DirectNoProxyOnly bool
	// DirectPublicHostsOnly refuses, before any go command runs, a direct
	// fetch of a module whose host (the path's first element) is an IP
	// literal, or a name that resolves to a loopback, link-local, private
	// (RFC 1918, unique local), unspecified or multicast address.
	DirectPublicHostsOnly bool
	// DirectMaxSize bounds the disk the direct fetches' module cache (the
	// go command's VCS clones under DirectDir) may hold: after a direct
	// fetch that leaves it larger, it is emptied once no direct fetch is
	// running. 0 means DefaultDirectMaxSize.
	DirectMaxSize int64

	// lookupHost resolves names for DirectPublicHostsOnly; nil means
	// net.DefaultResolver (tests set it).
	lookupHost func(ctx context.Context, host string) ([]netip.Addr, error)

	initOnce  sync.Once
	initErr   error
	env       goenv.Env
	proxies   []goenv.Proxy
	client    *http.Client
	directSem chan struct{}
	sumdb     *sumDB

	directMu      sync.Mutex
	directRefs    map[string]int // module@version -> direct downloads using its files
	directRunning int            // go commands running

	budgetOnce sync.Once
	metaBudget *semaphore.Weighted
	budgetSize int64
}

func (f *Fetcher) init() error {
	f.initOnce.Do(func() {
		f.env = f.Env
		if f.env == nil {
			f.env = goenv.FromOS()
		}
		f.proxies = f.Proxies
		if f.proxies == nil {
			f.proxies, f.initErr = f.env.Proxies()
		}
		f.client = f.Client
		if f.client == nil {
			f.client = &http.Client{Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				TLSHandshakeTimeout:   15 * time.Second,
				ResponseHeaderTimeout: 60 * time.Second,
				MaxIdleConnsPerHost:   32,
				IdleConnTimeout:       90 * time.Second,
				ForceAttemptHTTP2:     true,
			}}
		}
		n := f.DirectConcurrency
		if n <= 0 {
			n = 2
		}
		f.directSem = make(chan struct{}, n)
		f.sumdb = newSumDB(f)
	})
	return f.initErr
}

func (f *Fetcher) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

// UpstreamError is a non-success answer from one upstream. A 404 or 410
// matches fs.ErrNotExist.
type UpstreamError struct {
	URL    string
	Status int
	// Body is the start of the plain text body, which proxies use to
	// explain themselves to the go command's user.
	Body string
}

func (e *UpstreamError) Error() string {
	msg := fmt.Sprintf("%s: %d %s", Redact(e.URL), e.Status, http.StatusText(e.Status))
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// Is makes 404 and 410 match fs.ErrNotExist.
func (e *UpstreamError) Is(target error) bool {
	return target == fs.ErrNotExist && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// ErrProxyOff is returned when GOPROXY=off (or GONOPROXY with GOPROXY=off)
// forbids the fetch.
var ErrProxyOff = errors.New("module lookup disabled by GOPROXY=off")

// ErrDirect is returned when a Fetcher with NoDirect reaches "direct" in
// GOPROXY, or is asked for a GONOPROXY module.
var ErrDirect = errors.New("GOPROXY reached direct, which this fetch does not use")

// NotFoundError says a module or version is not available anywhere; it
// matches fs.ErrNotExist. Err is the last upstream's answer.
type NotFoundError struct {
	What string
	Err  error
}

func (e *NotFoundError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: not found: %v", e.What, e.Err)
	}
	return e.What + ": not found"
}
func (e *NotFoundError) Unwrap() error        { return e.Err }
func (e *NotFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// userinfoRE matches the user:password@ part of a URL.
var userinfoRE = regexp.MustCompile(`://[^/@\s,|]+@`)

// Redact hides the credentials of every URL in s: a URL, a GOPROXY list
// or a message. The whole user information goes, since a token is as often
// the user name as the password:
// https://user:token@host → https://redacted@host.
func Redact(s string) string {
	return userinfoRE.ReplaceAllString(s, "://redacted@")
}

// escaped returns the escaped path and (when vers != "") version.
func escaped(path, vers string) (string, string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", "", err
	}
	if vers == "" {
		return ep, "", nil
	}
	ev, err := module.EscapeVersion(vers)
	if err != nil {
		return "", "", &module.ModuleError{Path: path, Version: vers, Err: err}
	}
	return ep, ev, nil
}

// attempt is one fetch: proxy tries a proxy's base URL, direct (nil when
// the fetch has no direct form) the go command.
type attempt struct {
	proxy  func(base string) error
	direct func() error
}

// Walk tries the entries of a GOPROXY list in order, as the go command
// does: try is called with each entry, "direct" included, from the first
// until one succeeds, and Walk returns nil. After an error the walk moves
// on to the next entry when the failed entry was followed by "|", or by ","
// and the error is a not-found answer (fs.ErrNotExist: 404 or 410); any
// other error, or a cancelled or expired context, stops it and is
// returned (a *RequestTimeoutError is not the context's: it is an answer
// like any other). Reaching "off" stops it with ErrProxyOff. When every entry
// fell through, Walk returns the last one's error; an empty list,
// goenv.ErrNoProxy.
func Walk(list []goenv.Proxy, try func(goenv.Proxy) error) error {
	if len(list) == 0 {
		return goenv.ErrNoProxy
	}
	var last error
	for _, p := range list {
		if p.Off() {
			return ErrProxyOff
		}
		err := try(p)
		if err == nil {
			return nil
		}
		last = err
		if !FallsThrough(p, err) {
			return err
		}
	}
	return last
}

// FallsThrough reports whether a GOPROXY walk moves on from entry p after
// it failed with err: on a not-found answer (fs.ErrNotExist) when p was
// followed by ",", on any error when it was followed by "|", never on a
// cancelled or expired context.
func FallsThrough(p goenv.Proxy, err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, fs.ErrNotExist) || p.FallBackOnError
}

// walk runs a over the proxy list (or direct only for GONOPROXY modules)
// with the go command's fallback rules.
func (f *Fetcher) walk(ctx context.Context, modPath, what string, a attempt) error {
	if err := f.init(); err != nil {
		return err
	}
	direct := func() error {
		switch {
		case a.direct == nil:
			return &NotFoundError{What: what}
		case f.NoDirect:
			return ErrDirect
		}
		if err := f.directAllowed(ctx, modPath); err != nil {
			return err
		}
		return a.direct()
	}
	if f.env.NoProxy(modPath) {
		for _, p := range f.proxies {
			if p.Off() {
				return ErrProxyOff
			}
		}
		return direct()
	}
	var last error
	err := Walk(f.proxies, func(p goenv.Proxy) error {
		if p.Direct() {
			last = direct()
		} else {
			last = a.proxy(p.URL)
		}
		return last
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrProxyOff) && last != nil:
		// "off" after entries that failed: their answer says more.
		err = last
	}
	if errors.Is(err, fs.ErrNotExist) {
		var nf *NotFoundError
		if errors.As(err, &nf) {
			return err
		}
		return &NotFoundError{What: what, Err: err}
	}
	return err
}

// get fetches base+"/"+rel from an http(s) or file proxy into a reader.
// The caller closes the body. size is the Content-Length or -1.
func (f *Fetcher) get(ctx context.Context, base, rel string) (body io.ReadCloser, size int64, err error) {
	if f.OnUpstream != nil {
		start := time.Now()
		defer func() { f.OnUpstream(Redact(base), rel, time.Since(start), err) }()
	}
	u := base + "/" + rel
	if strings.HasPrefix(base, "file://") {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, 0, err
		}
		fh, err := os.Open(filepath.FromSlash(pu.Path))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, 0, &UpstreamError{URL: u, Status: http.StatusNotFound}
			}
			return nil, 0, err
		}
		st, err := fh.Stat()
		if err != nil {
			fh.Close()
			return nil, 0, err
		}
		return fh, st.Size(), nil
	}
	parent, cancel := ctx, context.CancelFunc(func() {})
	if f.RequestTimeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, f.RequestTimeout)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, 0, err
	}
	for k, v := range f.Header {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "pitstop")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = Redact(ue.URL) // net/http keeps the user name
		}
		return nil, 0, f.timedOut(parent, ctx, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		cancel()
		return nil, 0, &UpstreamError{URL: u, Status: resp.StatusCode, Body: firstLine(string(b))}
	}
	if f.RequestTimeout <= 0 {
		cancel() // a no-op: the request has no context of its own
		return resp.Body, resp.ContentLength, nil
	}
	return &timedBody{ReadCloser: resp.Body, f: f, parent: parent, ctx: ctx, cancel: cancel, url: u}, resp.ContentLength, nil
}

// RequestTimeoutError is a request to an upstream that ran out of the
// Fetcher's RequestTimeout (while its caller's context had time left): an
// error like any other answer, after which "|" in GOPROXY moves on.
type RequestTimeoutError struct {
	URL     string
	Timeout time.Duration
}

func (e *RequestTimeoutError) Error() string {
	return fmt.Sprintf("%s: no answer within %v", Redact(e.URL), e.Timeout)
}

// timedOut turns err into a *RequestTimeoutError when the request's own
// context ctx ran out but the caller's parent did not.
func (f *Fetcher) timedOut(parent, ctx context.Context, u string, err error) error {
	if err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &RequestTimeoutError{URL: u, Timeout: f.RequestTimeout}
	}
	return err
}

// timedBody is the body of a request bounded by RequestTimeout: closing it
// ends the request's context.
type timedBody struct {
	io.ReadCloser
	f           *Fetcher
	parent, ctx context.Context
	cancel      context.CancelFunc
	url         string
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.f.timedOut(b.parent, b.ctx, b.url, err)
	}
	return n, err
}

func (b *timedBody) Close() error {
	defer b.cancel()
	return b.ReadCloser.Close()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Get fetches base+"/"+rel from one upstream, not through the GOPROXY
// list: base is an http, https or file URL (a proxy, a checksum database).
// An answer other than 200 is an *UpstreamError (a missing file is a 404);
// the answer is bounded by MaxMetaSize, the request by RequestTimeout and
// ctx, and it carries Header.
func (f *Fetcher) Get(ctx context.Context, base, rel string) ([]byte, error) {
	// Get needs only the client, which init sets even when GOPROXY is
	// unusable (the walks report that).
	_ = f.init()
	body, size, err := f.get(ctx, base, rel)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if size > MaxMetaSize {
		return nil, fmt.Errorf("%s/%s: answer too large (%d bytes)", Redact(base), rel, size)
	}
	b, err := f.readMeta(body, size)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", Redact(base), rel, err)
	}
	if size >= 0 && int64(len(b)) != size {
		return nil, fmt.Errorf("%s/%s: truncated answer (%d of %d bytes)", Redact(base), rel, len(b), size)
	}
	return b, nil
}

// RevInfo is the content of a .info file.
type RevInfo struct {
	Version string
	Time    time.Time
	// Origin is passed through when an upstream sends it.
	Origin json.RawMessage `json:",omitempty"`
}

// List returns the versions upstream lists for path (its @v/list), in the
// upstream's order. Direct fetches ask `go list -m -versions`.
func (f *Fetcher) List(ctx context.Context, path string) ([]string, error) {
	b, err := f.ListRaw(ctx, path)
	if err != nil {
		return nil, err
	}
	return ParseList(b), nil
}

// ParseList reads an @v/list answer: the first field of each line.
func ParseList(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if fs := strings.Fields(l); len(fs) > 0 {
			out = append(out, fs[0])
		}
	}
	return out
}

// ListRaw returns path's @v/list as upstream sent it.
func (f *Fetcher) ListRaw(ctx context.Context, path string) ([]byte, error) {
	ep, _, err := escaped(path, "")
	if err != nil {
		return nil, err
	}
	var out []byte
	err = f.walk(ctx, path, path+"@v/list", attempt{
		proxy: func(base string) (err error) {
			out, err = f.Get(ctx, base, ep+"/@v/list")
			return err
		},
		direct: func() (err error) {
			out, err = f.directList(ctx, path)
			return err
		},
	})
	return out, err
}

// Latest returns upstream's $module/@latest answer.
func (f *Fetcher) Latest(ctx context.Context, path string) (*RevInfo, []byte, error) {
	ep, _, err := escaped(path, "")
	if err != nil {
		return nil, nil, err
	}
	var raw []byte
	err = f.walk(ctx, path, path+"@latest", attempt{
		proxy: func(base string) (err error) {
			raw, err = f.Get(ctx, base, ep+"/@latest")
			return err
		},
		direct: func() (err error) {
			raw, err = f.directInfo(ctx, path, "latest")
			return err
		},
	})
	if err != nil {
		return nil, nil, err
	}
	info, err := parseInfo(path, raw)
	return info, raw, err
}

func parseInfo(path string, raw []byte) (*RevInfo, error) {
	var info RevInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("%s: invalid .info answer: %v", path, err)
	}
	if err := module.Check(path, info.Version); err != nil {
		return nil, fmt.Errorf("%s: invalid .info answer: %v", path, err)
	}
	return &info, nil
}

// InfoRaw returns the .info file of a canonical version, or of any other
// query string the upstream resolves itself (a branch, a commit), as sent.
func (f *Fetcher) InfoRaw(ctx context.Context, path, vers string) ([]byte, error) {
	ep, ev, err := escaped(path, vers)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = f.walk(ctx, path, path+"@"+vers, attempt{
		proxy: func(base string) (err error) {
			raw, err = f.Get(ctx, base, ep+"/@v/"+ev+".info")
			return err
		},
		direct: func() (err error) {
			raw, err = f.directInfo(ctx, path, vers)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if _, err := parseInfo(path, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// GoMod returns path@vers's go.mod file, verified against the checksum
// database unless the module is exempt (see Verify).
func (f *Fetcher) GoMod(ctx context.Context, path, vers string) ([]byte, error) {
	ep, ev, err := escaped(path, vers)
	if err != nil {
		return nil, err
	}
	if err := checkCanonical(path, vers); err != nil {
		return nil, err
	}
	var data []byte
	err = f.walk(ctx, path, path+"@"+vers+" go.mod", attempt{
		proxy: func(base string) (err error) {
			data, err = f.Get(ctx, base, ep+"/@v/"+ev+".mod")
			return err
		},
		direct: func() (err error) {
			data, err = f.directFile(ctx, path, vers, "GoMod")
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if err := f.VerifyGoMod(ctx, path, vers, data); err != nil {
		return nil, err
	}
	return data, nil
}

func checkCanonical(path, vers string) error {
	if err := module.Check(path, vers); err != nil {
		return err
	}
	if module.CanonicalVersion(vers) != vers {
		return &module.ModuleError{Path: path, Version: vers, Err: errors.New("version is not canonical")}
	}
	return nil
}

// ZipProgress is called as a zip download proceeds with the bytes written
// so far and the expected total (-1 when upstream did not say).
type ZipProgress func(written, total int64)

// ZipWriter is where Zip writes: an *os.File, or a store writer that
// names its temp file. Name must name a file holding what was written, for
// x/mod/zip.CheckZip and dirhash.HashZip.
type ZipWriter interface {
	io.Writer
	Name() string
}

// Zip downloads path@vers's module zip into dst, which must be empty
// (an *os.File opened for reading and writing, or a store writer), checks it with x/mod/zip.CheckZip,
// hashes it (h1:) and verifies the hash with the checksum database unless
// the module is exempt. It returns the hash. On error dst's content must
// not be used; progress (if non-nil) sees bytes before they are verified.
// A zip larger than MaxZipSize, or shorter than its Content-Length, is
// refused. A mismatch is a *ChecksumError naming both hashes.
func (f *Fetcher) Zip(ctx context.Context, path, vers string, dst ZipWriter, progress ZipProgress) (string, error) {
	if err := f.DownloadZip(ctx, path, vers, dst, progress); err != nil {
		return "", err
	}
	return f.CheckZipFile(ctx, path, vers, dst.Name())
}

// DownloadZip is Zip without the checks: it only downloads. What it wrote
// is unverified until CheckZipFile or CheckZipFileHashed accepts it.
func (f *Fetcher) DownloadZip(ctx context.Context, path, vers string, dst ZipWriter, progress ZipProgress) error {
	ep, ev, err := escaped(path, vers)
	if err != nil {
		return err
	}
	if err := checkCanonical(path, vers); err != nil {
		return err
	}
	limit := f.MaxZipSize
	if limit <= 0 {
		limit = modzip.MaxZipFile
	}
	var written int64
	counted := &countWriter{w: dst, n: &written}
	// Falling through to the next upstream after a partial body needs an
	// empty destination again: files can be truncated, other writers not.
	reset := func() error {
		if written == 0 {
			return nil
		}
		if t, ok := dst.(interface {
			io.Seeker
			Truncate(int64) error
		}); ok {
			if _, err := t.Seek(0, io.SeekStart); err != nil {
				return err
			}
			written = 0
			return t.Truncate(0)
		}
		return errors.New("cannot retry a zip download into a non-file writer")
	}
	return f.walk(ctx, path, path+"@"+vers+" zip", attempt{
		proxy: func(base string) error {
			if err := reset(); err != nil {
				return err
			}
			body, size, err := f.get(ctx, base, ep+"/@v/"+ev+".zip")
			if err != nil {
				return err
			}
			defer body.Close()
			if size > limit {
				return fmt.Errorf("%s@%s: zip too large (%d bytes; limit %d)", path, vers, size, limit)
			}
			n, err := copyProgress(counted, io.LimitReader(body, limit+1), size, progress)
			if err != nil {
				return fmt.Errorf("%s@%s: downloading zip: %w", path, vers, err)
			}
			if n > limit {
				return fmt.Errorf("%s@%s: zip too large (more than %d bytes)", path, vers, limit)
			}
			if size >= 0 && n != size {
				return fmt.Errorf("%s@%s: zip truncated (%d of %d bytes)", path, vers, n, size)
			}
			return nil
		},
		direct: func() error {
			if err := reset(); err != nil {
				return err
			}
			return f.directZip(ctx, path, vers, counted, progress)
		},
	})
}

// CheckZipFile checks an already downloaded zip: structure, hash and the
// checksum database. It returns the h1: hash.
func (f *Fetcher) CheckZipFile(ctx context.Context, path, vers, file string) (string, error) {
	return f.CheckZipFileHashed(ctx, path, vers, file, hashZip)
}

// CheckZipFileHashed is CheckZipFile with the hash computed by hasher, which
// gets the zip only after its structure passed the checks and must return
// what dirhash.HashZip(file, dirhash.Hash1) would: a caller that reads
// every file anyway (an unpacker) hashes them on the same pass. The hash
// is then verified as CheckZipFile verifies it; until then whatever hasher
// made of the zip is unverified.
func (f *Fetcher) CheckZipFileHashed(ctx context.Context, path, vers, file string, hasher func(file string) (string, error)) (string, error) {
	maxFiles := f.MaxZipFiles
	if maxFiles <= 0 {
		maxFiles = DefaultMaxZipFiles
	}
	if err := checkZipDirectory(path, vers, file, maxFiles); err != nil {
		return "", err
	}
	if _, err := modzip.CheckZip(module.Version{Path: path, Version: vers}, file); err != nil {
		return "", fmt.Errorf("%s@%s: invalid module zip: %w", path, vers, err)
	}
	hash, err := hasher(file)
	if err != nil {
		return "", fmt.Errorf("%s@%s: hashing zip: %w", path, vers, err)
	}
	if err := f.Verify(ctx, path, vers, hash); err != nil {
		return "", err
	}
	return hash, nil
}

type countWriter struct {
	w io.Writer
	n *int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

func copyProgress(dst io.Writer, src io.Reader, total int64, progress ZipProgress) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, rerr := src.Read(buf)
		if m > 0 {
			if _, err := dst.Write(buf[:m]); err != nil {
				return n, err
			}
			n += int64(m)
			if progress != nil {
				progress(n, total)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// SumDBURL returns the URL at which the checksum database GOSUMDB selects
// is reached, as the go command finds it: GOSUMDB's own URL when it names
// one, else the first proxy in GOPROXY that serves it
// (<proxy>/sumdb/<name>, asking <proxy>/sumdb/<name>/supported), else
// https://<name>. The answer is kept for the Fetcher's life, until a
// request to that URL fails.
func (f *Fetcher) SumDBURL(ctx context.Context) (string, error) {
	if err := f.init(); err != nil {
		return "", err
	}
	if f.sumdb.dbErr != nil {
		return "", f.sumdb.dbErr
	}
	return f.sumdb.baseURL(ctx, f.sumdb.db.Name)
}

// SumDBName returns the name of the checksum database GOSUMDB selects, or
// an error (goenv.ErrSumDBOff for GOSUMDB=off).
func (f *Fetcher) SumDBName() (string, error) {
	if err := f.init(); err != nil {
		return "", err
	}
	return f.sumdb.db.Name, f.sumdb.dbErr
}

var errBadJSON = errors.New("bad JSON")

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	return nil
}
