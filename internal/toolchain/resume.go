package toolchain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
)

// ResumeTransport wraps an http.RoundTripper so that a module zip whose
// body breaks off mid-download is continued where it stopped: it asks the
// same URL again with "Range: bytes=N-" (and If-Range, when the first
// answer had an ETag or Last-Modified), after a growing pause. A server
// that ignores Range answers 200; the bytes already received are then
// skipped. The reader above (modfetch) sees one unbroken body of the
// announced length, and the checksum database still checks the result.
type ResumeTransport struct {
	// Base makes the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Retries bounds the resumptions of one body; 0 means 5, negative
	// means none.
	Retries int
	// Backoff is the first pause, doubled each time up to 30 s; 0 means 1 s.
	Backoff time.Duration
	// IdleTimeout cuts a body that sends nothing for this long (a stalled
	// connection), which then resumes like any other break; 0 means 60 s.
	IdleTimeout time.Duration

	resumed atomic.Int64

	mu     sync.Mutex
	prefix *zipPrefix // bytes kept from an earlier attempt, used once
	last   Partial    // the last zip answer that started
}

// Partial describes a zip download: where from, its full size and the
// validator (ETag or Last-Modified) that must still match to continue it.
type Partial struct {
	URL       string
	Size      int64
	Validator string
}

type zipPrefix struct {
	Partial
	f *os.File
	n int64
}

// continueFrom makes the next GET of p.URL ask only for the bytes after
// the n already in f (which must stay open until the body is read); the
// caller sees the whole zip. If the server answers 200, f is not used.
func (t *ResumeTransport) continueFrom(p Partial, f *os.File, n int64) {
	t.mu.Lock()
	t.prefix = &zipPrefix{Partial: p, f: f, n: n}
	t.mu.Unlock()
}

// lastZip returns the last zip answer that started ("" URL if none).
func (t *ResumeTransport) lastZip() Partial {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Resumed returns how many times a body was continued.
func (t *ResumeTransport) Resumed() int64 { return t.resumed.Load() }

func (t *ResumeTransport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper.
func (t *ResumeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	isZip := req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, ".zip") && req.Header.Get("Range") == ""
	if isZip {
		t.mu.Lock()
		pre := t.prefix
		if pre != nil && pre.URL == req.URL.String() {
			t.prefix = nil
		} else {
			pre = nil
		}
		t.mu.Unlock()
		if pre != nil {
			if resp, ok := t.continued(req, pre); ok {
				return resp, nil
			}
		}
	}
	resp, err := t.base().RoundTrip(req)
	if err != nil || !isZip || resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		return resp, err
	}
	v := resp.Header.Get("ETag")
	if v == "" || strings.HasPrefix(v, "W/") {
		v = resp.Header.Get("Last-Modified")
	}
	t.mu.Lock()
	t.last = Partial{URL: req.URL.String(), Size: resp.ContentLength, Validator: v}
	t.mu.Unlock()
	resp.Body = &resumingBody{t: t, req: req, body: resp.Body, size: resp.ContentLength, validator: v}
	return resp, nil
}

// continued asks for the rest of a zip whose first pre.n bytes are kept in
// pre.f and, on a matching 206, answers as if the whole zip came: status
// 200, the full length, the kept bytes first. ok false means "ask
// normally" (no Range support, a changed file, an error).
func (t *ResumeTransport) continued(req *http.Request, pre *zipPrefix) (*http.Response, bool) {
	if pre.n <= 0 || pre.n >= pre.Size {
		return nil, false
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set("Range", "bytes="+strconv.FormatInt(pre.n, 10)+"-")
	if pre.Validator != "" {
		r2.Header.Set("If-Range", pre.Validator)
	}
	resp, err := t.base().RoundTrip(r2)
	if err != nil {
		return nil, false
	}
	want := fmt.Sprintf("bytes %d-%d/%d", pre.n, pre.Size-1, pre.Size)
	if resp.StatusCode != http.StatusPartialContent || strings.TrimSpace(resp.Header.Get("Content-Range")) != want {
		resp.Body.Close()
		return nil, false
	}
	t.resumed.Add(1)
	t.mu.Lock()
	t.last = pre.Partial
	t.mu.Unlock()
	resp.StatusCode, resp.Status = http.StatusOK, "200 OK"
	resp.ContentLength = pre.Size
	resp.Header.Del("Content-Range")
	resp.Header.Set("Content-Length", strconv.FormatInt(pre.Size, 10))
	body := &struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.NewSectionReader(pre.f, 0, pre.n), resp.Body), resp.Body}
	resp.Body = &resumingBody{t: t, req: req, body: body, size: pre.Size, validator: pre.Validator}
	return resp, true
}

type resumingBody struct {
	t         *ResumeTransport
	req       *http.Request
	body      io.ReadCloser
	off, size int64
	validator string
	tries     int
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		var n int
		var err error
		if b.body != nil {
			idle := b.t.IdleTimeout
			if idle <= 0 {
				idle = 60 * time.Second
			}
			var stalled atomic.Bool
			body := b.body
			timer := time.AfterFunc(idle, func() { stalled.Store(true); body.Close() })
			n, err = body.Read(p)
			timer.Stop()
			if err != nil && stalled.Load() {
				err = fmt.Errorf("no data for %v: %w", idle, io.ErrUnexpectedEOF)
			}
			b.off += int64(n)
			if b.off > b.size {
				return n, fmt.Errorf("body longer than its Content-Length %d", b.size)
			}
			if err == io.EOF && b.off == b.size {
				return n, io.EOF
			}
			if err == nil || n > 0 {
				return n, nil // a pending error shows again on the next Read
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		} else {
			err = errors.New("no connection")
		}
		ctx := b.req.Context()
		if ctx.Err() != nil {
			return 0, err
		}
		retries := b.t.Retries
		if retries == 0 {
			retries = 5
		}
		if b.tries >= retries {
			return 0, fmt.Errorf("%w (after %d resumptions at byte %d of %d)", err, b.tries, b.off, b.size)
		}
		b.tries++
		if err := sleepCtx(ctx, backoff(b.t.Backoff, b.tries)); err != nil {
			return 0, err
		}
		if b.body != nil {
			b.body.Close()
			b.body = nil
		}
		b.reopen()
	}
}

// reopen asks again from b.off; on failure b.body stays nil and Read
// tries again after the next pause.
func (b *resumingBody) reopen() {
	req := b.req.Clone(b.req.Context())
	req.Header.Set("Range", "bytes="+strconv.FormatInt(b.off, 10)+"-")
	if b.validator != "" {
		req.Header.Set("If-Range", b.validator)
	}
	resp, err := b.t.base().RoundTrip(req)
	if err != nil {
		return
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		want := fmt.Sprintf("bytes %d-%d/%d", b.off, b.size-1, b.size)
		if strings.TrimSpace(resp.Header.Get("Content-Range")) != want {
			resp.Body.Close()
			return
		}
		b.body = resp.Body
	case http.StatusOK:
		if resp.ContentLength != b.size {
			resp.Body.Close()
			return
		}
		if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
			resp.Body.Close()
			return
		}
		b.body = resp.Body
	default:
		resp.Body.Close()
		return
	}
	b.t.resumed.Add(1)
}

func (b *resumingBody) Close() error {
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}

func backoff(first time.Duration, try int) time.Duration {
	if first <= 0 {
		first = time.Second
	}
	d := first << (try - 1)
	if d > 30*time.Second || d <= 0 {
		d = 30 * time.Second
	}
	return d
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NewFetcher returns a modfetch.Fetcher for env whose zip downloads resume
// after a break (see ResumeTransport).
func NewFetcher(env goenv.Env, rt *ResumeTransport) *modfetch.Fetcher {
	if rt == nil {
		rt = &ResumeTransport{}
	}
	if rt.Base == nil {
		rt.Base = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &modfetch.Fetcher{Env: env, Client: &http.Client{Transport: rt}}
}
