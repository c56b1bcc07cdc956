package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testlog"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// runRefused runs `pitstop args...` in this process for at most a few
// seconds and requires a refusal: exit status 2 and one line on stderr
// containing want. A start that was not refused serves until the timeout
// and exits 0.
func runRefused(t *testing.T, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, args, strings.NewReader(""), &stdout, &stderr)
	msg := strings.TrimRight(stderr.String(), "\n")
	if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, want) {
		t.Errorf("pitstop %q: exit %d, stderr:\n%s\nwant exit 2 and one line saying %q", args, code, msg, want)
	}
}

// TestProxyServeRefusesBadFlags: each bad flag of `proxy serve` is refused
// before anything is opened or created: exit 2, one line naming the flag
// and what to give instead, and the store directory does not exist
// afterwards. Before, --upstream http:// and a negative --list-ttl were
// accepted (the server started and created its store).
func TestProxyServeRefusesBadFlags(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		flag, value, want string
	}{
		{"--listen", "", `--listen ""`},
		{"--upstream", "http://", `--upstream "http://": an entry names no host`},
		{"--upstream", "https://,direct", `names no host`},
		{"--list-ttl", "-1s", "--list-ttl -1s: negative"},
		{"--max-size", "0.5M", "--max-size"},
		{"--max-size", "lots", "--max-size"},
		{"--max-zip-files", "0", "--max-zip-files 0"},
		{"--max-zip-fetches", "0", "--max-zip-fetches 0"},
		{"--max-fetches", "-3", "--max-fetches -3"},
		{"--abandon-grace", "-1s", "--abandon-grace -1s: negative"},
	} {
		dir := filepath.Join(base, fmt.Sprintf("store%d", i))
		args := []string{"proxy", "serve", "--listen", "127.0.0.1:0", "--dir", dir, "--upstream", "http://127.0.0.1:9", c.flag, c.value}
		runRefused(t, c.want, args...)
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s %q: the store directory %s was created by a refused start", c.flag, c.value, dir)
		}
	}
	runRefused(t, "not a directory", "proxy", "serve", "--listen", "127.0.0.1:0", "--dir", filepath.Join(file, "store"), "--upstream", "http://127.0.0.1:9")
}

// TestProxyServeRefusesReadOnlyDir: a --dir on a read-only mount (bound
// read-only in a private mount namespace; root could write a mode-0555
// directory) is refused at start with one line, exit 2, whether the
// directory exists or would be created there. Before, the server started
// and then every zip failed.
func TestProxyServeRefusesReadOnlyDir(t *testing.T) {
	if !inRamdiskNamespace(t) {
		return
	}
	ro := t.TempDir()
	if err := os.Mkdir(filepath.Join(ro, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(ro, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	defer syscall.Unmount(ro, syscall.MNT_DETACH)
	if err := syscall.Mount("", ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	for _, dir := range []string{filepath.Join(ro, "store"), filepath.Join(ro, "new", "store")} {
		runRefused(t, "is not writable", "proxy", "serve", "--listen", "127.0.0.1:0", "--dir", dir, "--upstream", "http://127.0.0.1:9")
	}
}

// vmHWM reads a process's peak resident set size, in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10, nil
}

// startProxyProcess runs `pitstop proxy serve args...` as a child process
// (this test binary, named pitstop), waits for it to listen and returns
// its address, its pid and its log so far.
func startProxyProcess(t *testing.T, args ...string) (addr string, pid int, logs func() string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "pitstop")
	if err := os.Symlink(exe, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"proxy", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addrc, logs := followLog(stderr, "proxy")
	select {
	case addr = <-addrc:
	case <-time.After(time.Minute):
		t.Fatalf("the proxy process did not listen within a minute; log:\n%s", logs())
	}
	return addr, cmd.Process.Pid, logs
}

// TestProxyZipFileBombsBoundedRSS runs `pitstop proxy serve` as its own
// process and asks it, all at once, for four module zips of 100,000 files
// each and one of 500,000 files (valid zips, built on the fly): each is
// refused from its central directory before the full check, with a 502
// naming the limit and a warning naming the module and version, and the
// proxy process's peak RSS (VmHWM) stays under 64 MiB. Before, one
// 100,000-file zip took the proxy from 17 to 153 MB, four to 523 MB and a
// 500,000-file zip to 623 MB; with --max-zip-files 1000000 (no limit in
// effect) this test sees the same growth.
// rssLimit is the bound on the proxy's peak RSS: 64 MiB. Under qemu-user
// (test.sh's arm64 pass sets PITSTOP_EMULATED=1) the process's RSS holds
// the emulator's own ~50 MiB too, so there the bound is on growth: the RSS
// at start plus 48 MiB, what 64 MiB leaves above the ~15 MiB a native proxy
// starts with.
func rssLimit(t *testing.T, start int64) int64 {
	if os.Getenv("PITSTOP_EMULATED") == "1" {
		t.Logf("emulated: bounding growth, %.1f MiB at start + 48 MiB", float64(start)/(1<<20))
		return start + 48<<20
	}
	return 64 << 20
}

func TestProxyZipFileBombsBoundedRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100 MB of zips")
	}
	var mods []testupstream.Module
	add := func(path, vers string, files int) {
		z, err := testupstream.ManyFilesZip(path, vers, files)
		if err != nil {
			t.Fatal(err)
		}
		// The hash is never reached: the zip is refused before hashing.
		mods = append(mods, testupstream.Module{Path: path, Version: vers, Zip: z,
			ZipHash: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="})
	}
	for i := range 4 {
		add("example.com/many", fmt.Sprintf("v1.0.%d", i), 100_000)
	}
	add("example.com/huge", "v1.0.0", 500_000)
	up := testupstream.NewForTest(t, mods...)
	addr, pid, logs := startProxyProcess(t, "--dir", filepath.Join(t.TempDir(), "store"),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--max-size", "0")
	before, err := vmHWM(pid)
	if err != nil {
		t.Fatal(err)
	}
	limit := rssLimit(t, before)
	var wg sync.WaitGroup
	for _, md := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + addr + testupstream.ZipPath(md.Path, md.Version))
			if err != nil {
				t.Error(err)
				return
			}
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			// A client may have begun streaming the zip before the check:
			// then the refusal cuts the connection (a read error).
			if rerr == nil && (resp.StatusCode != 502 || !strings.Contains(string(b), "more than 50000 files")) {
				t.Errorf("%s@%s: %d %.200q; want a 502 saying the zip has too many files", md.Path, md.Version, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	peak, err := vmHWM(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("proxy process peak RSS: %.1f MiB at start, %.1f MiB after five file-bomb zips (limit %d MiB)", float64(before)/(1<<20), float64(peak)/(1<<20), limit>>20)
	if peak > limit {
		t.Errorf("the proxy's peak RSS reached %.1f MiB, over %d MiB", float64(peak)/(1<<20), limit>>20)
	}
	for _, md := range mods {
		want := regexp.MustCompile(`level=WARN msg="upstream fetch failed".*module=` + regexp.QuoteMeta(md.Path) + ` version=` + md.Version + `.*more than 50000 files`)
		if !want.MatchString(logs()) {
			t.Errorf("no warning names %s@%s and the file limit; log:\n%s", md.Path, md.Version, logs())
		}
	}
}

// TestProxyHugeModAnswersBoundedRSS runs `pitstop proxy serve` as its own
// process against an upstream that answers twenty .mod requests at once
// with 1 GB each, without a Content-Length: every answer is refused (502)
// and the proxy's peak RSS stays under 64 MiB. Before, the same attack
// took it to 280 MB: each answer was read up to 16 MiB.
func TestProxyHugeModAnswersBoundedRSS(t *testing.T) {
	var mods []testupstream.Module
	for i := range 20 {
		mods = append(mods, testupstream.Module{Path: fmt.Sprintf("example.com/hugemod%d", i), Version: "v1.0.0",
			Files: map[string]string{"a.go": "package a\n"}})
	}
	up := testupstream.NewForTest(t, mods...)
	for _, md := range mods {
		up.SetFault(testupstream.FilePath(md.Path, md.Version, "mod"), testupstream.Fault{Stream: 1 << 30})
	}
	addr, pid, _ := startProxyProcess(t, "--dir", filepath.Join(t.TempDir(), "store"),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--max-size", "0")
	before, err := vmHWM(pid)
	if err != nil {
		t.Fatal(err)
	}
	limit := rssLimit(t, before)
	var wg sync.WaitGroup
	for _, md := range mods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + addr + testupstream.FilePath(md.Path, md.Version, "mod"))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 502 {
				t.Errorf("%s: %d %.100q; want 502", md.Path, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	peak, err := vmHWM(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("proxy process peak RSS after twenty 1 GB .mod answers: %.1f MiB (limit %d MiB)", float64(peak)/(1<<20), limit>>20)
	if peak > limit {
		t.Errorf("the proxy's peak RSS reached %.1f MiB, over %d MiB", float64(peak)/(1<<20), limit>>20)
	}
}

// TestProxyServeDefaultCap: without --max-size the store is capped at 70%
// of (the free disk + what the store holds): for an empty store, 70% of
// the bytes available on its filesystem at start (within 2%, as other
// processes write meanwhile), and the log says the rule. Before, the
// default was unlimited (max=0).
func TestProxyServeDefaultCap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	// The server runs until it has logged its store (not for a fixed 2 s,
	// which a loaded or emulated machine can spend starting up).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testlog.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- Main(ctx, []string{"proxy", "serve", "--listen", "127.0.0.1:0", "--dir", dir, "--upstream", "http://127.0.0.1:9"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	code, deadline := -1, time.Now().Add(time.Minute)
	for code == -1 {
		select {
		case code = <-exited:
		case <-time.After(20 * time.Millisecond):
			if strings.Contains(stderr.String(), `msg="pitstop proxy store"`) || time.Now().After(deadline) {
				cancel()
				code = <-exited
			}
		}
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	want := float64(int64(st.Bavail)*int64(st.Bsize)) * 0.7
	m := regexp.MustCompile(`msg="pitstop proxy store" .* max=(\d+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no store line in the log:\n%s", stderr.String())
	}
	got, _ := strconv.ParseFloat(m[1], 64)
	if got < want*0.98 || got > want*1.02 {
		t.Errorf("default cap %.0f bytes, want about 70%% of the %.0f bytes available: %.0f", got, want/0.7, want)
	}
	if !strings.Contains(stderr.String(), "70% of the free disk plus what the store holds") {
		t.Errorf("the log does not say how the cap was chosen:\n%s", stderr.String())
	}
}
