package s3client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testCreds = Credentials{AccessKeyID: "id", SecretAccessKey: "secret"}

func fakeServer(t *testing.T, h http.HandlerFunc) (*Client, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL, Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() } // no waiting in tests
	return c, &n
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + code + "</Code><Message>" + msg + "</Message><RequestId>r1</RequestId></Error>"))
}

// TestRetries: throttling and server errors are retried for idempotent
// requests, up to the attempts; a refusal is not; a POST is not.
func TestRetries(t *testing.T) {
	ctx := context.Background()
	var fails atomic.Int64
	fails.Store(2)
	c, n := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce\nyour request rate.")
			return
		}
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", "3")
		w.WriteHeader(200)
	})
	if _, err := c.Head(ctx, "bkt", "k"); err != nil || n.Load() != 3 {
		t.Errorf("HEAD after two SlowDowns: %v after %d requests, want success on the 3rd", err, n.Load())
	}
	fails.Store(5)
	n.Store(0)
	_, _, err := c.Get(ctx, "bkt", "k", GetOptions{})
	var se *Error
	if !errors.As(err, &se) || se.Code != "SlowDown" || n.Load() != 3 || !IsUnreachable(err) {
		t.Errorf("GET throttled throughout: %v after %d requests, want SlowDown after 3", err, n.Load())
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "reduce your request rate") {
		t.Errorf("error %q: want S3's message on one line", err)
	}
	fails.Store(5)
	n.Store(0)
	err = c.Delete(ctx, "bkt", "k")
	if err == nil || n.Load() != 3 {
		t.Errorf("DELETE throttled throughout: %v after %d requests", err, n.Load())
	}

	// A POST (starting a multipart upload) is tried once.
	fails.Store(5)
	n.Store(0)
	err = c.Put(ctx, "bkt", "k", strings.NewReader(strings.Repeat("x", MinPartSize+1)), MinPartSize+1, PutOptions{PartSize: MinPartSize})
	if err == nil || n.Load() != 1 {
		t.Errorf("multipart start failing: %v after %d requests, want 1 request", err, n.Load())
	}

	// A refusal (403) is final.
	c2, n2 := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Access Denied")
	})
	_, _, err = c2.Get(ctx, "bkt", "k", GetOptions{})
	if !errors.As(err, &se) || se.Code != "AccessDenied" || n2.Load() != 1 || IsUnreachable(err) {
		t.Errorf("GET refused: %v after %d requests, want AccessDenied after 1", err, n2.Load())
	}
	if got := err.Error(); got != "S3 GET bkt/k: 403 AccessDenied: Access Denied" {
		t.Errorf("error reads %q", got)
	}
}

// TestRefusedConnectionNotRetried: a server that is down is reported at
// once, as unreachable.
func TestRefusedConnectionNotRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(Config{Endpoint: url, Credentials: testCreds})
	if err != nil {
		t.Fatal(err)
	}
	var slept int
	c.sleep = func(context.Context, time.Duration) error { slept++; return nil }
	_, err = c.Head(context.Background(), "bkt", "k")
	if !IsUnreachable(err) || slept != 0 {
		t.Errorf("HEAD to a closed port: %v (backed off %d times), want unreachable at once", err, slept)
	}
}

// TestBoundedAnswers: a listing larger than the bound is refused rather
// than read into memory; a huge error body is cut.
func TestBoundedAnswers(t *testing.T) {
	c, _ := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("list-type") == "2" {
			w.Write([]byte("<ListBucketResult>"))
			chunk := []byte(strings.Repeat("<Contents><Key>k</Key><Size>1</Size></Contents>", 1000))
			for range maxListBody/len(chunk) + 2 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("<Error><Code>Big</Code><Message>" + strings.Repeat("m", 4*maxErrorBody)))
	})
	err := c.List(context.Background(), "bkt", "", func(ObjectInfo) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized listing: %v", err)
	}
	_, _, err = c.Get(context.Background(), "bkt", "k", GetOptions{})
	if err == nil || len(err.Error()) > maxErrorBody {
		t.Errorf("oversized error body gave an error of %d bytes", len(err.Error()))
	}
}

// TestListPages: a truncated listing is followed page by page with the
// continuation token.
func TestListPages(t *testing.T) {
	c, _ := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("continuation-token") {
		case "":
			w.Write([]byte("<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t 2/+</NextContinuationToken><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>"))
		case "t 2/+":
			w.Write([]byte("<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>b</Key><Size>2</Size></Contents></ListBucketResult>"))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	var keys []string
	if err := c.List(context.Background(), "bkt", "", func(o ObjectInfo) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Errorf("listed %q, want a,b", keys)
	}
}

// TestAttemptTimeout: a server that never answers a HEAD is given up on
// after the timeout, not waited for forever.
func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(func() { close(release); srv.Close() })
	c, err := New(Config{Endpoint: srv.URL, Credentials: testCreds, Timeout: 100 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Head(context.Background(), "bkt", "k")
	if !errors.Is(err, context.DeadlineExceeded) || !IsUnreachable(err) {
		t.Errorf("HEAD to a silent server: %v, want a deadline exceeded, unreachable", err)
	}
}

// TestCompleteErrorInBody: S3 may answer a multipart completion 200 with
// an error document; that is a failure.
func TestCompleteErrorInBody(t *testing.T) {
	c, _ := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "POST" && r.URL.Query().Has("uploads"):
			w.Write([]byte("<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"))
		case r.Method == "PUT":
			w.Header().Set("ETag", `"e"`)
		case r.Method == "POST":
			w.Write([]byte("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"))
		case r.Method == "DELETE":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	err := c.Put(context.Background(), "bkt", "k", strings.NewReader(strings.Repeat("x", MinPartSize+1)), MinPartSize+1, PutOptions{PartSize: MinPartSize})
	var se *Error
	if !errors.As(err, &se) || se.Code != "InternalError" {
		t.Errorf("completion answered 200 with an error: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, ep := range []string{"", "127.0.0.1:9000", "ftp://h", "http://h/path", "http://u:p@h", "http://h?x=1"} {
		if _, err := New(Config{Endpoint: ep, Credentials: testCreds}); err == nil || !strings.Contains(err.Error(), "want http://HOST:PORT") {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	if _, err := New(Config{Endpoint: "http://h:1"}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no credentials: %v", err)
	}
}

// TestAddressing: path style where asked or where a virtual host cannot
// work (an IP address, localhost, a dotted bucket over https).
func TestAddressing(t *testing.T) {
	for _, c := range []struct {
		endpoint, bucket string
		path             bool
		want             string
	}{
		{"https://s3.example.net", "bkt", false, "https://bkt.s3.example.net/a%20b/c"},
		{"https://s3.example.net", "bkt", true, "https://s3.example.net/bkt/a%20b/c"},
		{"http://127.0.0.1:7070", "bkt", false, "http://127.0.0.1:7070/bkt/a%20b/c"},
		{"http://localhost:7070", "bkt", false, "http://localhost:7070/bkt/a%20b/c"},
		{"https://s3.example.net", "my.bkt", false, "https://s3.example.net/my.bkt/a%20b/c"},
	} {
		cl, err := New(Config{Endpoint: c.endpoint, PathStyle: c.path, Credentials: testCreds})
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.url(c.bucket, "a b/c").String(); got != c.want {
			t.Errorf("%s %s path=%v: %s, want %s", c.endpoint, c.bucket, c.path, got, c.want)
		}
	}
}

// TestLoadCredentials: the environment first, then the profile in the
// shared credentials file, then in the config file; the region from the
// environment, then the config file.
func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	credFile := filepath.Join(dir, "credentials")
	confFile := filepath.Join(dir, "config")
	os.WriteFile(credFile, []byte("# comment\n[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n[team]\naws_access_key_id=TEAM\naws_secret_access_key=teamsecret\naws_session_token = tok\n"), 0o600)
	os.WriteFile(confFile, []byte("[default]\nregion = eu-central-1\n[profile cfgonly]\nregion=ap-south-1\naws_access_key_id = CFG\naws_secret_access_key = cfgsecret\n"), 0o600)
	env := func(kv ...string) Env {
		m := map[string]string{"AWS_SHARED_CREDENTIALS_FILE": credFile, "AWS_CONFIG_FILE": confFile, "HOME": dir}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name   string
		env    Env
		want   Credentials
		region string
	}{
		{"environment", env("AWS_ACCESS_KEY_ID", "ENV", "AWS_SECRET_ACCESS_KEY", "envsecret", "AWS_SESSION_TOKEN", "st", "AWS_PROFILE", "team", "AWS_REGION", "us-west-2"),
			Credentials{"ENV", "envsecret", "st"}, "us-west-2"},
		{"default profile", env(), Credentials{"DEF", "defsecret", ""}, "eu-central-1"},
		{"AWS_PROFILE", env("AWS_PROFILE", "team", "AWS_DEFAULT_REGION", "sa-east-1"), Credentials{"TEAM", "teamsecret", "tok"}, "sa-east-1"},
		{"config file", env("AWS_PROFILE", "cfgonly"), Credentials{"CFG", "cfgsecret", ""}, "ap-south-1"},
	} {
		got, err := LoadCredentials(c.env)
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
		if r, err := LoadRegion(c.env); err != nil || r != c.region {
			t.Errorf("%s: region %q, %v; want %q", c.name, r, err, c.region)
		}
	}
	if _, err := LoadCredentials(env("AWS_PROFILE", "nobody")); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("unknown profile: %v, want ErrNoCredentials", err)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("[default\naws_access_key_id = X\n"), 0o600)
	if _, err := LoadCredentials(env("AWS_SHARED_CREDENTIALS_FILE", bad)); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("malformed credentials file: %v, want an error naming it", err)
	}
}
