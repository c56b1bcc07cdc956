package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	good := []string{
		"a", "a/b", "golang.org/x/text/@v/v0.3.0.zip", "github.com/!burnt!sushi/toml/@v/list",
		"sumdb/sum.example/tile/8/0/x001/234.p/5", "a..b", "a/b.", "v1.0.0+incompatible.info",
		"日本語", "a b", "x:y", strings.Repeat("z", 255), strings.Repeat("a/", 400) + "b",
	}
	for _, k := range good {
		if err := CheckKey(k); err != nil {
			t.Errorf("CheckKey(%q) = %v, want nil", k, err)
		}
	}
	bad := map[string]string{
		"":                              "empty",
		"/a":                            "empty path element",
		"a/":                            "empty path element",
		"a//b":                          "empty path element",
		"..":                            "starts with a dot",
		"a/../../etc":                   "starts with a dot",
		".tmp-x":                        "starts with a dot",
		"a\\..\\b":                      "backslash",
		"a\x00":                         "control character",
		"a\tb":                          "control character",
		"\xc3\x28":                      "UTF-8",
		strings.Repeat("z", 256):        "longer than 255",
		strings.Repeat("a/", 600) + "b": "longer than 1024",
	}
	for k, why := range bad {
		err := CheckKey(k)
		var ke *KeyError
		if !errors.As(err, &ke) || !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckKey(%q) = %v, want a KeyError saying %q", k, err, why)
		}
	}
}

// FuzzCheckKey: whatever CheckKey accepts is a clean relative path that
// stays inside the store and cannot name one of its temp files.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"a/b", "..", "a/../b", "/abs", "a\\b", "a\x00b", ".tmp-1", "a//b", "golang.org/x/text/@v/list", "C:/x", "a/./b", "~/x", "%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		if key == "" || len(key) > MaxKeyLen {
			t.Fatalf("accepted %q", key)
		}
		native := filepath.FromSlash(key)
		if filepath.IsAbs(native) || filepath.Clean(native) != native || !filepath.IsLocal(native) {
			t.Fatalf("accepted %q, which is not a clean local path", key)
		}
		root := "/store"
		p := filepath.Join(root, native)
		if !strings.HasPrefix(p, root+"/") {
			t.Fatalf("key %q leads to %s, outside %s", key, p, root)
		}
		for _, elem := range strings.Split(key, "/") {
			if strings.HasPrefix(elem, ".") || strings.ContainsAny(elem, "\x00\\") {
				t.Fatalf("accepted element %q of %q", elem, key)
			}
		}
	})
}
