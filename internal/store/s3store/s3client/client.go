// Package s3client is a small S3 client on the standard library: the
// requests pitstop's S3 store makes (HEAD and PUT bucket, ListObjectsV2,
// GET with Range and If-Match, HEAD, PUT, multipart upload, DELETE),
// signed with AWS Signature Version 4, path-style or virtual-host
// addressing, with retries on throttling and server errors for idempotent
// requests, bounded response bodies and timeouts.
//
// It replaces a full S3 SDK (minio-go added 3.2 MB to the binary) with the
// few hundred lines this project needs.
package s3client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config says how to reach a server.
type Config struct {
	// Endpoint is the server's URL: http://HOST:PORT or https://HOST.
	Endpoint string
	// Region signs requests; "" means us-east-1.
	Region string
	// PathStyle addresses a bucket as ENDPOINT/BUCKET; otherwise as
	// BUCKET.ENDPOINT (virtual host), except where that cannot work: an
	// IP address or localhost endpoint, or a bucket name with a dot over
	// https.
	PathStyle   bool
	Credentials Credentials
	// Transport carries the requests; nil: a transport with the timeouts
	// below.
	Transport http.RoundTripper
	// Attempts is how many times an idempotent request is tried on
	// throttling, a server error or a broken connection; 0 means 3.
	Attempts int
	// Timeout bounds each attempt of a request whose answer is small
	// (everything but a GET's body and a PUT's upload); 0 means 30 s.
	Timeout time.Duration
	// SignPayload signs PUT bodies with their SHA-256 (read twice);
	// otherwise they are sent UNSIGNED-PAYLOAD. Unset, bodies are signed
	// over http and not over https, where TLS already protects them.
	SignPayload *bool
}

// Client makes S3 requests.
type Client struct {
	base        *url.URL
	region      string
	pathStyle   bool
	creds       Credentials
	hc          *http.Client
	attempts    int
	timeout     time.Duration
	signPayload bool
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
}

// Limits on what is read of an answer.
const (
	maxErrorBody = 64 << 10
	maxListBody  = 16 << 20
	maxSmallBody = 1 << 20
)

// New checks cfg and returns a client; it makes no request.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("S3 endpoint %q: want http://HOST:PORT or https://HOST", cfg.Endpoint)
	}
	u.Path = ""
	if cfg.Credentials.AccessKeyID == "" || cfg.Credentials.SecretAccessKey == "" {
		return nil, ErrNoCredentials
	}
	c := &Client{base: u, region: cfg.Region, pathStyle: cfg.PathStyle, creds: cfg.Credentials,
		attempts: cfg.Attempts, timeout: cfg.Timeout, signPayload: u.Scheme == "http", now: time.Now, sleep: sleep}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.attempts <= 0 {
		c.attempts = 3
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if cfg.SignPayload != nil {
		c.signPayload = *cfg.SignPayload
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   64,
			ForceAttemptHTTP2:     true,
		}
	}
	c.hc = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c, nil
}

// Region is the region requests are signed for.
func (c *Client) Region() string { return c.region }

// Error is an answer other than success: the HTTP status and, when the
// server sent one, S3's error code and message.
type Error struct {
	Op         string // e.g. "GET bkt/key"
	StatusCode int
	Code       string // e.g. NoSuchKey, AccessDenied
	Message    string
	Region     string // the bucket's region, when the server said (a wrong region)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("S3 %s: %d %s", e.Op, e.StatusCode, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Region != "" {
		s += " (the bucket is in region " + e.Region + ")"
	}
	return s
}

// IsNotFound reports whether err is a missing object (or bucket).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // as the server sent it, quotes included
	LastModified time.Time
}

// request is one S3 request.
type request struct {
	method      string
	bucket, key string
	query       url.Values
	header      http.Header
	body        io.ReaderAt // nil: no body
	size        int64
	idempotent  bool
	stream      bool // the caller reads the body: no attempt timeout
}

func (r *request) op() string {
	s := r.method + " " + r.bucket
	if r.key != "" {
		s += "/" + r.key
	}
	return s
}

func (c *Client) url(bucket, key string) *url.URL {
	u := *c.base
	host := u.Hostname()
	virtual := !c.pathStyle && bucket != "" && net.ParseIP(host) == nil && host != "localhost" &&
		!(u.Scheme == "https" && strings.Contains(bucket, "."))
	path := "/"
	if virtual {
		u.Host = bucket + "." + u.Host
		path += key
	} else if bucket != "" {
		path += bucket + "/" + key
		if key == "" {
			path = "/" + bucket + "/"
		}
	}
	u.Path = path
	u.RawPath = EscapePath(path)
	return &u
}

// do sends r, retrying an idempotent request on throttling, a server error
// or a broken connection; it returns a 2xx response (or 304/206) with its
// body open, or an *Error, or the transport's error.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, context.CancelFunc, error) {
	payload := EmptyHash
	if r.body != nil {
		payload = UnsignedPayload
		if c.signPayload || r.method == http.MethodPost {
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(r.body, 0, r.size)); err != nil {
				return nil, nil, fmt.Errorf("S3 %s: reading the body: %w", r.op(), err)
			}
			payload = hex.EncodeToString(h.Sum(nil))
		}
	}
	var lastErr error
	for attempt := 0; attempt < c.attempts; attempt++ {
		if attempt > 0 {
			if !r.idempotent {
				break
			}
			// 100 ms, 200 ms, 400 ms ... capped at 2 s, with jitter.
			d := min(100*time.Millisecond<<(attempt-1), 2*time.Second)
			d = d/2 + rand.N(d/2+1)
			if err := c.sleep(ctx, d); err != nil {
				return nil, nil, lastErr
			}
		}
		actx, cancel := context.WithCancel(ctx)
		if !r.stream {
			actx, cancel = context.WithTimeout(ctx, c.timeout)
		}
		resp, err := c.send(actx, r, payload)
		if err == nil {
			return resp, cancel, nil
		}
		cancel()
		lastErr = err
		if ctx.Err() != nil || !retryable(err) {
			break
		}
	}
	return nil, nil, lastErr
}

func (c *Client) send(ctx context.Context, r *request, payload string) (*http.Response, error) {
	u := c.url(r.bucket, r.key)
	u.RawQuery = EncodeQuery(r.query)
	var body io.Reader
	if r.body != nil {
		body = io.NewSectionReader(r.body, 0, r.size)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("S3 %s: %v", r.op(), err)
	}
	req.URL = u
	if r.body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	Sign(req, c.creds, c.region, "s3", c.now(), payload)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &netError{op: r.op(), err: err}
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(r, resp)
}

// netError is a request that got no answer.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string { return "S3 " + e.op + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// IsUnreachable reports whether err means no answer came from the server
// (refused, reset, timed out, DNS) or it answered that it cannot serve
// now (5xx, throttling) even after the retries.
func IsUnreachable(err error) bool {
	var ne *netError
	if errors.As(err, &ne) {
		return !errors.Is(err, context.Canceled)
	}
	var e *Error
	return errors.As(err, &e) && (e.StatusCode >= 500 || throttled(e))
}

func throttled(e *Error) bool {
	switch e.Code {
	case "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "RequestTimeout":
		return true
	}
	return e.StatusCode == http.StatusTooManyRequests
}

func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || throttled(e)
	}
	var ne *netError
	if errors.As(err, &ne) {
		// A refused connection is a server that is down: say so at once
		// rather than after the backoff.
		return !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, context.Canceled)
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readError turns an error answer into an *Error, reading at most
// maxErrorBody of its XML.
func readError(r *request, resp *http.Response) error {
	e := &Error{Op: r.op(), StatusCode: resp.StatusCode, Region: resp.Header.Get("X-Amz-Bucket-Region")}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var x struct {
		Code, Message, Region string
	}
	if xml.Unmarshal(b, &x) == nil {
		e.Code, e.Message = x.Code, oneLine(x.Message)
		if x.Region != "" {
			e.Region = x.Region
		}
	}
	if e.Code == "" {
		e.Code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
		if resp.StatusCode == http.StatusNotFound && r.key != "" {
			e.Code = "NoSuchKey"
		}
	}
	return e
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// close drains a little of a body so the connection can be reused.
func closeBody(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 4<<10))
	rc.Close()
}

// HeadBucket checks that bucket exists and the credentials may use it:
// nil, or an *Error (404: no such bucket; 403: refused), or a network
// error.
func (c *Client) HeadBucket(ctx context.Context, bucket string) error {
	resp, cancel, err := c.do(ctx, &request{method: http.MethodHead, bucket: bucket, idempotent: true})
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.StatusCode == http.StatusNotFound {
			e.Code = "NoSuchBucket"
		}
		return err
	}
	defer cancel()
	closeBody(resp.Body)
	return nil
}

// MakeBucket creates bucket (in the client's region).
func (c *Client) MakeBucket(ctx context.Context, bucket string) error {
	r := &request{method: http.MethodPut, bucket: bucket, idempotent: true}
	if c.region != "us-east-1" {
		b := []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` +
			c.region + `</LocationConstraint></CreateBucketConfiguration>`)
		r.body, r.size = bytes.NewReader(b), int64(len(b))
	}
	resp, cancel, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer cancel()
	closeBody(resp.Body)
	return nil
}

// List calls fn for every object whose key starts with prefix, in key
// order (ListObjectsV2, 1000 a page).
func (c *Client) List(ctx context.Context, bucket, prefix string, fn func(ObjectInfo) error) error {
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, cancel, err := c.do(ctx, &request{method: http.MethodGet, bucket: bucket, query: q, idempotent: true})
		if err != nil {
			return err
		}
		var page struct {
			IsTruncated           bool
			NextContinuationToken string
			Contents              []struct {
				Key          string
				Size         int64
				ETag         string
				LastModified time.Time
			}
		}
		b, err := readAllMax(resp.Body, maxListBody)
		cancel()
		if err != nil {
			return fmt.Errorf("S3 list %s/%s: %w", bucket, prefix, err)
		}
		if err := xml.Unmarshal(b, &page); err != nil {
			return fmt.Errorf("S3 list %s/%s: the answer is not a listing: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			if err := fn(ObjectInfo{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified}); err != nil {
				return err
			}
		}
		if !page.IsTruncated {
			return nil
		}
		if page.NextContinuationToken == "" || page.NextContinuationToken == token {
			return fmt.Errorf("S3 list %s/%s: the server says the listing goes on but gives no next page", bucket, prefix)
		}
		token = page.NextContinuationToken
	}
}

func readAllMax(r io.ReadCloser, max int64) ([]byte, error) {
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("answer larger than %d bytes", max)
	}
	return b, nil
}

// GetOptions select what a GET reads.
type GetOptions struct {
	// Offset, if > 0, reads from that byte to the end (a Range request).
	Offset int64
	// IfMatch, if set, reads only that version (an ETag); another gives
	// an *Error with status 412.
	IfMatch string
}

// Get opens an object's content; the caller closes it. The body is not
// bounded by the attempt timeout: cancel ctx to stop reading.
func (c *Client) Get(ctx context.Context, bucket, key string, opt GetOptions) (io.ReadCloser, ObjectInfo, error) {
	h := http.Header{}
	if opt.Offset > 0 {
		h.Set("Range", "bytes="+strconv.FormatInt(opt.Offset, 10)+"-")
	}
	if opt.IfMatch != "" {
		h.Set("If-Match", opt.IfMatch)
	}
	resp, cancel, err := c.do(ctx, &request{method: http.MethodGet, bucket: bucket, key: key, header: h, idempotent: true, stream: true})
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	info, err := objectInfo(key, resp)
	if err == nil && opt.Offset > 0 {
		if resp.StatusCode != http.StatusPartialContent {
			err = fmt.Errorf("S3 GET %s/%s: asked for bytes from %d, the server sent status %d", bucket, key, opt.Offset, resp.StatusCode)
		} else if cr := resp.Header.Get("Content-Range"); cr != "" {
			if _, total, ok := strings.Cut(cr, "/"); ok {
				if n, perr := strconv.ParseInt(total, 10, 64); perr == nil {
					info.Size = n
				}
			}
		}
	}
	if err != nil {
		closeBody(resp.Body)
		cancel()
		return nil, ObjectInfo{}, err
	}
	return &body{rc: resp.Body, cancel: cancel}, info, nil
}

type body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
}

func (b *body) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b *body) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// Head describes an object.
func (c *Client) Head(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	resp, cancel, err := c.do(ctx, &request{method: http.MethodHead, bucket: bucket, key: key, idempotent: true})
	if err != nil {
		return ObjectInfo{}, err
	}
	defer cancel()
	closeBody(resp.Body)
	return objectInfo(key, resp)
}

func objectInfo(key string, resp *http.Response) (ObjectInfo, error) {
	info := ObjectInfo{Key: key, Size: resp.ContentLength, ETag: resp.Header.Get("ETag")}
	if info.Size < 0 {
		return info, fmt.Errorf("S3 %s %s: the answer has no Content-Length", resp.Request.Method, key)
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		t, err := http.ParseTime(lm)
		if err != nil {
			return info, fmt.Errorf("S3 %s %s: Last-Modified %q: %v", resp.Request.Method, key, lm, err)
		}
		info.LastModified = t
	}
	return info, nil
}

// Delete removes an object; a missing one is not an error (S3 says 204).
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	resp, cancel, err := c.do(ctx, &request{method: http.MethodDelete, bucket: bucket, key: key, idempotent: true})
	if err != nil {
		return err
	}
	defer cancel()
	closeBody(resp.Body)
	return nil
}

// PutOptions tune an upload.
type PutOptions struct {
	// PartSize: content larger than it goes up in a multipart upload of
	// parts this size (at least 5 MiB, S3's minimum); 0 means 16 MiB.
	PartSize int64
	// ContentType; "" means application/octet-stream.
	ContentType string
}

// MinPartSize is S3's smallest part but the last.
const MinPartSize = 5 << 20

// maxParts is S3's limit on parts in one upload.
const maxParts = 10000

// Put uploads size bytes of r as key, in one PUT or, past the part size, a
// multipart upload; either way the object appears only once complete. r is
// read again on a retry.
func (c *Client) Put(ctx context.Context, bucket, key string, r io.ReaderAt, size int64, opt PutOptions) error {
	if opt.PartSize == 0 {
		opt.PartSize = 16 << 20
	}
	if opt.PartSize < MinPartSize {
		opt.PartSize = MinPartSize
	}
	for size > opt.PartSize*maxParts {
		opt.PartSize *= 2
	}
	if opt.ContentType == "" {
		opt.ContentType = "application/octet-stream"
	}
	h := http.Header{"Content-Type": {opt.ContentType}}
	if size <= opt.PartSize {
		resp, cancel, err := c.do(ctx, &request{method: http.MethodPut, bucket: bucket, key: key, header: h, body: r, size: size, idempotent: true})
		if err != nil {
			return err
		}
		defer cancel()
		closeBody(resp.Body)
		return nil
	}
	return c.multipart(ctx, bucket, key, r, size, opt.PartSize, h)
}

type completedPart struct {
	PartNumber int
	ETag       string
}

func (c *Client) multipart(ctx context.Context, bucket, key string, r io.ReaderAt, size, partSize int64, h http.Header) (err error) {
	resp, cancel, err := c.do(ctx, &request{method: http.MethodPost, bucket: bucket, key: key, header: h,
		query: url.Values{"uploads": {""}}})
	if err != nil {
		return err
	}
	b, err := readAllMax(resp.Body, maxSmallBody)
	cancel()
	var init struct{ UploadId string }
	if err == nil {
		err = xml.Unmarshal(b, &init)
	}
	if err == nil && init.UploadId == "" {
		err = errors.New("no UploadId in the answer")
	}
	if err != nil {
		return fmt.Errorf("S3 starting the multipart upload of %s/%s: %v", bucket, key, err)
	}
	defer func() {
		if err != nil {
			// Drop the parts, so a failed upload leaves nothing behind.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
			defer cancel()
			if resp, cancel2, aerr := c.do(actx, &request{method: http.MethodDelete, bucket: bucket, key: key,
				query: url.Values{"uploadId": {init.UploadId}}, idempotent: true}); aerr == nil {
				closeBody(resp.Body)
				cancel2()
			}
		}
	}()
	var parts []completedPart
	for n, off := 1, int64(0); off < size; n, off = n+1, off+partSize {
		psize := min(partSize, size-off)
		q := url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {init.UploadId}}
		resp, cancel, err := c.do(ctx, &request{method: http.MethodPut, bucket: bucket, key: key, query: q,
			body: io.NewSectionReader(r, off, psize), size: psize, idempotent: true})
		if err != nil {
			return err
		}
		etag := resp.Header.Get("ETag")
		closeBody(resp.Body)
		cancel()
		if etag == "" {
			return fmt.Errorf("S3 PUT %s/%s part %d: no ETag in the answer", bucket, key, n)
		}
		parts = append(parts, completedPart{n, etag})
	}
	doc, err := xml.Marshal(struct {
		XMLName xml.Name        `xml:"CompleteMultipartUpload"`
		Parts   []completedPart `xml:"Part"`
	}{Parts: parts})
	if err != nil {
		return err
	}
	resp, cancel, err = c.do(ctx, &request{method: http.MethodPost, bucket: bucket, key: key, query: url.Values{"uploadId": {init.UploadId}},
		header: http.Header{"Content-Type": {"application/xml"}}, body: bytes.NewReader(doc), size: int64(len(doc))})
	if err != nil {
		return err
	}
	defer cancel()
	// S3 may answer 200 and put an error in the body.
	b, err = readAllMax(resp.Body, maxSmallBody)
	if err != nil {
		return fmt.Errorf("S3 completing the multipart upload of %s/%s: %v", bucket, key, err)
	}
	var x struct {
		XMLName       xml.Name
		Code, Message string
	}
	if xml.Unmarshal(b, &x) == nil && x.XMLName.Local == "Error" {
		return &Error{Op: "POST " + bucket + "/" + key + " (complete multipart upload)", StatusCode: resp.StatusCode, Code: x.Code, Message: oneLine(x.Message)}
	}
	return nil
}
