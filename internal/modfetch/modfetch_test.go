package modfetch

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

func mod(path, vers string, files ...string) testupstream.Module {
	m := testupstream.Module{Path: path, Version: vers, Files: map[string]string{
		"go.mod": "module " + path + "\n\ngo 1.21\n",
	}}
	for i := 0; i+1 < len(files); i += 2 {
		m.Files[files[i]] = files[i+1]
	}
	if len(files) == 0 {
		m.Files["x.go"] = "package x\n"
	}
	return m
}

var mods = []testupstream.Module{
	mod("example.com/Big/a", "v1.0.0"),
	mod("example.com/Big/a", "v1.2.0"),
	mod("example.com/Big/a", "v1.3.0-beta.1"),
	mod("example.com/Big/a", "v2.0.0+incompatible"),
	mod("example.com/b", "v0.1.0-pre"),
	{Path: "golang.org/toolchain", Version: "v0.0.1-go1.22.5.linux-arm64", Files: map[string]string{
		"bin/go": "#!/bin/sh\n", "VERSION": "go1.22.5\n"}},
}

func fetcher(t *testing.T, goproxy string, up *testupstream.Server, extra ...string) *Fetcher {
	t.Helper()
	env := goenv.Env{"GOPROXY": goproxy, "GOSUMDB": up.GOSUMDB}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return &Fetcher{Env: env, DirectDir: t.TempDir()}
}

func TestFetchAndVerify(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	f := fetcher(t, up.URL, up)
	ctx := context.Background()

	list, err := f.List(ctx, "example.com/Big/a")
	if err != nil || strings.Join(list, " ") != "v1.0.0 v1.2.0 v1.3.0-beta.1 v2.0.0+incompatible" {
		t.Fatalf("List = %v, %v", list, err)
	}
	gm, err := f.GoMod(ctx, "example.com/Big/a", "v1.2.0")
	if err != nil || !strings.HasPrefix(string(gm), "module example.com/Big/a\n") {
		t.Fatalf("GoMod = %q, %v", gm, err)
	}
	for _, tm := range mods {
		tmp, err := os.CreateTemp(t.TempDir(), "zip")
		if err != nil {
			t.Fatal(err)
		}
		var seen int64
		h, err := f.Zip(ctx, tm.Path, tm.Version, tmp, func(n, total int64) { seen = n })
		tmp.Close()
		want, _, _ := up.Hash(tm.Path, tm.Version)
		if err != nil || h != want {
			t.Fatalf("Zip(%s@%s) = %q, %v; want %s", tm.Path, tm.Version, h, err, want)
		}
		if seen != int64(len(up.ZipBytes(tm.Path, tm.Version))) {
			t.Errorf("progress saw %d bytes", seen)
		}
	}
	if up.Count("/sumdb/sumdb.test/lookup/*") == 0 {
		t.Errorf("no checksum database lookups: %v", up.Requests())
	}
}

func TestQueries(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	f := fetcher(t, up.URL, up)
	ctx := context.Background()
	for _, c := range []struct{ path, query, want string }{
		{"example.com/Big/a", "latest", "v2.0.0+incompatible"},
		{"example.com/Big/a", "v1", "v1.2.0"},
		{"example.com/Big/a", "v1.3", "v1.3.0-beta.1"},
		{"example.com/Big/a", "<v1.2.0", "v1.0.0"},
		{"example.com/Big/a", ">=v1.1", "v1.2.0"},
		{"example.com/Big/a", "v1.0.0", "v1.0.0"},
		{"example.com/b", "latest", "v0.1.0-pre"},
		{"example.com/Big/a", "v3", ""},
		{"example.com/Big/a", "master", ""},
		{"example.com/none", "latest", ""},
	} {
		info, _, err := f.Info(ctx, c.path, c.query)
		if c.want == "" {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Info(%s, %s) = %v, %v; want not found", c.path, c.query, info, err)
			}
			continue
		}
		if err != nil || info.Version != c.want {
			t.Errorf("Info(%s, %s) = %v, %v; want %s", c.path, c.query, info, err, c.want)
		}
	}
}

func TestFallbackRules(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	empty := testupstream.NewForTest(t) // answers 404 for everything
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is on fire", http.StatusInternalServerError)
	}))
	defer broken.Close()
	ctx := context.Background()
	p := "example.com/Big/a"

	// ',' falls through on 404.
	if _, err := fetcher(t, empty.URL+","+up.URL, up).List(ctx, p); err != nil {
		t.Errorf("404 then good: %v", err)
	}
	// ',' does not fall through on 500.
	_, err := fetcher(t, broken.URL+","+up.URL, up).List(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "upstream is on fire") {
		t.Errorf("500 with ',': err = %v, want the 500", err)
	}
	if up.Count("/example.com/!big/a/@v/list") != 1 {
		t.Errorf("',' after a 500 reached the next proxy")
	}
	// '|' falls through on any error.
	if _, err := fetcher(t, broken.URL+"|"+up.URL, up).List(ctx, p); err != nil {
		t.Errorf("500 with '|': %v", err)
	}
	// off refuses.
	if _, err := fetcher(t, "off", up).List(ctx, p); !errors.Is(err, ErrProxyOff) {
		t.Errorf("off: %v", err)
	}
	// All 404: not found.
	if _, err := fetcher(t, empty.URL, up).List(ctx, p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("all 404: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	f := fetcher(t, up.URL, up)
	ctx := context.Background()
	p, v := "example.com/Big/a", "v1.2.0"
	zip := func(f *Fetcher) error {
		tmp, err := os.CreateTemp(t.TempDir(), "zip")
		if err != nil {
			t.Fatal(err)
		}
		defer tmp.Close()
		_, err = f.Zip(ctx, p, v, tmp, nil)
		return err
	}

	if err := up.Tamper(p, v); err != nil {
		t.Fatal(err)
	}
	err := zip(f)
	var ce *ChecksumError
	want, _, _ := up.Hash(p, v)
	if !errors.As(err, &ce) || ce.Want != want || ce.Got == want || !strings.Contains(err.Error(), p+"@"+v) ||
		!strings.Contains(err.Error(), ce.Got) || !strings.Contains(err.Error(), want) {
		t.Fatalf("tampered zip: err = %v; want a ChecksumError naming %s@%s and both hashes", err, p, v)
	}

	up2 := testupstream.NewForTest(t, mods...)
	f2 := fetcher(t, up2.URL, up2)
	zp := testupstream.ZipPath(p, v)
	up2.SetFault(zp, testupstream.Fault{CutAfter: 100})
	if err := zip(f2); err == nil {
		t.Fatal("truncated zip accepted")
	}
	up2.SetFault(zp, testupstream.Fault{Body: []byte("PK not really a zip")})
	if err := zip(f2); err == nil || !strings.Contains(err.Error(), "invalid module zip") {
		t.Fatalf("garbage zip: %v", err)
	}
	up2.SetFault(zp, testupstream.Fault{})
	f3 := fetcher(t, up2.URL, up2)
	f3.MaxZipSize = 50
	if err := zip(f3); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("oversized zip: %v", err)
	}
	if err := zip(f2); err != nil {
		t.Fatalf("honest zip after faults: %v", err)
	}
}

func TestNoSumDB(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	f := fetcher(t, up.URL, up, "GONOSUMDB", "example.com")
	if _, err := f.GoMod(context.Background(), "example.com/Big/a", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if n := up.Count("/sumdb/*"); n != 0 {
		t.Fatalf("GONOSUMDB module looked up in the checksum database: %v", up.Requests())
	}
	if _, err := f.GoMod(context.Background(), "golang.org/toolchain", "v0.0.1-go1.22.5.linux-arm64"); err != nil {
		t.Fatal(err)
	}
	if n := up.Count("/sumdb/*"); n == 0 {
		t.Fatalf("non-exempt module not verified")
	}
}

func TestDirectForPrivateModules(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	up := testupstream.NewForTest(t, mods...)
	t.Setenv("GIT_CONFIG_GLOBAL", testupstream.GitModule(t, "v1.0.0"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	f := fetcher(t, up.URL, up, "GOPRIVATE", "private.test")
	ctx := context.Background()
	p := "private.test/secret.git"
	list, err := f.List(ctx, p)
	if err != nil || len(list) != 1 || list[0] != "v1.0.0" {
		t.Fatalf("List = %v, %v", list, err)
	}
	info, _, err := f.Info(ctx, p, "latest")
	if err != nil || info.Version != "v1.0.0" {
		t.Fatalf("Info = %v, %v", info, err)
	}
	tmp, _ := os.CreateTemp(t.TempDir(), "zip")
	defer tmp.Close()
	if _, err := f.Zip(ctx, p, "v1.0.0", tmp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GoMod(ctx, p, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if st, _ := tmp.Stat(); st.Size() == 0 {
		t.Fatal("direct zip is empty")
	}
	// The isolated module cache keeps no copy of what the caller took: no
	// zip, no extracted tree (the store holds the bytes and counts them).
	filepath.WalkDir(f.DirectDir, func(q string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.HasSuffix(q, ".zip") || de.IsDir() && strings.HasSuffix(q, "@v1.0.0") {
			t.Errorf("direct module cache still holds %s", q)
		}
		return nil
	})
	for k := range up.Requests() {
		if strings.Contains(k, "private") {
			t.Errorf("private module reached the public upstream: %s", k)
		}
	}
	if _, err := f.GoMod(ctx, p, "v1.9.9"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unknown private version: %v, want not found", err)
	}
}

// Versions retracted by the latest version's go.mod are passed over when a
// query is resolved; "upgrade" and "patch" resolve as "latest" without
// asking the upstream to.
func TestQueriesSkipRetracted(t *testing.T) {
	const p = "example.com/retracting"
	gomod := "module " + p + "\n\ngo 1.21\n\nretract (\n\tv1.3.0 // broken\n\t[v1.1.0, v1.2.0]\n)\n"
	up := testupstream.NewForTest(t,
		mod(p, "v1.0.0"), mod(p, "v1.1.0"), mod(p, "v1.2.0"), mod(p, "v1.2.5"),
		mod(p, "v1.3.0"), mod(p, "v1.4.0", "go.mod", gomod, "x.go", "package x\n"),
		mod(p, "v1.5.0-rc.1"))
	f := fetcher(t, up.URL, up)
	ctx := context.Background()
	for _, c := range []struct{ query, want string }{
		{"latest", "v1.4.0"},
		{"upgrade", "v1.4.0"},
		{"patch", "v1.4.0"},
		{"<v1.4.0", "v1.2.5"},  // v1.3.0 retracted
		{"<=v1.2.2", "v1.0.0"}, // v1.1.0 and v1.2.0 retracted
		{">=v1.1.0", "v1.2.5"},
		{"v1.3", "v1.3.0"},   // every candidate retracted: the pick ignores retractions
		{"v1.2.0", "v1.2.0"}, // a canonical version is answered even if retracted
	} {
		info, _, err := f.Info(ctx, p, c.query)
		if err != nil || info.Version != c.want {
			t.Errorf("Info(%s) = %v, %v; want %s", c.query, info, err, c.want)
		}
	}
	if n := up.Count("/" + p + "/@v/upgrade.info"); n != 0 {
		t.Errorf("upgrade was sent upstream %d times", n)
	}
	if n := up.Count("/" + p + "/@v/patch.info"); n != 0 {
		t.Errorf("patch was sent upstream %d times", n)
	}
}
