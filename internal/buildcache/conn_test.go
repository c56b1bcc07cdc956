package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http/httptrace"
	"testing"
)

// TestClientReusesConnections checks that the answers a cold build gets
// most (misses) and the uploads and refusals after them leave the
// connection reusable: a client that closed a 404's body unread opened a
// new TCP connection for every miss.
func TestClientReusesConnections(t *testing.T) {
	cl, err := NewClient(serveBehindService(t, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var fresh int
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			fresh++
		}
	}})
	const n = 20
	for i := range n {
		if _, err := cl.Get(tctx, id(fmt.Sprint("missing ", i))); !errors.Is(err, ErrMiss) {
			t.Fatalf("get %d: %v, want ErrMiss", i, err)
		}
	}
	for i := range n {
		body := fmt.Appendf(nil, "object %d", i)
		e := Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))}
		if err := cl.Put(tctx, id(fmt.Sprint("action ", i)), e, bytes.NewReader(body)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	for i := range n {
		body := fmt.Appendf(nil, "other object %d", i)
		e := Entry{OutputID: ID(sha256.Sum256(body)), Size: int64(len(body))}
		if err := cl.Put(tctx, id(fmt.Sprint("action ", i)), e, bytes.NewReader(body)); !errors.Is(err, ErrConflict) {
			t.Fatalf("remapping put %d: %v, want ErrConflict", i, err)
		}
	}
	if fresh != 1 {
		t.Errorf("%d requests (misses, uploads, conflicts) one after another opened %d connections, want 1", 3*n, fresh)
	}
}
