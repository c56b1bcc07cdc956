package vulndb

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const fixture = "../testdata/vulndb"

func TestAffecting(t *testing.T) {
	db, err := Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod, v string
		want   string
	}{
		{"example.com/vuln", "v1.1.0", "GO-2024-9001"},
		{"example.com/vuln", "v0.0.0-20200101000000-abcdefabcdef", "GO-2024-9001"},
		{"example.com/vuln", "v1.2.0", ""},
		{"example.com/vuln", "v1.3.0", "GO-2024-9001"},
		{"example.com/vuln", "v1.3.2", ""},
		{"example.com/other", "v9.0.0", "GO-2024-9002"},
		{"example.com/clean", "v1.0.0", ""},
	} {
		advs, err := db.Affecting(tc.mod, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range advs {
			ids = append(ids, a.ID)
		}
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("Affecting(%s@%s) = %q; want %q", tc.mod, tc.v, got, tc.want)
		}
	}
	if _, err := Open(t.TempDir()); err == nil {
		t.Errorf("Open of an empty directory succeeded; want an error")
	}
}

func TestSyncFromHTTPReplacesAtomically(t *testing.T) {
	src := t.TempDir()
	if err := os.CopyFS(src, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int32
	fsrv := http.FileServer(http.Dir(src))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		fsrv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "vulndb")
	res, err := Syncer{}.Sync(context.Background(), srv.URL, dir)
	if err != nil || res.Entries != 2 || res.Fetched != 2 || res.Unchanged {
		t.Fatalf("first sync = %+v, %v; want 2 entries fetched", res, err)
	}
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := db.Affecting("example.com/vuln", "v1.1.0"); len(a) != 1 {
		t.Fatalf("synced copy: Affecting = %v", a)
	}
	// Unchanged database: only db.json is fetched.
	gets.Store(0)
	if res, err := (Syncer{}).Sync(context.Background(), srv.URL, dir); err != nil || !res.Unchanged || gets.Load() != 1 {
		t.Fatalf("second sync = %+v, %v after %d requests; want unchanged after 1", res, err, gets.Load())
	}
	// A new advisory for example.com/clean: one entry fetched, one copied.
	os.WriteFile(filepath.Join(src, "index/db.json"), []byte(`{"modified":"2024-07-01T00:00:00Z"}`), 0o644)
	os.WriteFile(filepath.Join(src, "index/vulns.json"), []byte(`[{"id":"GO-2024-9001","modified":"2024-06-01T00:00:00Z"},{"id":"GO-2024-9003","modified":"2024-07-01T00:00:00Z"}]`), 0o644)
	os.WriteFile(filepath.Join(src, "index/modules.json"), []byte(`[{"path":"example.com/vuln","vulns":[{"id":"GO-2024-9001","modified":"2024-06-01T00:00:00Z"}]},{"path":"example.com/clean","vulns":[{"id":"GO-2024-9003","modified":"2024-07-01T00:00:00Z"}]}]`), 0o644)
	os.WriteFile(filepath.Join(src, "ID/GO-2024-9003.json"), []byte(`{"id":"GO-2024-9003","modified":"2024-07-01T00:00:00Z","affected":[{"package":{"name":"example.com/clean","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"}]}]}]}`), 0o644)
	res, err = Syncer{}.Sync(context.Background(), srv.URL, dir)
	if err != nil || res.Entries != 2 || res.Fetched != 1 {
		t.Fatalf("third sync = %+v, %v; want 2 entries, 1 fetched", res, err)
	}
	// The open DB looks for a new copy every RecheckInterval.
	var a []Advisory
	for deadline := time.Now().Add(3 * RecheckInterval); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if a, err = db.Affecting("example.com/clean", "v1.0.0"); err != nil || len(a) == 1 {
			break
		}
	}
	if err != nil || len(a) != 1 || a[0].ID != "GO-2024-9003" {
		t.Errorf("after the sync the open DB sees %v, %v; want GO-2024-9003", a, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ID", "GO-2024-9002.json")); err == nil {
		t.Errorf("GO-2024-9002, gone from the index, is still in the mirror")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".vulndb.new-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary copies left behind: %v", leftovers)
	}
	// A broken source leaves the mirror as it was.
	os.WriteFile(filepath.Join(src, "index/db.json"), []byte(`{"modified":"2024-08-01T00:00:00Z"}`), 0o644)
	os.WriteFile(filepath.Join(src, "index/vulns.json"), []byte(`[{"id":"GO-2024-9001","modified":"2024-06-01T00:00:00Z"},{"id":"GO-2024-9003","modified":"2024-08-01T00:00:00Z"}]`), 0o644)
	os.Remove(filepath.Join(src, "ID/GO-2024-9003.json"))
	if _, err := (Syncer{}).Sync(context.Background(), srv.URL, dir); err == nil {
		t.Fatalf("sync from a source missing an entry succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "index/db.json")); !strings.Contains(string(b), "2024-07-01") {
		t.Errorf("failed sync changed the mirror: db.json = %s", b)
	}
}
