package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// objectServer answers every /v1/get/ with valid object headers for body
// and then, as send says, all of body, the first cut bytes followed by a
// cut connection (cut >= 0), or garbage of the right length. It counts gets.
type objectServer struct {
	*httptest.Server
	gets atomic.Int64
}

const (
	sendWhole   = -1
	sendGarbage = -2
)

func newObjectServer(t *testing.T, body []byte, send int) *objectServer {
	t.Helper()
	s := &objectServer{}
	out := sha256.Sum256(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gets.Add(1)
		h := w.Header()
		h.Set(hdrOutputID, ID(out).String())
		h.Set(hdrSize, strconv.Itoa(len(body)))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		switch {
		case send == sendWhole:
			w.Write(body)
		case send == sendGarbage:
			w.Write(bytes.Repeat([]byte{'x'}, len(body)))
		default:
			w.Write(body[:send])
			http.NewResponseController(w).Flush()
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			c.Close()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func newBreakerProg(t *testing.T, url string) *Prog {
	t.Helper()
	l := &Local{Dir: t.TempDir()}
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	cl, err := NewClient(url, "")
	if err != nil {
		t.Fatal(err)
	}
	cl.OpenFor = time.Hour
	return &Prog{Local: l, Remote: cl}
}

// TestBodyCutOpensBreaker: a server that sends good headers and then cuts
// the body is failing; after three such gets the helper asks it nothing
// more for the open period, and asks again once the period is over.
func TestBodyCutOpensBreaker(t *testing.T) {
	body := bytes.Repeat([]byte("object "), 4096)
	srv := newObjectServer(t, body, 1000)
	p := newBreakerProg(t, srv.URL)
	ctx := context.Background()
	for i := range 10 {
		_, _, err := p.fetch(ctx, id(fmt.Sprint("action", i)))
		if err == nil {
			t.Fatalf("fetch %d of a cut body succeeded", i)
		}
		if i >= 3 && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("fetch %d after three cut bodies: %v, want ErrUnavailable", i, err)
		}
	}
	if n := srv.gets.Load(); n != 3 {
		t.Fatalf("the server got %d gets; the breaker should stop them after 3 cut bodies", n)
	}
	if n := p.Stats.RemoteGets.Load(); n != 3 {
		t.Errorf("Stats.RemoteGets = %d, want 3", n)
	}
	if p.Remote.Healthy() {
		t.Error("breaker closed after three cut bodies")
	}
	// The open period over (moved into the past), the next get is sent.
	p.Remote.mu.Lock()
	p.Remote.openUntil = time.Now().Add(-time.Second)
	p.Remote.mu.Unlock()
	if _, _, err := p.fetch(ctx, id("after")); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("fetch after the open period: %v, want the cut body's error", err)
	}
	if n := srv.gets.Load(); n != 4 {
		t.Fatalf("the server got %d gets after the open period, want 4", n)
	}
}

// TestCorruptObjectsKeepBreakerClosed: a server that answers whole objects
// with the wrong content is answering; the helper treats each as a miss but
// keeps asking.
func TestCorruptObjectsKeepBreakerClosed(t *testing.T) {
	body := bytes.Repeat([]byte("object "), 512)
	srv := newObjectServer(t, body, sendGarbage)
	p := newBreakerProg(t, srv.URL)
	for i := range 6 {
		if _, _, err := p.fetch(context.Background(), id(fmt.Sprint("action", i))); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("fetch %d of a garbled object: %v, want ErrCorrupt", i, err)
		}
	}
	if n := srv.gets.Load(); n != 6 {
		t.Fatalf("the server got %d of 6 gets; corrupt objects must not open the breaker", n)
	}
	if !p.Remote.Healthy() {
		t.Error("breaker open after corrupt objects")
	}
}

// TestWholeObjectFetched: the same server sending the whole body is a hit
// (the two tests above fail for the reason they say).
func TestWholeObjectFetched(t *testing.T) {
	body := bytes.Repeat([]byte("object "), 512)
	srv := newObjectServer(t, body, sendWhole)
	p := newBreakerProg(t, srv.URL)
	e, path, err := p.fetch(context.Background(), id("a"))
	if err != nil || e.Size != int64(len(body)) || path == "" {
		t.Fatalf("fetch: %v, %+v, %q", err, e, path)
	}
}

// TestUnauthorizedIsTyped: a server's 401 is ErrUnauthorized for Put and
// Get (callers act on it: the helper warns once and stops using the
// server), not only a message that mentions the token.
func TestUnauthorizedIsTyped(t *testing.T) {
	var gets atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		http.Error(w, "bad token", http.StatusUnauthorized)
	}))
	defer ts.Close()
	cl, err := NewClient(ts.URL, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	cl.OpenFor = time.Hour
	body := []byte("x")
	e := Entry{OutputID: ID(sha256.Sum256(body)), Size: 1}
	if err := cl.Put(context.Background(), id("k"), e, bytes.NewReader(body)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("put refused with 401: %v, want ErrUnauthorized", err)
	}
	if _, err := cl.Get(context.Background(), id("k")); !errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrMiss) {
		t.Fatalf("get refused with 401: %v, want ErrUnauthorized", err)
	}
	// A refused read is a failure for the breaker, not a miss. (A refused
	// upload is not: it stops uploads only, reads go on; see
	// TestAccessLevels.) Three refused reads open it: the fourth is not sent.
	cl.Get(context.Background(), id("k"))
	cl.Get(context.Background(), id("k"))
	if _, err := cl.Get(context.Background(), id("k")); !errors.Is(err, ErrUnavailable) || gets.Load() != 4 {
		t.Fatalf("after three refused reads: %v, %d requests; want ErrUnavailable after 1 upload and 3 reads", err, gets.Load())
	}
}
