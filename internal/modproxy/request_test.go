package modproxy

import (
	"path"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
)

func TestParseRequest(t *testing.T) {
	for _, c := range []struct {
		in      string
		kind    Kind
		path    string
		version string
		query   bool
		key     string
	}{
		{"/example.com/!upper/@v/list", KindList, "example.com/Upper", "", false, "example.com/!upper/@v/list"},
		{"/example.com/a/@latest", KindLatest, "example.com/a", "", false, "example.com/a/@latest"},
		{"/example.com/a/@v/v1.2.3.info", KindInfo, "example.com/a", "v1.2.3", false, "example.com/a/@v/v1.2.3.info"},
		{"/example.com/a/@v/master.info", KindInfo, "example.com/a", "master", true, "example.com/a/@v/master.info"},
		{"/example.com/a/@v/v1.info", KindInfo, "example.com/a", "v1", true, "example.com/a/@v/v1.info"},
		{"/example.com/a/@v/v1.0.0-!r!c.1.mod", KindMod, "example.com/a", "v1.0.0-RC.1", false, "example.com/a/@v/v1.0.0-!r!c.1.mod"},
		{"/golang.org/toolchain/@v/v0.0.1-go1.22.5.linux-arm64.zip", KindZip, "golang.org/toolchain", "v0.0.1-go1.22.5.linux-arm64", false, "golang.org/toolchain/@v/v0.0.1-go1.22.5.linux-arm64.zip"},
		{"/example.com/a/@v/v2.0.0.zip", KindZip, "example.com/a", "", false, ""},
		{"/sumdb/sum.example/lookup/example.com/a@v1.0.0", KindSumDB, "example.com/a", "v1.0.0", false, "sumdb/sum.example/lookup/example.com/a@v1.0.0"},
		{"/sumdb/sum.example/tile/8/0/x001/234.p/5", KindSumDB, "", "", false, "sumdb/sum.example/tile/8/0/x001/234.p/5"},
		{"/sumdb/sum.example/latest", KindSumDB, "", "", false, "sumdb/sum.example/latest"},
	} {
		r, err := ParseRequest(c.in)
		if c.key == "" {
			if err == nil {
				t.Errorf("ParseRequest(%q) = %+v, want an error", c.in, r)
			}
			continue
		}
		if err != nil || r.Kind != c.kind || r.Path != c.path || r.Version != c.version || r.Query != c.query || r.Key != c.key {
			t.Errorf("ParseRequest(%q) = %+v, %v", c.in, r, err)
		}
	}
}

// FuzzParseRequest checks that no request path yields a store key that
// could leave the store, and that errors carry a status.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"/example.com/a/@v/list", "/example.com/a/@latest", "/example.com/!a/@v/v1.0.0.zip",
		"/example.com/a/@v/master.info", "/sumdb/sum.golang.org/lookup/example.com/a@v1.0.0",
		"/sumdb/x/tile/8/0/001", "/sumdb/x/tile/8/data/000.p/3", "/../x", "/a/../@v/list",
		"/example.com/a/@v/..info", "/example.com/a/@v/%2e%2e.info", "/sumdb/../latest", "//@v/list",
		"/example.com/a/@v/<=v1.2.info", "/example.com/a/@v/.zip",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := ParseRequest(p)
		if err != nil {
			re, ok := err.(*RequestError)
			if !ok || (re.Status != 400 && re.Status != 404) || re.Msg == "" {
				t.Fatalf("ParseRequest(%q): error %v without a 400/404 status", p, err)
			}
			return
		}
		if err := store.CheckKey(r.Key); err != nil {
			t.Fatalf("ParseRequest(%q) key %q: %v", p, r.Key, err)
		}
		if path.Clean(r.Key) != r.Key || strings.HasPrefix(r.Key, "/") || strings.HasPrefix(r.Key, "..") {
			t.Fatalf("ParseRequest(%q) key %q is not clean", p, r.Key)
		}
		for _, e := range strings.Split(r.Key, "/") {
			if e == ".." || e == "." || e == "" {
				t.Fatalf("ParseRequest(%q) key %q has element %q", p, r.Key, e)
			}
		}
		if r.Kind == KindOther {
			t.Fatalf("ParseRequest(%q) accepted with no kind", p)
		}
	})
}

// TestMutableKey: a replica's tier keeps module files, .info of versions
// and checksum lookups and tiles locally; lists, @latest, queries and
// whatever is not a proxy path go to the shared store every time. The
// suffix fast path answers as parsing does.
func TestMutableKey(t *testing.T) {
	for key, want := range map[string]bool{
		"example.com/m/@v/v1.0.0.zip":                             false,
		"example.com/m/@v/v1.0.0.mod":                             false,
		"example.com/m/@v/v1.0.0.info":                            false,
		"example.com/m/@v/master.info":                            true,
		"example.com/m/@v/list":                                   true,
		"example.com/m/@latest":                                   true,
		"sumdb/sum.golang.org/lookup/example.com/m@v1.0.0":        false,
		"sumdb/sum.golang.org/latest":                             true,
		"golang.org/toolchain/@v/v0.0.1-go1.22.0.linux-arm64.zip": false,
		"not a key": true,
	} {
		if got := MutableKey(key); got != want {
			t.Errorf("MutableKey(%q) = %v, want %v", key, got, want)
		}
		if strings.HasSuffix(key, ".zip") || strings.HasSuffix(key, ".mod") {
			req, err := ParseRequest("/" + key)
			if parsed := err != nil || !req.Immutable(); parsed != want {
				t.Errorf("%q: the fast path says %v, parsing says %v", key, want, parsed)
			}
		}
	}
}
