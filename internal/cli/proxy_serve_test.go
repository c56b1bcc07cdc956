package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestProxyServeWithAuth runs `pitstop proxy serve --auth-token` against an
// upstream on 127.0.0.1: requests without the token (or with a wrong one)
// get 401 and its explanation, bearer and basic auth are let in, /healthz
// stays open, /metrics is closed, and the real go command downloads a
// module through the proxy with the token in GOPROXY's URL. SIGTERM (ctx
// cancelled) stops it cleanly.
func TestProxyServeWithAuth(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
	const mod = "example.com/authmod"
	up := testupstream.NewForTest(t, testupstream.Module{Path: mod, Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module " + mod + "\n\ngo 1.21\n", "a.go": "package authmod\n"}})
	addr, stop := startServe(t, "proxy", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--auth-token", "s3cret")
	base := "http://" + addr
	get := func(path string, set func(*http.Request)) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	list := "/" + mod + "/@v/list"
	if code, body := get(list, nil); code != 401 || !strings.Contains(body, "Authorization: Bearer TOKEN") {
		t.Errorf("no token: %d %q; want 401 saying how to send the token", code, body)
	}
	if code, _ := get(list, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); code != 401 {
		t.Errorf("wrong bearer token: %d, want 401", code)
	}
	if code, body := get(list, func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }); code != 200 || body != "v1.0.0\n" {
		t.Errorf("bearer token: %d %q", code, body)
	}
	if code, _ := get(list, func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret") }); code != 200 {
		t.Errorf("basic auth: %d, want 200", code)
	}
	if code, _ := get("/healthz", nil); code != 200 {
		t.Errorf("/healthz without token: %d, want 200", code)
	}
	if code, _ := get("/metrics", nil); code != 401 {
		t.Errorf("/metrics without token: %d, want 401", code)
	}

	// A whole module through the proxy with the token: .info, .mod and the
	// verified zip, byte for byte.
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }
	for _, ext := range []string{"info", "mod"} {
		if code, body := get(testupstream.FilePath(mod, "v1.0.0", ext), bearer); code != 200 || body == "" {
			t.Errorf(".%s with the token: %d %q", ext, code, body)
		}
	}
	if code, body := get(testupstream.ZipPath(mod, "v1.0.0"), bearer); code != 200 || body != string(up.ZipBytes(mod, "v1.0.0")) {
		t.Errorf("zip with the token: %d, %d bytes; want the upstream's %d", code, len(body), len(up.ZipBytes(mod, "v1.0.0")))
	}

	// The go command without the token is refused with the 401; it never
	// sends credentials over plain http (GOPROXY=http://user:TOKEN@... or
	// .netrc), so real clients need a TLS front (see serve --help).
	home := t.TempDir()
	cmd := exec.Command("go", "mod", "download", "-json", mod+"@v1.0.0")
	cmd.Dir = home
	cmd.Env = append(os.Environ(), "GOPROXY="+base, "GOSUMDB="+up.GOSUMDB,
		"GOMODCACHE="+filepath.Join(home, "modcache"), "GOPATH="+filepath.Join(home, "gopath"),
		"GOFLAGS=-modcacherw", "GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GOTOOLCHAIN=local", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("go mod download without the token: %v\n%s\nwant a 401 failure", err, out)
	}
	if n := up.Count("/" + mod + "/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("upstream zip fetches = %d, want 1", n)
	}

	stop()
}

// startServe runs `pitstop <what> serve args...` in this process, waits for
// its "listening" log line and returns the bound address and a stop
// function that cancels it (as SIGTERM does) and requires exit status 0.
func startServe(t *testing.T, what string, args ...string) (addr string, stop func()) {
	t.Helper()
	return startMain(t, what, append([]string{what, "serve"}, args...))
}

// startMain runs `pitstop argv...`, a server whose listening log line says
// "pitstop <what> listening", as startServe does.
func startMain(t *testing.T, what string, argv []string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, argv, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	addrc, logText := followLog(pr, what)
	select {
	case addr = <-addrc:
	case code := <-done:
		cancel()
		t.Fatalf("%s serve exited with %d before listening; log:\n%s", what, code, logText())
	case <-time.After(time.Minute):
		cancel()
		t.Fatalf("%s serve did not listen within a minute", what)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("%s serve exited %d after SIGTERM; log:\n%s", what, code, logText())
				}
			case <-time.After(time.Minute):
				t.Errorf("%s serve did not stop within a minute of SIGTERM", what)
			}
		})
	}
	t.Cleanup(stop)
	return addr, stop
}

// followLog reads a server's log from r, keeping it for logs, and sends
// the address of its "pitstop WHAT listening" line on addrc.
func followLog(r io.Reader, what string) (addrc <-chan string, logs func() string) {
	re := regexp.MustCompile(`pitstop ` + what + ` listening" addr=(127\.0\.0\.1:\d+)`)
	ch := make(chan string, 1)
	var mu sync.Mutex
	var text strings.Builder
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			mu.Lock()
			text.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ch <- m[1]
			}
		}
	}()
	return ch, func() string {
		mu.Lock()
		defer mu.Unlock()
		return text.String()
	}
}
