package s3client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
	"github.com/pitstop-go/pitstop/internal/testfleet"
)

// recorder counts and can break the requests a client sends.
type recorder struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	reqs  []string // "METHOD path?query -> status"
	fail  func(*http.Request) error
	hosts []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	line := req.Method + " " + req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		line += "?" + req.URL.RawQuery
	}
	r.mu.Lock()
	fail := r.fail
	r.hosts = append(r.hosts, req.Host)
	r.mu.Unlock()
	if fail != nil {
		if err := fail(req); err != nil {
			r.add(line + " -> " + err.Error())
			return nil, err
		}
	}
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		r.add(fmt.Sprintf("%s -> %d", line, resp.StatusCode))
	}
	return resp, err
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.reqs = append(r.reqs, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

func newClient(t *testing.T, srv *testfleet.S3, rec *recorder) *s3client.Client {
	t.Helper()
	c, err := s3client.New(s3client.Config{Endpoint: srv.Endpoint, PathStyle: true, Credentials: testfleet.Creds(), Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// TestAgainstVersityGW: every request the store makes, against a real
// S3-compatible server: bucket check, PUT, HEAD, GET whole and from an
// offset, a version pinned by If-Match, a listing, DELETE.
func TestAgainstVersityGW(t *testing.T) {
	srv := testfleet.StartS3(t)
	rec := &recorder{rt: http.DefaultTransport}
	c := newClient(t, srv, rec)
	ctx := context.Background()
	if err := c.HeadBucket(ctx, "bkt"); !s3client.IsNotFound(err) {
		t.Fatalf("HEAD of a missing bucket: %v, want not found", err)
	}
	if err := c.MakeBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	if err := c.HeadBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(100_000, 1)
	key := "p/example.com/m/@v/v1.0.0+incompatible.zip" // @ and + are escaped in the path and signed so
	if err := c.Put(ctx, "bkt", key, bytes.NewReader(data), int64(len(data)), s3client.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := c.Head(ctx, "bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || info.ETag == "" || info.LastModified.IsZero() {
		t.Errorf("HEAD: %+v", info)
	}
	rc, ginfo, err := c.Get(ctx, "bkt", key, s3client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) || ginfo.Size != info.Size || ginfo.ETag != info.ETag {
		t.Fatalf("GET: %d bytes, %v, info %+v; want %d bytes, info %+v", len(got), err, ginfo, len(data), info)
	}
	rc, ginfo, err = c.Get(ctx, "bkt", key, s3client.GetOptions{Offset: 60_000, IfMatch: info.ETag})
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data[60_000:]) || ginfo.Size != int64(len(data)) {
		t.Fatalf("GET from 60000: %d bytes, %v, size %d; want the last %d bytes of %d", len(got), err, ginfo.Size, len(data)-60_000, len(data))
	}
	_, _, err = c.Get(ctx, "bkt", key, s3client.GetOptions{Offset: 10, IfMatch: `"0123456789abcdef0123456789abcdef"`})
	var se *s3client.Error
	if !errors.As(err, &se) || se.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("GET of another version: %v, want a 412 *Error", err)
	}
	if _, err := c.Head(ctx, "bkt", "p/none"); !s3client.IsNotFound(err) {
		t.Errorf("HEAD of a missing key: %v", err)
	}
	_, _, err = c.Get(ctx, "bkt", "p/none", s3client.GetOptions{})
	if !errors.As(err, &se) || se.Code != "NoSuchKey" || strings.Contains(err.Error(), "\n") {
		t.Errorf("GET of a missing key: %v, want a one-line NoSuchKey *Error", err)
	}
	for i := range 3 {
		if err := c.Put(ctx, "bkt", fmt.Sprintf("q/k%d", i), strings.NewReader("x"), 1, s3client.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := c.List(ctx, "bkt", "q/", func(o s3client.ObjectInfo) error {
		if o.Size != 1 || o.LastModified.IsZero() {
			t.Errorf("listed %+v", o)
		}
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "q/k0,q/k1,q/k2" {
		t.Errorf("listed %q, want q/k0..2", keys)
	}
	if err := c.Delete(ctx, "bkt", key); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "bkt", key); err != nil {
		t.Errorf("deleting a deleted key: %v", err)
	}
	if _, err := c.Head(ctx, "bkt", key); !s3client.IsNotFound(err) {
		t.Errorf("HEAD after DELETE: %v", err)
	}
	for _, r := range rec.take() {
		if strings.HasSuffix(r, "-> 403") || strings.HasSuffix(r, "-> 400") {
			t.Errorf("the server refused %s", r)
		}
	}
}

// TestMultipartUpload: past the part size an upload goes in parts and the
// object appears whole; a failure mid-way aborts the upload, leaving no
// object.
func TestMultipartUpload(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "mpart")
	rec := &recorder{rt: http.DefaultTransport}
	c := newClient(t, srv, rec)
	ctx := context.Background()
	data := randomBytes(11<<20+7, 2)
	if err := c.Put(ctx, "mpart", "big", bytes.NewReader(data), int64(len(data)), s3client.PutOptions{PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	var parts, posts int
	for _, r := range rec.take() {
		if strings.HasPrefix(r, "PUT ") && strings.Contains(r, "partNumber=") {
			parts++
		}
		if strings.HasPrefix(r, "POST ") {
			posts++
		}
	}
	if parts != 3 || posts != 2 {
		t.Errorf("%d part uploads and %d POSTs, want 3 parts (11 MiB in 5 MiB) and 2 POSTs (create, complete)", parts, posts)
	}
	rc, info, err := c.Get(ctx, "mpart", "big", s3client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Fatalf("multipart object: %d bytes back, want %d identical", len(got), len(data))
	}

	// The second part's connection is refused: no retry, the upload is
	// aborted and nothing appears.
	rec.fail = func(r *http.Request) error {
		if r.Method == "PUT" && r.URL.Query().Get("partNumber") == "2" {
			return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		}
		return nil
	}
	err = c.Put(ctx, "mpart", "broken", bytes.NewReader(data), int64(len(data)), s3client.PutOptions{PartSize: 5 << 20})
	if err == nil || !s3client.IsUnreachable(err) {
		t.Fatalf("upload with a refused part: %v, want an unreachable error", err)
	}
	reqs := rec.take()
	aborted := false
	for _, r := range reqs {
		if strings.HasPrefix(r, "DELETE ") && strings.Contains(r, "uploadId=") && strings.HasSuffix(r, "-> 204") {
			aborted = true
		}
	}
	if !aborted {
		t.Errorf("the failed upload was not aborted; requests: %q", reqs)
	}
	rec.fail = nil
	if _, err := c.Head(ctx, "mpart", "broken"); !s3client.IsNotFound(err) {
		t.Errorf("after a failed multipart upload, HEAD says %v; want no object", err)
	}
}

// TestVirtualHostStyle: without PathStyle the bucket is addressed as
// BUCKET.HOST, which the gateway serves with --virtual-domain.
func TestVirtualHostStyle(t *testing.T) {
	srv := testfleet.StartS3(t, "--virtual-domain", "s3.test")
	srv.MakeBucket(t, "vhost")
	_, port, _ := net.SplitHostPort(srv.Addr)
	rec := &recorder{rt: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr) // every *.s3.test name is the gateway
	}}}
	c, err := s3client.New(s3client.Config{Endpoint: "http://s3.test:" + port, Credentials: testfleet.Creds(), Transport: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.HeadBucket(ctx, "vhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "vhost", "a/b", strings.NewReader("hello"), 5, s3client.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Get(ctx, "vhost", "a/b", s3client.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "hello" {
		t.Errorf("read %q", b)
	}
	var n int
	if err := c.List(ctx, "vhost", "", func(s3client.ObjectInfo) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("listing: %d objects, %v", n, err)
	}
	for _, h := range rec.hosts {
		if h != "vhost.s3.test:"+port {
			t.Errorf("request to host %q, want vhost.s3.test:%s", h, port)
		}
	}
	for _, r := range rec.take() {
		if strings.HasPrefix(r, "GET /vhost") || strings.HasPrefix(r, "PUT /vhost") {
			t.Errorf("path-style request %s", r)
		}
	}
}

// TestWrongCredentials: the server's refusal is one line with S3's code.
func TestWrongCredentials(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "wrongc")
	c, err := s3client.New(s3client.Config{Endpoint: srv.Endpoint, PathStyle: true,
		Credentials: s3client.Credentials{AccessKeyID: testfleet.AccessKey, SecretAccessKey: "not-the-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(context.Background(), "wrongc", "k", s3client.GetOptions{})
	var se *s3client.Error
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || se.Code != "SignatureDoesNotMatch" || strings.Contains(err.Error(), "\n") {
		t.Errorf("GET with a wrong secret: %v, want a one-line 403 SignatureDoesNotMatch", err)
	}
	if s3client.IsUnreachable(err) {
		t.Errorf("a refusal is not an unreachable server: %v", err)
	}
}
