package store

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

// touchingRemote is a disk store that counts the uses told to it, as
// s3store.Store.Touch records them for the bucket's eviction order.
type touchingRemote struct {
	*Disk
	mu      sync.Mutex
	touched []string
}

func (r *touchingRemote) Touch(key string) {
	r.mu.Lock()
	r.touched = append(r.touched, key)
	r.mu.Unlock()
}

// TestTieredGetFileAndTouch: GetFile serves the local copy (telling the
// remote of the use) and reads a miss through from the remote; Touch
// records a use in both tiers without opening the file, and answers a key
// only the remote holds; a mutable key always goes to the remote.
func TestTieredGetFileAndTouch(t *testing.T) {
	ctx := context.Background()
	open := func() *Disk {
		d, err := Open(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	remote := &touchingRemote{Disk: open()}
	local := open()
	tr := &Tiered{Local: local, Remote: remote, Mutable: func(k string) bool { return strings.HasSuffix(k, "list") }}
	if err := remote.Put(ctx, "m/@v/v1.zip", strings.NewReader("zip")); err != nil {
		t.Fatal(err)
	}
	read := func(key string) string {
		t.Helper()
		obj, err := tr.GetFile(ctx, key)
		if err != nil {
			t.Fatalf("GetFile %s: %v", key, err)
		}
		defer obj.Close()
		b, _ := io.ReadAll(obj.Body)
		return string(b)
	}
	if got := read("m/@v/v1.zip"); got != "zip" {
		t.Fatalf("GetFile through to the remote: %q", got)
	}
	if _, err := local.Stat(ctx, "m/@v/v1.zip"); err != nil {
		t.Fatalf("a read-through did not keep a local copy: %v", err)
	}
	remote.touched = nil
	if got := read("m/@v/v1.zip"); got != "zip" || len(remote.touched) != 1 {
		t.Errorf("local GetFile: %q, remote told of %d uses; want 1", got, len(remote.touched))
	}
	in, err := tr.Touch(ctx, "m/@v/v1.zip")
	if err != nil || in.Size != 3 || len(remote.touched) != 2 {
		t.Errorf("Touch of a local object: %+v, %v, remote told of %d uses; want 2", in, err, len(remote.touched))
	}
	if err := remote.Put(ctx, "m/@v/list", strings.NewReader("v1\n")); err != nil {
		t.Fatal(err)
	}
	if in, err := tr.Touch(ctx, "m/@v/list"); err != nil || in.Size != 3 {
		t.Errorf("Touch of a remote-only mutable key: %+v, %v", in, err)
	}
	if got := read("m/@v/list"); got != "v1\n" {
		t.Errorf("GetFile of a mutable key: %q", got)
	}
	if _, err := local.Stat(ctx, "m/@v/list"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a mutable key was kept in the local tier: %v", err)
	}
	if _, err := tr.Touch(ctx, "m/@v/none.zip"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Touch of a missing key: %v", err)
	}
}
