package modfetch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

func TestWalk(t *testing.T) {
	notFound := &UpstreamError{Status: http.StatusNotFound}
	gone := &UpstreamError{Status: http.StatusGone}
	broken := &UpstreamError{Status: http.StatusBadGateway}
	for _, tt := range []struct {
		goproxy string
		answers map[string]error // by entry; missing means success
		tried   string
		err     error
	}{
		{"https://a,https://b", nil, "https://a", nil},
		{"https://a,https://b", map[string]error{"https://a": notFound}, "https://a https://b", nil},
		{"https://a,https://b", map[string]error{"https://a": gone}, "https://a https://b", nil},
		{"https://a,https://b", map[string]error{"https://a": broken}, "https://a", broken},
		{"https://a|https://b", map[string]error{"https://a": broken}, "https://a https://b", nil},
		{"https://a|https://b", map[string]error{"https://a": context.DeadlineExceeded}, "https://a", context.DeadlineExceeded},
		{"https://a,direct", map[string]error{"https://a": notFound}, "https://a direct", nil},
		{"https://a,https://b", map[string]error{"https://a": notFound, "https://b": notFound}, "https://a https://b", notFound},
		{"https://a,off", map[string]error{"https://a": notFound}, "https://a", ErrProxyOff},
		{"off", nil, "", ErrProxyOff},
	} {
		list, err := goenv.ParseProxyList(tt.goproxy)
		if err != nil {
			t.Fatal(err)
		}
		var tried []string
		err = Walk(list, func(p goenv.Proxy) error {
			tried = append(tried, p.URL)
			return tt.answers[p.URL]
		})
		if strings.Join(tried, " ") != tt.tried || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("GOPROXY=%s %v: tried %q, err %v; want %q, %v", tt.goproxy, tt.answers, tried, err, tt.tried, tt.err)
		}
	}
	if err := Walk(nil, func(goenv.Proxy) error { return nil }); !errors.Is(err, goenv.ErrNoProxy) {
		t.Errorf("empty list: %v", err)
	}
}

func TestGet(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "golang.org", "toolchain", "@v"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "golang.org", "toolchain", "@v", "list"), []byte("v0.0.1-go1.22.5.linux-arm64\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Env: goenv.Env{"GOPROXY": "off"}, Header: http.Header{"X-Test": {"1"}}}
	ctx := context.Background()
	for _, base := range []string{up.URL, "file://" + filepath.ToSlash(dir)} {
		b, err := f.Get(ctx, base, "golang.org/toolchain/@v/list")
		if err != nil || string(b) != "v0.0.1-go1.22.5.linux-arm64\n" {
			t.Errorf("Get(%s) = %q, %v", base, b, err)
		}
		_, err = f.Get(ctx, base, "example.com/none/@v/list")
		var ue *UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusNotFound || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Get(%s) of a missing file: %v, want a 404 UpstreamError", base, err)
		}
	}
	// Get goes to the one upstream it is given, not through GOPROXY (off),
	// with the Fetcher's Header.
	if up.Count("/golang.org/toolchain/@v/list") != 1 {
		t.Errorf("requests %v", up.Requests())
	}
	up.SetFault("/golang.org/toolchain/@v/list", testupstream.Fault{Status: http.StatusBadGateway})
	_, err := f.Get(ctx, up.URL, "golang.org/toolchain/@v/list")
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Status != http.StatusBadGateway || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("502: %v", err)
	}

	// RequestTimeout bounds one request, its body included.
	// (An upstream slower than any scheduling hiccup, so that "bounded by
	// the timeout" and "waited for the answer" cannot be confused.)
	up.SetFault("/golang.org/toolchain/@v/list", testupstream.Fault{Delay: 10 * time.Minute})
	slow := &Fetcher{Env: goenv.Env{"GOPROXY": "off"}, RequestTimeout: 100 * time.Millisecond}
	t0 := time.Now()
	_, err = slow.Get(ctx, up.URL, "golang.org/toolchain/@v/list")
	var te *RequestTimeoutError
	if !errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Errorf("slow answer: %v, want a RequestTimeoutError", err)
	}
	if d := time.Since(t0); d > time.Minute {
		t.Errorf("RequestTimeout 100ms took %v", d)
	}
	hold := make(chan struct{})
	defer close(hold)
	up.SetFault("/golang.org/toolchain/@v/list", testupstream.Fault{Hold: hold, HoldAfter: 5})
	if _, err := slow.Get(ctx, up.URL, "golang.org/toolchain/@v/list"); !errors.As(err, &te) {
		t.Errorf("a body stalled past RequestTimeout: %v, want a RequestTimeoutError", err)
	}
	// A request timeout is an answer like any other: "|" moves on.
	list := goenv.Env{"GOPROXY": up.URL + "|file://" + filepath.ToSlash(dir), "GOSUMDB": "off"}
	slow = &Fetcher{Env: list, RequestTimeout: 100 * time.Millisecond}
	if b, err := slow.ListRaw(ctx, "golang.org/toolchain"); err != nil || len(b) == 0 {
		t.Errorf("timeout then '|': %q, %v", b, err)
	}
	// The caller's own deadline stops the walk.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	slow2 := &Fetcher{Env: list, RequestTimeout: 10 * time.Minute} // never the one that ends it
	if _, err := slow2.ListRaw(short, "golang.org/toolchain"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("caller's deadline: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://proxy.lan/x":                                       "https://proxy.lan/x",
		"https://user:tok3n@proxy.lan/x,direct":                     "https://redacted@proxy.lan/x,direct",
		"https://ghp_token@proxy.lan":                               "https://redacted@proxy.lan",
		"http://a@h|https://b:c@i":                                  "http://redacted@h|https://redacted@i",
		"network.proxy:https://u:p@proxy.lan":                       "network.proxy:https://redacted@proxy.lan",
		`Get "https://u:p@h/golang.org/toolchain/@v/list": refused`: `Get "https://redacted@h/golang.org/toolchain/@v/list": refused`,
		"https://proxy.lan/example.com/m/@v/v1.0.0@x":               "https://proxy.lan/example.com/m/@v/v1.0.0@x",
		"file:///srv/proxy@1":                                       "file:///srv/proxy@1",
		"email me@example.com":                                      "email me@example.com",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	e := &UpstreamError{URL: "https://u:secret@h/x", Status: http.StatusForbidden}
	if strings.Contains(e.Error(), "secret") || strings.Contains(e.Error(), "u:") {
		t.Errorf("UpstreamError shows credentials: %v", e)
	}
}

func TestNoDirect(t *testing.T) {
	empty := testupstream.NewForTest(t)
	ctx := context.Background()
	f := &Fetcher{Env: goenv.Env{"GOPROXY": empty.URL + ",direct", "GOSUMDB": "off"}, GoBin: "/nonexistent/go", NoDirect: true}
	if _, err := f.ListRaw(ctx, "golang.org/toolchain"); !errors.Is(err, ErrDirect) {
		t.Errorf("404 then direct: %v, want ErrDirect", err)
	}
	f = &Fetcher{Env: goenv.Env{"GOPROXY": empty.URL, "GOPRIVATE": "example.com", "GOSUMDB": "off"}, GoBin: "/nonexistent/go", NoDirect: true}
	if _, err := f.ListRaw(ctx, "example.com/private"); !errors.Is(err, ErrDirect) {
		t.Errorf("GOPRIVATE module: %v, want ErrDirect", err)
	}
	if n := empty.Count("/example.com/private/@v/list"); n != 0 {
		t.Errorf("GOPRIVATE module asked of the proxy %d times", n)
	}
}

func TestSumDBURL(t *testing.T) {
	up := testupstream.NewForTest(t, mods...)
	empty := httptest.NewServer(http.NotFoundHandler()) // serves no checksum database
	defer empty.Close()
	broken := testupstream.NewForTest(t)
	broken.SetFault("/sumdb/"+up.SumDBName+"/supported", testupstream.Fault{Status: http.StatusInternalServerError})
	ctx := context.Background()
	for _, tt := range []struct {
		goproxy, gosumdb, want, err string
	}{
		{up.URL + ",direct", up.GOSUMDB, up.SumDBURL, ""},
		{empty.URL + "," + up.URL, up.GOSUMDB, up.SumDBURL, ""},
		{empty.URL + ",direct", up.GOSUMDB, "https://" + up.SumDBName, ""},
		{empty.URL, up.GOSUMDB, "https://" + up.SumDBName, ""},
		{"off", up.GOSUMDB, "https://" + up.SumDBName, ""},
		{"off", up.GOSUMDB + " https://sum.example/db", "https://sum.example/db", ""},
		{broken.URL + "|" + up.URL, up.GOSUMDB, up.SumDBURL, ""},
		{broken.URL + "," + up.URL, up.GOSUMDB, "", "500 Internal Server Error"},
		{up.URL, "off", "", "GOSUMDB=off"},
	} {
		f := &Fetcher{Env: goenv.Env{"GOPROXY": tt.goproxy, "GOSUMDB": tt.gosumdb}}
		got, err := f.SumDBURL(ctx)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("GOPROXY=%s GOSUMDB=%s: %q, %v; want %q, error with %q", tt.goproxy, tt.gosumdb, got, err, tt.want, tt.err)
		}
	}
	// The answer is kept: one /supported request for two lookups.
	up.ResetCounts()
	f := &Fetcher{Env: goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}}
	for i := 0; i < 2; i++ {
		if _, err := f.SumDBURL(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := up.Count(fmt.Sprintf("/sumdb/%s/supported", up.SumDBName)); n != 1 {
		t.Errorf("%d /supported requests", n)
	}
}
