package buildcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
)

// Client talks to a `pitstop cache serve` server. Its zero value is not
// usable: set BaseURL. Every call fails fast while the breaker is open.
type Client struct {
	// BaseURL is the server, e.g. "http://pi5.local:3001".
	BaseURL string
	// Token, if set, is sent as a bearer token.
	Token string
	// HTTP is the client; nil means one made by NewClient's defaults.
	HTTP *http.Client
	// Timeout bounds one get (headers and body); 0 means 5s.
	Timeout time.Duration
	// Compress asks the server for gzip-compressed objects. Over a fast
	// link (loopback, gigabit) decompressing costs more than it saves.
	Compress bool
	// FailuresToOpen consecutive failures open the breaker for OpenFor;
	// 0 means 3 and 30s.
	FailuresToOpen int
	OpenFor        time.Duration

	// SignKey, if set, signs every upload (see SignEntry).
	SignKey ed25519.PrivateKey
	// VerifyKeys, if set, are the keys entries must be signed with: an
	// entry without a valid signature by one of them is ErrBadSignature
	// from Get and skipped by Batch.
	VerifyKeys []ed25519.PublicKey

	mu        sync.Mutex
	failures  int
	openUntil time.Time

	// noWrites is set when the server refuses our uploads for lack of
	// a write token: later uploads are not tried, and reads go on.
	noWrites atomic.Bool
}

// ErrUnavailable is returned while the breaker is open.
var ErrUnavailable = errors.New("cache server unavailable (recent failures); not asking for a while")

// ErrUnauthorized is a server's refusal of our token (or its absence).
var ErrUnauthorized = errors.New("cache server refused the token")

// ErrWriteRefused is a server's refusal of an upload for want of the write
// token (or from another machine when it has none). Reads go on; the
// client stops uploading.
var ErrWriteRefused = errors.New("cache server refused the upload")

// ErrConflict is a server's refusal to map an action that already maps to
// another output (a non-deterministic build step, or someone else's
// upload). The server is healthy; the build keeps its local result.
var ErrConflict = errors.New("cache server keeps another output for this action")

// ErrMiss is a server's answer that it does not have the entry.
var ErrMiss = errors.New("not in the server cache")

// NewClient returns a client with transport settings fit for many small
// concurrent requests that must fail fast.
func NewClient(baseURL, token string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port or https://host:port", baseURL)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 1 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 3 * time.Second,
		TLSHandshakeTimeout:   2 * time.Second,
		DisableCompression:    true, // gzip is asked for explicitly, see Compress
		ForceAttemptHTTP2:     true,
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	loop := host == "localhost" || (ip != nil && ip.IsLoopback())
	return &Client{
		BaseURL:  strings.TrimRight(baseURL, "/"),
		Token:    token,
		HTTP:     &http.Client{Transport: tr},
		Compress: !loop,
	}, nil
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Second
}

// allow reports whether the breaker lets a request through.
func (c *Client) allow() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Now().Before(c.openUntil) {
		return ErrUnavailable
	}
	return nil
}

// note records the outcome of a request for the breaker.
func (c *Client) note(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || errors.Is(err, ErrMiss) {
		c.failures = 0
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	c.failures++
	n := c.FailuresToOpen
	if n <= 0 {
		n = 3
	}
	if c.failures >= n {
		d := c.OpenFor
		if d <= 0 {
			d = 30 * time.Second
		}
		c.openUntil = time.Now().Add(d)
		c.failures = 0
	}
}

// Healthy reports whether the breaker is closed.
func (c *Client) Healthy() bool { return c.allow() == nil }

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// do sends req and turns non-2xx answers into errors.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	if err := c.allow(); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.note(err)
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		drainClose(resp.Body)
		c.note(ErrMiss)
		return nil, ErrMiss
	}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		drainClose(resp.Body)
		err := fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(msg))
		refused := resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
		switch {
		case resp.StatusCode == http.StatusConflict:
			c.note(nil) // the server answered; nothing is wrong with it
			return nil, fmt.Errorf("%w: %v", ErrConflict, err)
		case refused && req.Method == http.MethodPut:
			c.noWrites.Store(true)
			if resp.StatusCode == http.StatusUnauthorized { // the token itself was refused
				return nil, fmt.Errorf("%w (%w): %v (uploads need the server's write token)", ErrWriteRefused, ErrUnauthorized, err)
			}
			return nil, fmt.Errorf("%w: %v (uploads need the server's write token)", ErrWriteRefused, err)
		case refused:
			err = fmt.Errorf("%w: %v (give the server's token in PITSTOP_CACHE_TOKEN or a token file)", ErrUnauthorized, err)
		}
		c.note(err)
		return nil, err
	}
	return resp, nil
}

// drainClose reads what is left of a short answer's body before closing
// it: the transport reuses a connection only if its body was read to the
// end, and a cold build's gets are mostly misses, each of which would
// otherwise cost a new connection (a TCP handshake and, over TLS, more).
// A body longer than a few KiB is cut, and its connection with it.
func drainClose(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	body.Close()
}

// Object is an object being read from the server. Body yields exactly Size
// bytes whose sha256 must be OutputID; callers verify (ObjectWriter.Commit).
type Object struct {
	Entry
	Body io.ReadCloser
}

// Header names of the object API.
const (
	hdrOutputID = "X-Pitstop-Output-Id"
	hdrSize     = "X-Pitstop-Size"
	hdrTime     = "X-Pitstop-Time"
)

// Get asks the server for action's object in one round trip. A miss is
// ErrMiss. The caller must read and close Body within ctx.
func (c *Client) Get(ctx context.Context, action ID) (*Object, error) {
	req, err := c.newRequest(ctx, "GET", "/v1/get/"+action.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.Compress {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	e, err := entryFromHeader(resp.Header)
	if err != nil {
		resp.Body.Close()
		err = fmt.Errorf("%w: server answered %v", ErrCorrupt, err)
		c.note(err)
		return nil, err
	}
	if !c.verified(action, e, resp.Header.Get(hdrSig)) {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: action %s", ErrBadSignature, action)
	}
	body, err := decodeBody(resp)
	if err != nil {
		resp.Body.Close()
		c.note(err)
		return nil, err
	}
	return &Object{Entry: e, Body: body}, nil
}

func entryFromHeader(h http.Header) (Entry, error) {
	out, err := ParseHexID(h.Get(hdrOutputID))
	if err != nil {
		return Entry{}, err
	}
	size, err := strconv.ParseInt(h.Get(hdrSize), 10, 64)
	if err != nil || size < 0 {
		return Entry{}, fmt.Errorf("bad %s %q", hdrSize, h.Get(hdrSize))
	}
	e := Entry{OutputID: out, Size: size, Time: time.Now()}
	if ns, err := strconv.ParseInt(h.Get(hdrTime), 10, 64); err == nil && ns > 0 {
		e.Time = time.Unix(0, ns)
	}
	return e, nil
}

// Report tells the breaker how reading a body that Get returned ended.
func (c *Client) Report(err error) { c.note(err) }

// Put uploads an object and its action entry. After the server refused an
// upload for want of a write token, Put returns ErrWriteRefused at once.
func (c *Client) Put(ctx context.Context, action ID, e Entry, body io.Reader) error {
	if c.noWrites.Load() {
		return ErrWriteRefused
	}
	req, err := c.newRequest(ctx, "PUT", "/v1/put/"+action.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = e.Size
	if e.Size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set(hdrOutputID, e.OutputID.String())
	req.Header.Set(hdrSize, strconv.FormatInt(e.Size, 10))
	if c.SignKey != nil {
		req.Header.Set(hdrSig, base64.StdEncoding.EncodeToString(SignEntry(c.SignKey, action, e)))
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// Batch asks for many actions at once; fn is called for each one the server
// has, in the order the server sends them, with a body of exactly e.Size
// bytes that fn must consume. A stream that ends early or is garbled is an
// error; what fn got before stays good.
func (c *Client) Batch(ctx context.Context, actions []ID, fn func(action ID, e Entry, body io.Reader) error) error {
	var b bytes.Buffer
	for _, a := range actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	req, err := c.newRequest(ctx, "POST", "/v1/batch", &b)
	if err != nil {
		return err
	}
	if c.Compress {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := decodeBody(resp)
	if err != nil {
		c.note(err)
		return err
	}
	err = readBatch(body, c.verified, fn)
	c.note(err)
	return err
}

// verified reports whether the entry may be used: always without
// VerifyKeys, else when sig (standard base64) is a trusted signature.
func (c *Client) verified(a ID, e Entry, sig string) bool {
	if len(c.VerifyKeys) == 0 {
		return true
	}
	raw, err := parseSig(sig)
	return err == nil && VerifyEntry(c.VerifyKeys, a, e, raw)
}

// batchHeader precedes each object in a batch stream; the stream ends with
// a header whose End is true.
type batchHeader struct {
	A    string `json:"a,omitempty"`
	O    string `json:"o,omitempty"`
	G    string `json:"g,omitempty"` // signature, standard base64
	S    int64  `json:"s,omitempty"`
	T    int64  `json:"t,omitempty"`
	End  bool   `json:"end,omitempty"`
	Sent int    `json:"sent,omitempty"`
}

// readBatch parses a batch stream: a JSON header line, then S raw bytes,
// repeated, then {"end":true}.
//
// Entries that check (if not nil) refuses are skipped: their bytes are
// read and dropped.
func readBatch(r io.Reader, check func(a ID, e Entry, sig string) bool, fn func(action ID, e Entry, body io.Reader) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("%w: batch stream cut short: %v", ErrCorrupt, noEOF(err))
		}
		var h batchHeader
		if err := json.Unmarshal(line, &h); err != nil {
			return fmt.Errorf("%w: batch header %.80q: %v", ErrCorrupt, line, err)
		}
		if h.End {
			return nil
		}
		a, err := ParseHexID(h.A)
		if err != nil {
			return fmt.Errorf("%w: batch action: %v", ErrCorrupt, err)
		}
		o, err := ParseHexID(h.O)
		if err != nil {
			return fmt.Errorf("%w: batch output: %v", ErrCorrupt, err)
		}
		if h.S < 0 {
			return fmt.Errorf("%w: batch size %d", ErrCorrupt, h.S)
		}
		e := Entry{OutputID: o, Size: h.S, Time: time.Unix(0, h.T)}
		if h.T <= 0 {
			e.Time = time.Now()
		}
		lr := &io.LimitedReader{R: br, N: h.S}
		if check == nil || check(a, e, h.G) {
			if err := fn(a, e, lr); err != nil {
				return err
			}
		}
		if lr.N != 0 {
			if _, err := io.Copy(io.Discard, lr); err != nil || lr.N != 0 {
				return fmt.Errorf("%w: batch body cut short", ErrCorrupt)
			}
		}
	}
}

// Manifest returns the actions the last builds of key used, most recent
// first. A missing manifest is ErrMiss.
func (c *Client) Manifest(ctx context.Context, key string) ([]ID, error) {
	req, err := c.newRequest(ctx, "GET", "/v1/manifest/"+url.PathEscape(key), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	ids, err := parseIDList(io.LimitReader(resp.Body, maxManifest*65+1))
	if err != nil {
		err = fmt.Errorf("%w: manifest: %v", ErrCorrupt, err)
	}
	c.note(err)
	return ids, err
}

// PutManifest records the actions a build used under key.
func (c *Client) PutManifest(ctx context.Context, key string, ids []ID) error {
	if c.noWrites.Load() {
		return ErrWriteRefused
	}
	var b bytes.Buffer
	for _, id := range ids {
		b.WriteString(id.String())
		b.WriteByte('\n')
	}
	return c.send(ctx, "PUT", "/v1/manifest/"+url.PathEscape(key), &b)
}

// send makes a request whose answer has no body worth reading.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// maxManifest bounds a manifest (and a batch request) in entries.
const maxManifest = 50000

// parseIDList reads newline-separated hex IDs.
func parseIDList(r io.Reader) ([]ID, error) {
	var ids []ID
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		id, err := ParseHexID(l)
		if err != nil {
			return ids, err
		}
		if len(ids) >= maxManifest {
			return ids, fmt.Errorf("more than %d IDs", maxManifest)
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}

// Stats asks the server how much its store holds (GET /v1/stats).
func (c *Client) Stats(ctx context.Context) (store.Usage, error) {
	var u store.Usage
	err := c.jsonCall(ctx, "GET", "/v1/stats", &u)
	return u, err
}

// Trim asks the server to shrink to maxSize bytes.
func (c *Client) Trim(ctx context.Context, maxSize int64) (TrimResult, error) {
	var r TrimResult
	err := c.jsonCall(ctx, "POST", "/v1/trim?max-size="+strconv.FormatInt(maxSize, 10), &r)
	return r, err
}

// Forget asks the server to unmap action (an admin request), so that the
// next build compiles it and maps it again. A server without the entry
// answers ErrMiss.
func (c *Client) Forget(ctx context.Context, action ID) error {
	return c.send(ctx, "DELETE", "/v1/action/"+action.String(), nil)
}

func (c *Client) jsonCall(ctx context.Context, method, path string, v any) error {
	req, err := c.newRequest(ctx, method, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s %s: bad answer: %v", method, path, err)
	}
	return nil
}

// decodeBody undoes a gzip Content-Encoding.
func decodeBody(resp *http.Response) (io.ReadCloser, error) {
	switch resp.Header.Get("Content-Encoding") {
	case "":
		return resp.Body, nil
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: bad gzip stream: %v", ErrCorrupt, err)
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, resp.Body}, nil
	default:
		return nil, fmt.Errorf("%w: unknown Content-Encoding %q", ErrCorrupt, resp.Header.Get("Content-Encoding"))
	}
}
