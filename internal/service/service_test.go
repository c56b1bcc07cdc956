package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testlog"
	"github.com/prometheus/client_golang/prometheus"
)

// start runs srv on 127.0.0.1:0 and returns its base URL and a function
// that stops it and returns Run's error.
func start(t *testing.T, srv *Server) (string, func() error) {
	t.Helper()
	if srv.Addr == "" {
		srv.Addr = "127.0.0.1:0"
	}
	ready := make(chan net.Addr, 1)
	srv.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return "http://" + addr.String(), stop
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func hello(w http.ResponseWriter, r *http.Request) {
	SetRoute(w, "hello")
	LogAttr(w, slog.String("cache", "hit"))
	io.WriteString(w, "hello\n")
}

func TestHealthzMetricsAndAccessLog(t *testing.T) {
	var logs testlog.Buffer
	log, err := NewLogger("json", &logs)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", hello)
	mux.HandleFunc("/missing", http.NotFound)
	base, stop := start(t, &Server{Name: "proxy", Handler: mux, Logger: log, Registry: reg})

	resp, body := get(t, base+"/healthz")
	if resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	for range 3 {
		if resp, body := get(t, base+"/hello"); resp.StatusCode != 200 || body != "hello\n" {
			t.Errorf("/hello = %d %q", resp.StatusCode, body)
		}
	}
	if resp, _ := get(t, base+"/missing"); resp.StatusCode != 404 {
		t.Errorf("/missing = %d, want 404", resp.StatusCode)
	}
	resp, body = get(t, base+"/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	for _, want := range []string{
		`pitstop_proxy_http_requests_total{code="200",route="hello"} 3`,
		`pitstop_proxy_http_requests_total{code="404",route="other"} 1`,
		`pitstop_proxy_http_requests_total{code="200",route="healthz"} 1`,
		`pitstop_proxy_http_response_bytes_total{route="hello"} 18`,
		`pitstop_proxy_http_request_duration_seconds_count{route="hello"} 3`,
		`pitstop_proxy_http_request_duration_seconds_bucket{route="hello",le="0.0005"}`,
		`pitstop_proxy_http_requests_in_flight 1`, // this very request
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}

	// Every log line is JSON; the access-log lines carry the fields.
	var requests []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if rec["msg"] == "request" {
			requests = append(requests, rec)
		}
	}
	// /healthz and /metrics log at Debug, so only the 4 others appear.
	if len(requests) != 4 {
		t.Fatalf("%d access-log records, want 4:\n%s", len(requests), logs.String())
	}
	r := requests[0]
	if r["method"] != "GET" || r["path"] != "/hello" || r["status"] != float64(200) || r["bytes"] != float64(6) ||
		r["route"] != "hello" || r["cache"] != "hit" || r["duration"] == nil || !strings.HasPrefix(r["remote"].(string), "127.0.0.1:") {
		t.Errorf("access-log record = %v", r)
	}
	if r := requests[3]; r["status"] != float64(404) || r["route"] != "other" || r["cache"] != nil {
		t.Errorf("access-log record = %v (attrs must not leak from an earlier request)", r)
	}
}

func TestAuth(t *testing.T) {
	base, _ := start(t, &Server{
		Handler:   http.HandlerFunc(hello),
		Logger:    slog.New(slog.DiscardHandler),
		AuthToken: "s3cret",
	})
	for _, tc := range []struct {
		name   string
		path   string
		hdr    []string
		status int
	}{
		{"no credentials", "/x", nil, 401},
		{"wrong bearer", "/x", []string{"Authorization", "Bearer nope"}, 401},
		{"bearer prefix of token", "/x", []string{"Authorization", "Bearer s3cre"}, 401},
		{"bearer", "/x", []string{"Authorization", "Bearer s3cret"}, 200},
		{"bearer lower case scheme", "/x", []string{"Authorization", "bearer s3cret"}, 200},
		{"basic", "/x", []string{"Authorization", "Basic " + b64("anyone:s3cret")}, 200},
		{"basic wrong password", "/x", []string{"Authorization", "Basic " + b64("s3cret:nope")}, 401},
		{"metrics needs the token", "/metrics", nil, 401},
		{"metrics with the token", "/metrics", []string{"Authorization", "Bearer s3cret"}, 200},
		{"healthz is open", "/healthz", nil, 200},
	} {
		resp, body := get(t, base+tc.path, tc.hdr...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.status == 401 {
			if h := resp.Header.Values("WWW-Authenticate"); len(h) != 2 || !strings.HasPrefix(h[0], "Bearer") || !strings.HasPrefix(h[1], "Basic") {
				t.Errorf("%s: WWW-Authenticate = %q, want Bearer and Basic challenges", tc.name, h)
			}
			if !strings.Contains(body, "token") || strings.Count(body, "\n") != 1 {
				t.Errorf("%s: body %q, want one line about the token", tc.name, body)
			}
		}
	}
	// The token in a GOPROXY-style URL (basic auth from the URL's userinfo).
	u := strings.Replace(base, "http://", "http://me:s3cret@", 1)
	if resp, _ := get(t, u+"/x"); resp.StatusCode != 200 {
		t.Errorf("token as URL password: status %d, want 200", resp.StatusCode)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	base, stop := start(t, &Server{Handler: h, Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: time.Minute})
	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The server stops accepting new connections while the request runs.
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting a minute after shutdown began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v, want 200 finished", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestShutdownTimeoutBoundsSlowRequests(t *testing.T) {
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // never finishes by itself
	})
	base, stop := start(t, &Server{Handler: h, Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 50 * time.Millisecond})
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(base + "/stuck")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		got <- err
	}()
	<-entered
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil after closing the stuck request", err)
	}
	// The stuck request was cut off, not answered: the client sees its
	// connection closed.
	if err := <-got; err == nil || strings.HasPrefix(err.Error(), "status ") {
		t.Errorf("the stuck request ended with %v, want its connection closed by the shutdown", err)
	}
}

func TestListenerAndErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := start(t, &Server{Listener: ln, Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)})
	if base != "http://"+ln.Addr().String() {
		t.Errorf("Ready reported %s, want the listener's %s", base, ln.Addr())
	}
	// The port is taken: a clear error, not a hang.
	err = (&Server{Addr: ln.Addr().String(), Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)}).Run(context.Background())
	var le *ListenError
	if !errors.As(err, &le) || le.Addr != ln.Addr().String() || !strings.Contains(err.Error(), "choose another address") || strings.Contains(err.Error(), "--") {
		t.Errorf("Run on a busy port = %v, want a ListenError suggesting another address", err)
	}
	if err := (&Server{}).Run(context.Background()); err == nil {
		t.Errorf("Run without a Handler succeeded")
	}
	// A malformed address is not a busy port: say how to write one.
	for _, addr := range []string{"nope", "127.0.0.1:99999", "127.0.0.1:port-x", "[::1"} {
		err := (&Server{Addr: addr, Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)}).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "want HOST:PORT such as 127.0.0.1:9186") || strings.Contains(err.Error(), "another server") {
			t.Errorf("Run with Addr %q = %v, want an error showing HOST:PORT", addr, err)
		}
		if CheckAddr(addr) == nil {
			t.Errorf("CheckAddr(%q) = nil", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:9186", ":9186", "[::1]:0", "localhost:8080"} {
		if err := CheckAddr(addr); err != nil {
			t.Errorf("CheckAddr(%q) = %v", addr, err)
		}
	}
	if err := (&Server{Name: "Bad-Name", Handler: http.HandlerFunc(hello)}).Run(context.Background()); err == nil {
		t.Errorf("Run with a bad Name succeeded")
	}
}

// The same registry may serve two Runs (a restart in tests) and hold the
// caller's own metrics.
func TestRegistryReuse(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits := prometheus.NewCounter(prometheus.CounterOpts{Name: MetricPrefix("cache") + "hits_total", Help: "h"})
	reg.MustRegister(hits)
	hits.Add(2)
	for range 2 {
		base, stop := start(t, &Server{Name: "cache", Registry: reg, Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)})
		get(t, base+"/a")
		_, body := get(t, base+"/metrics")
		if !strings.Contains(body, "pitstop_cache_hits_total 2") {
			t.Errorf("/metrics lacks the caller's metric")
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	_, body := func() (*http.Response, string) {
		base, _ := start(t, &Server{Name: "cache", Registry: reg, Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)})
		return get(t, base+"/metrics")
	}()
	if !strings.Contains(body, `pitstop_cache_http_requests_total{code="200",route="hello"} 2`) {
		t.Errorf("counters did not carry over between Runs on one registry")
	}
}

// sendfile survives the wrapper: ServeContent of an *os.File goes through
// the recorder's ReadFrom, and the byte count is right.
func TestServeFileThroughWrapper(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.zip")
	data := bytes.Repeat([]byte("x"), 3<<20)
	os.WriteFile(p, data, 0o644)
	readFrom := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(w, "zip")
		f, err := os.Open(p)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		_, readFrom = w.(io.ReaderFrom)
		http.ServeContent(w, r, "f.zip", time.Now(), f)
	})
	reg := prometheus.NewRegistry()
	base, _ := start(t, &Server{Handler: h, Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	resp, body := get(t, base+"/f.zip")
	if resp.StatusCode != 200 || len(body) != len(data) {
		t.Fatalf("GET = %d, %d bytes", resp.StatusCode, len(body))
	}
	if !readFrom {
		t.Errorf("the wrapped ResponseWriter is not an io.ReaderFrom: no sendfile")
	}
	_, metrics := get(t, base+"/metrics")
	if !strings.Contains(metrics, `pitstop_http_response_bytes_total{route="zip"} 3.145728e+06`) {
		t.Errorf("bytes of the sent file not counted:\n%s", grep(metrics, "response_bytes"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNewLogger(t *testing.T) {
	var b bytes.Buffer
	for _, f := range []string{"", "text", "json"} {
		if _, err := NewLogger(f, &b); err != nil {
			t.Errorf("NewLogger(%q): %v", f, err)
		}
	}
	_, err := NewLogger("xml", &b)
	if err == nil || !strings.Contains(err.Error(), "text or json") || strings.Contains(err.Error(), "\n") {
		t.Errorf("NewLogger(xml) = %v, want a one-line error naming text and json", err)
	}
	l, _ := NewLoggerLevel("json", &b, slog.LevelWarn)
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), "shown") {
		t.Errorf("level not honoured: %q", b.String())
	}
}

func TestSetRouteOutsideServer(t *testing.T) {
	// Must not panic on a plain ResponseWriter.
	rw := &plainWriter{h: http.Header{}}
	SetRoute(rw, "x")
	LogAttr(rw, slog.Int("n", 1))
}

type plainWriter struct{ h http.Header }

func (p *plainWriter) Header() http.Header         { return p.h }
func (p *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *plainWriter) WriteHeader(int)             {}

func TestCodeLabel(t *testing.T) {
	for code, want := range map[int]string{200: "200", 404: "404", 99: "000", 1000: "000", 503: "503"} {
		if got := codeLabel(code); got != want {
			t.Errorf("codeLabel(%d) = %s, want %s", code, got, want)
		}
	}
}

// A handler that cuts its response short with http.ErrAbortHandler is still
// counted (code "aborted"), logged, and leaves the in-flight gauge at zero.
func TestAbortedRequestCounted(t *testing.T) {
	var logs testlog.Buffer
	log, _ := NewLogger("json", &logs)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(w, "zip")
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		panic(http.ErrAbortHandler)
	})
	base, _ := start(t, &Server{Handler: h, Logger: log})
	if resp, err := http.Get(base + "/z"); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("a cut response was read whole")
		}
	}
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`pitstop_http_requests_total{code="aborted",route="zip"} 1`,
		`pitstop_http_requests_in_flight 1`, // only the /metrics request itself
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grep(body, "pitstop_"))
		}
	}
	if !strings.Contains(logs.String(), `"aborted":true`) {
		t.Errorf("aborted request not logged: %s", logs.String())
	}
}

func TestLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:3000", true},
		{"[::1]:3000", true},
		{"0.0.0.0:3000", false},
		{"[::]:3000", false},
		{"192.168.1.5:3000", false},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopback(a); got != tt.want {
			t.Errorf("loopback(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

// A bad TLS pair is refused before listening, naming the settings (a CLI
// names its flags through CheckTLS and ErrTLSPair).
func TestBadTLS(t *testing.T) {
	dir := t.TempDir()
	missing := dir + "/missing.pem"
	if err := CheckTLS(missing, ""); !errors.Is(err, ErrTLSPair) {
		t.Errorf("CheckTLS(cert only) = %v", err)
	}
	if err := CheckTLS(missing, missing); err == nil || !strings.Contains(err.Error(), "want PEM files") {
		t.Errorf("CheckTLS(missing files) = %v", err)
	}
	if err := CheckTLS("", ""); err != nil {
		t.Errorf("CheckTLS(none) = %v", err)
	}
	err := (&Server{Addr: "127.0.0.1:0", TLSKeyFile: missing, Handler: http.HandlerFunc(hello), Logger: slog.New(slog.DiscardHandler)}).Run(context.Background())
	if !errors.Is(err, ErrTLSPair) || !strings.Contains(err.Error(), "TLSCertFile") || strings.Contains(err.Error(), "--") {
		t.Errorf("Run with a key alone = %v", err)
	}
}
