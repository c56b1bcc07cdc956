package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// chromium finds Debian's chromium (test.sh installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("needs Chromium (Debian package chromium; test.sh installs it)")
	return ""
}

// TestStatusPageInChromium: after real go downloads through `pitstop proxy
// serve` (TLS, a token), headless Chromium shows the status page with the
// modules downloaded and their request counts; with JavaScript on, the
// page refreshes itself from /api/status (a later download appears without
// a reload); with JavaScript off, the server-rendered page shows the same;
// without the token Chromium gets the 401. Screenshots (desktop and phone
// width) are saved under the test's temp dir and copied to /tmp.
func TestStatusPageInChromium(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
	browser := chromium(t)
	mods := []testupstream.Module{}
	for _, m := range []string{"example.com/alpha", "example.com/beta", "example.com/gamma"} {
		mods = append(mods, testupstream.Module{Path: m, Version: "v1.0.0", Files: map[string]string{
			"go.mod": "module " + m + "\n\ngo 1.21\n", "a.go": "package " + filepath.Base(m) + "\n"}})
	}
	up := testupstream.NewForTest(t, mods...)
	if err := up.Tamper("example.com/gamma", "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	const token = "s3cret"
	certFile, keyFile := writeTestCert(t, t.TempDir())
	addr, _ := startServe(t, "proxy", "--listen", "127.0.0.1:0", "--dir", t.TempDir(), "--max-size", "1G",
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--auth-token", token,
		"--tls-cert", certFile, "--tls-key", keyFile)
	base := "https://" + addr

	download := func(mods ...string) (string, error) {
		home := t.TempDir()
		cmd := exec.Command("go", append([]string{"mod", "download", "-json"}, mods...)...)
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "GOPROXY=https://me:"+token+"@"+addr, "GOSUMDB="+up.GOSUMDB, "SSL_CERT_FILE="+certFile,
			"GOMODCACHE="+filepath.Join(home, "modcache"), "GOPATH="+filepath.Join(home, "gopath"), "NETRC="+filepath.Join(home, "netrc"),
			"GOFLAGS=-modcacherw", "GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GOTOOLCHAIN=local", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// alpha three times (one miss, two hits per file), beta once, gamma
	// refused as tampered.
	for range 3 {
		if out, err := download("example.com/alpha@v1.0.0"); err != nil {
			t.Fatalf("go mod download alpha: %v\n%s", err, out)
		}
	}
	if out, err := download("example.com/beta@v1.0.0"); err != nil {
		t.Fatalf("go mod download beta: %v\n%s", err, out)
	}
	if out, err := download("example.com/gamma@v1.0.0"); err == nil || !strings.Contains(out, "SECURITY ERROR") {
		t.Fatalf("go mod download of a tampered gamma: %v\n%s\nwant a refusal", err, out)
	}

	// The JSON first, to know the counts the page must show: every file the
	// go command asked for (.info, .mod, .zip) per download.
	st := fetchStatus(t, certFile, base, token)
	counts := map[string]int64{}
	for _, e := range st.Parts[0].TopRequests {
		counts[e.Key] = e.Requests
	}
	if counts["example.com/alpha"] != 9 || counts["example.com/beta"] != 3 {
		t.Fatalf("/api/status top by requests = %+v; want alpha 9 (3 files × 3 downloads), beta 3", st.Parts[0].TopRequests)
	}

	tmp := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.WindowSize(1200, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	auth := cdpCall(network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + token}})
	netOn := cdpCall(network.Enable, network.EnableParams{})
	top := chromedp.CSS(`tbody[data-t="parts.0.top_requests"]`)
	if err := chromedp.Do(ctx, netOn, auth, chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`tbody[data-t="parts.0.top_requests"] tr`))); err != nil {
		t.Fatalf("chromium with JavaScript: %v", err)
	}
	rowsHTML, err := chromedp.Run(ctx, chromedp.OuterHTML(top))
	if err != nil {
		t.Fatal(err)
	}
	wantRow(t, "JavaScript on", rowsHTML, "example.com/alpha", 9)
	wantRow(t, "JavaScript on", rowsHTML, "example.com/beta", 3)

	// A download after the page loaded shows up without a reload: the
	// script refreshes from /api/status.
	if out, err := download("example.com/beta@v1.0.0"); err != nil {
		t.Fatalf("go mod download beta again: %v\n%s", err, out)
	}
	deadline := time.Now().Add(time.Minute) // the script refreshes every 5 s; a loaded machine may miss a few
	for {
		if rowsHTML, err = chromedp.Run(ctx, chromedp.OuterHTML(top)); err != nil {
			t.Fatal(err)
		}
		if rowCount(rowsHTML, "example.com/beta") == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not refresh itself within a minute: beta's row in\n%s\nwant 6 requests", rowsHTML)
		}
		time.Sleep(500 * time.Millisecond)
	}
	whole, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tampered", "example.com/gamma", "checksum mismatch", "miss", "127.0.0.1", "module upstream 127.0.0.1:", "checksum database 127.0.0.1:", "1 GiB"} {
		if !strings.Contains(whole, want) {
			t.Errorf("page with JavaScript lacks %q", want)
		}
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	saveShot(t, tmp, "pitstop-status.png", png)
	if err := chromedp.Do(ctx,
		cdpCall(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}),
		chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tbody[data-t="parts.0.top_requests"] tr`))); err != nil {
		t.Fatal(err)
	}
	if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatal(err)
	}
	saveShot(t, tmp, "pitstop-status-phone.png", png)

	// JavaScript off: a new tab that runs no script still shows the counts,
	// rendered by the server.
	nojs, cancel2 := chromedp.NewContext(ctx)
	defer cancel2()
	if err := chromedp.Do(nojs, netOn, auth,
		cdpCall(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}),
		chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("chromium without JavaScript: %v", err)
	}
	if rowsHTML, err = chromedp.Run(nojs, chromedp.OuterHTML(top)); err != nil {
		t.Fatal(err)
	}
	wantRow(t, "JavaScript off", rowsHTML, "example.com/alpha", 9)
	wantRow(t, "JavaScript off", rowsHTML, "example.com/beta", 6)

	// No token: Chromium gets the 401 (and, asked for credentials it
	// cannot give headless, fails the load), and no data.
	notoken, cancel3 := chromedp.NewContext(ctx)
	defer cancel3()
	if err := chromedp.Do(notoken, netOn); err != nil {
		t.Fatal(err)
	}
	statuses := make(chan int64, 16)
	if err := chromedp.Listen(notoken, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceivedExtraInfo); ok {
			select {
			case statuses <- e.StatusCode:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	navErr := chromedp.Do(notoken, chromedp.Navigate(base+"/"))
	text, _ := chromedp.Run(notoken, chromedp.Text(chromedp.CSS("body")))
	var status int64
	select {
	case status = <-statuses:
	case <-time.After(time.Minute):
	}
	if status != http.StatusUnauthorized || strings.Contains(text, "example.com/alpha") {
		t.Errorf("without the token: status %d (load: %v), body %q; want 401 and no module names", status, navErr, text)
	}
	t.Logf("without the token: status %d, load %v", status, navErr)
}

// cdpCall is an action that sends one protocol command.
func cdpCall[P, R any](c cdp.Command[P, R], p P) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, c, p)
		return chromedp.Void{}, err
	}
}

func fetchStatus(t *testing.T, certFile, base, token string) service.Status {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	req, _ := http.NewRequest("GET", base+"/api/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st service.Status
	if resp.StatusCode != 200 || json.Unmarshal(b, &st) != nil || len(st.Parts) == 0 {
		t.Fatalf("/api/status: %d %s", resp.StatusCode, b)
	}
	return st
}

var cellRE = regexp.MustCompile(`<td>([^<]*)</td>`)

// rowCount returns the requests cell of key's row in a top table's HTML
// (columns: key, requests, bytes); -1 if absent.
func rowCount(html, key string) int64 {
	for _, row := range strings.Split(html, "<tr>") {
		cells := cellRE.FindAllStringSubmatch(row, -1)
		if len(cells) >= 2 && cells[0][1] == key {
			var n int64 = -1
			if err := json.Unmarshal([]byte(cells[1][1]), &n); err == nil {
				return n
			}
		}
	}
	return -1
}

func wantRow(t *testing.T, how, html, key string, n int64) {
	t.Helper()
	if got := rowCount(html, key); got != n {
		t.Errorf("%s: %s shows %d requests; want %d in\n%s", how, key, got, n, html)
	}
}

func saveShot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(os.TempDir(), name), png, 0o644) // for a person to look at
	t.Logf("screenshot: %s (%d bytes), copied to %s", p, len(png), filepath.Join(os.TempDir(), name))
}
