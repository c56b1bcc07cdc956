package testupstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var testMods = []Module{
	{Path: "example.com/Upper/a", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/Upper/a\n\ngo 1.21\n",
		"a.go":   "package a\n\nconst A = 1\n",
	}},
	{Path: "example.com/Upper/a", Version: "v1.1.0-rc.1", Files: map[string]string{
		"go.mod": "module example.com/Upper/a\n\ngo 1.21\n",
		"a.go":   "package a\n\nconst A = 2\n",
	}},
	{Path: "golang.org/toolchain", Version: "v0.0.1-go1.22.5.linux-arm64", Files: map[string]string{
		"bin/go":  "#!/bin/sh\necho fake go\n",
		"VERSION": "go1.22.5\n",
	}},
}

// goDownload runs the real go command against up in a fresh module cache.
func goDownload(t *testing.T, up *Server, args ...string) ([]byte, error) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"mod", "download", "-json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB, "GOMODCACHE="+filepath.Join(dir, "modcache"),
		"GOFLAGS=-modcacherw", "GOPRIVATE=", "GONOSUMDB=", "GONOPROXY=", "GOTOOLCHAIN=local",
		"GOPATH="+filepath.Join(dir, "gopath"))
	return cmd.CombinedOutput()
}

func TestGoCommandDownloadsAndVerifies(t *testing.T) {
	up := NewForTest(t, testMods...)
	out, err := goDownload(t, up, "example.com/Upper/a@v1.0.0", "golang.org/toolchain@v0.0.1-go1.22.5.linux-arm64")
	if err != nil {
		t.Fatalf("go mod download: %v\n%s", err, out)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var m struct{ Path, Version, Sum, Zip, Error string }
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Error != "" {
			t.Fatalf("%s@%s: %s", m.Path, m.Version, m.Error)
		}
		zh, _, _ := up.Hash(m.Path, m.Version)
		if m.Sum != zh {
			t.Errorf("%s@%s: go reports %s, server hash %s", m.Path, m.Version, m.Sum, zh)
		}
		seen++
	}
	if seen != 2 {
		t.Fatalf("go downloaded %d modules, want 2:\n%s", seen, out)
	}
	if n := up.Count("/example.com/!upper/a/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("zip requests = %d, want 1 (case-encoded path); all: %v", n, up.Requests())
	}
	if up.Count("/sumdb/"+up.SumDBName+"/*") == 0 {
		t.Errorf("go never consulted the checksum database: %v", up.Requests())
	}
}

func TestTamperedZipRefusedByGo(t *testing.T) {
	up := NewForTest(t, testMods...)
	if err := up.Tamper("example.com/Upper/a", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	out, err := goDownload(t, up, "example.com/Upper/a@v1.0.0")
	if err == nil || !strings.Contains(string(out), "SECURITY ERROR") {
		t.Fatalf("go accepted a tampered zip (err %v):\n%s", err, out)
	}
}

func TestProtocol(t *testing.T) {
	up := NewForTest(t, testMods...)
	get := func(p string) (int, string) {
		resp, err := http.Get(up.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		path string
		code int
		want string
	}{
		{"/example.com/!upper/a/@v/list", 200, "v1.0.0\nv1.1.0-rc.1\n"},
		{"/example.com/!upper/a/@latest", 200, `"Version":"v1.0.0"`},
		{"/example.com/!upper/a/@v/v1.0.0.mod", 200, "module example.com/Upper/a\n"},
		{"/example.com/Upper/a/@v/list", 400, ""},
		{"/example.com/nope/@v/list", 404, "not found"},
		{"/example.com/!upper/a/@v/v9.0.0.info", 404, "unknown revision"},
		{"/golang.org/toolchain/@v/v0.0.1-go1.22.5.linux-arm64.mod", 200, "module golang.org/toolchain\n"},
		{"/sumdb/sumdb.test/supported", 200, ""},
		{"/sumdb/sumdb.test/latest", 200, "sumdb.test"},
		{"/sumdb/other/latest", 404, ""},
	} {
		code, body := get(c.path)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("GET %s = %d %q, want %d containing %q", c.path, code, body, c.code, c.want)
		}
	}
}

func TestStopStartAndFaults(t *testing.T) {
	up := NewForTest(t, testMods...)
	zp := ZipPath("example.com/Upper/a", "v1.0.0")
	up.Stop()
	if _, err := http.Get(up.URL + zp); err == nil {
		t.Fatal("stopped server answered")
	}
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	up.SetFault(zp, Fault{CutAfter: 10})
	resp, err := http.Get(up.URL + zp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) != 10 {
		t.Fatalf("cut response: read %d bytes, err %v; want 10 and an error", len(b), err)
	}
	hold := make(chan struct{})
	up.SetFault(zp, Fault{Hold: hold, HoldAfter: 5})
	resp, err = http.Get(up.URL + zp)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	close(hold)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(first, rest...), up.ZipBytes("example.com/Upper/a", "v1.0.0")) {
		t.Fatalf("held response: err %v, wrong bytes", err)
	}
	up.SetFault(zp, Fault{Status: 500})
	if resp, err := http.Get(up.URL + zp); err != nil || resp.StatusCode != 500 {
		t.Fatalf("status fault: %v %v", resp, err)
	}
	up.SetFault(zp, Fault{})
	if resp, err := http.Get(up.URL + zp); err != nil || resp.StatusCode != 200 {
		t.Fatalf("cleared fault: %v %v", resp, err)
	}
	if n := up.Count(zp); n != 4 { // the stopped server saw nothing
		t.Errorf("Count = %d, want 4", n)
	}
}
