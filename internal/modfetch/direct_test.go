package modfetch

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

// recordingGo is a go command stand-in that notes each run and fails with
// a recognisable stderr.
func recordingGo(t *testing.T) (bin, ran string) {
	t.Helper()
	dir := t.TempDir()
	bin, ran = filepath.Join(dir, "go"), filepath.Join(dir, "ran")
	script := "#!/bin/sh\necho \"$@\" >> " + ran + "\necho 'MARKER: dial tcp 10.0.0.5:443: i/o timeout' >&2\nexit 1\n"
	if err := testexe.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, ran
}

func ranCount(ran string) int {
	b, _ := os.ReadFile(ran)
	return strings.Count(string(b), "\n")
}

// TestDirectHostsResolvedBeforeFetch: names that resolve to non-public
// addresses (and names that do not resolve) are refused before any go
// command runs; a public one runs it, and the go command's stderr stays
// out of the error's message.
func TestDirectHostsResolvedBeforeFetch(t *testing.T) {
	bin, ran := recordingGo(t)
	hosts := map[string]string{
		"internal.example.com": "10.0.0.5",
		"v6.example.com":       "fd00::1",
		"mapped.example.com":   "::ffff:127.0.0.1",
		"cgnat.example.com":    "100.100.1.1",
		"public.example.com":   "93.184.216.34",
	}
	f := &Fetcher{Env: goenv.Env{"GOPROXY": "direct", "GOSUMDB": "off"}, GoBin: bin, DirectDir: t.TempDir(),
		DirectPublicHostsOnly: true,
		lookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
			if a, ok := hosts[host]; ok {
				return []netip.Addr{netip.MustParseAddr(a)}, nil
			}
			return nil, errors.New("no such host")
		}}
	ctx := context.Background()
	for _, mod := range []string{"internal.example.com/x", "v6.example.com/x", "mapped.example.com/x", "cgnat.example.com/x", "nxdomain.example.com/x", "10.0.0.5/x", "127.1/x"} {
		_, err := f.InfoRaw(ctx, mod, "v1.0.0")
		var re *DirectRefusedError
		if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want a refusal", mod, err)
		}
	}
	if n := ranCount(ran); n != 0 {
		t.Fatalf("the go command ran %d times for refused hosts", n)
	}
	_, err := f.InfoRaw(ctx, "public.example.com/x", "v1.0.0")
	var de *DirectError
	if !errors.As(err, &de) || ranCount(ran) != 1 {
		t.Fatalf("public host: %v (go ran %d times), want a DirectError from one run", err, ranCount(ran))
	}
	if strings.Contains(err.Error(), "MARKER") || !strings.Contains(de.Detail, "MARKER") {
		t.Errorf("error %q / detail %q: stderr must be in Detail only", err, de.Detail)
	}
}

// TestDirectNoProxyOnly: only GONOPROXY/GOPRIVATE modules reach the go
// command.
func TestDirectNoProxyOnly(t *testing.T) {
	bin, ran := recordingGo(t)
	f := &Fetcher{Env: goenv.Env{"GOPROXY": "direct", "GOSUMDB": "off", "GOPRIVATE": "corp.example.com"}, GoBin: bin,
		DirectDir: t.TempDir(), DirectNoProxyOnly: true}
	ctx := context.Background()
	if _, err := f.ListRaw(ctx, "github.com/someone/x"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "GOPRIVATE or GONOPROXY") {
		t.Errorf("public module: %v", err)
	}
	if ranCount(ran) != 0 {
		t.Fatal("the go command ran for a public module")
	}
	f.ListRaw(ctx, "corp.example.com/x")
	if ranCount(ran) != 1 {
		t.Fatal("the go command did not run for a GOPRIVATE module")
	}
}

// TestDirectCacheBounded: the direct fetches' module cache is emptied
// after a fetch leaves it above DirectMaxSize, and kept below it.
func TestDirectCacheBounded(t *testing.T) {
	bin, _ := recordingGo(t)
	dir := t.TempDir()
	clone := filepath.Join(dir, "modcache", "cache", "vcs", "abc", "objects")
	os.MkdirAll(filepath.Dir(clone), 0o755)
	os.WriteFile(clone, make([]byte, 600), 0o644)
	f := &Fetcher{Env: goenv.Env{"GOPROXY": "direct", "GOSUMDB": "off"}, GoBin: bin, DirectDir: dir, DirectMaxSize: 1000}
	ctx := context.Background()
	f.InfoRaw(ctx, "example.com/x", "v1.0.0")
	if _, err := os.Stat(clone); err != nil {
		t.Fatalf("a cache under its bound was removed: %v", err)
	}
	os.WriteFile(clone, make([]byte, 1500), 0o644)
	f.GoMod(ctx, "example.com/x", "v1.0.0")
	if _, err := os.Stat(filepath.Join(dir, "modcache")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a cache over its bound was kept: %v", err)
	}
}
