package service

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testlog"
)

// byMethod is an Access for tests: GET reads, PUT writes, anything else
// is an admin request.
func byMethod(r *http.Request) Access {
	switch r.Method {
	case "GET":
		return Read
	case "PUT":
		return Write
	}
	return Admin
}

func do(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("x"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestAccessLevels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens Tokens
		want   map[string]int // "METHOD token" → status
	}{
		{"every level has a token", Tokens{Read: "r", Write: "w", Admin: "a"}, map[string]int{
			"GET ": 401, "GET r": 200, "GET w": 200, "GET a": 200, "GET x": 401,
			"PUT ": 401, "PUT r": 403, "PUT w": 200, "PUT a": 200,
			"POST ": 401, "POST r": 403, "POST w": 403, "POST a": 200,
		}},
		{"open reads, guarded writes", Tokens{Write: "w", Admin: "a"}, map[string]int{
			"GET ": 200, "GET x": 200, "PUT ": 401, "PUT x": 401, "PUT w": 200, "POST w": 403, "POST a": 200,
		}},
		// On loopback with no token at all, the machine's own clients
		// may do everything (single-machine use).
		{"no tokens, loopback client", Tokens{}, map[string]int{"GET ": 200, "PUT ": 200, "POST ": 200}},
	} {
		base, _ := start(t, &Server{Handler: http.HandlerFunc(hello), Access: byMethod, Tokens: tc.tokens, Logger: slog.New(slog.DiscardHandler)})
		for k, want := range tc.want {
			method, tok, _ := strings.Cut(k, " ")
			if got := do(t, method, base+"/x", tok); got != want {
				t.Errorf("%s: %s with token %q: %d, want %d", tc.name, method, tok, got, want)
			}
		}
	}
}

// check's answers for clients on other machines; the test below sees them
// through a real server.
func TestCheckOtherMachines(t *testing.T) {
	remote := "192.0.2.7:40000"
	for _, tc := range []struct {
		s    Server
		need Access
		cred string
		want verdict
	}{
		{Server{}, Read, "", allowed},
		{Server{}, Write, "", localOnly},
		{Server{}, Admin, "", localOnly},
		{Server{OpenWrites: true}, Write, "", allowed},
		{Server{OpenWrites: true}, Admin, "", localOnly},
		{Server{Tokens: Tokens{Write: "w"}}, Admin, "w", localOnly}, // the write token is not an admin token
		{Server{Tokens: Tokens{Write: "w"}}, Write, "", needToken},
		{Server{AuthToken: "t"}, Admin, "t", allowed},
		{Server{AuthToken: "t"}, Read, "", needToken},
	} {
		if got := tc.s.check(tc.need, tc.cred, remote); got != tc.want {
			t.Errorf("%+v: %s with %q from %s: %d, want %d", tc.s.Tokens, tc.need, tc.cred, remote, got, tc.want)
		}
	}
	for _, r := range []string{"127.0.0.1:5", "[::1]:5", "127.3.4.5:1"} {
		if (&Server{}).check(Write, "", r) != allowed {
			t.Errorf("write from %s refused", r)
		}
	}
}

// Without tokens, a server reachable from the network refuses writes and
// admin requests from other machines (unless OpenWrites). Runs in a network
// namespace of its own, where a second address on lo is not a loopback
// address.
func TestWritesFromAnotherMachine(t *testing.T) {
	if os.Getenv("PITSTOP_TEST_IN_NETNS") == "" {
		if os.Getuid() != 0 {
			t.Skip("needs root: runs in a new network namespace (unshare -n)")
		}
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("needs unshare (util-linux): " + err.Error())
		}
		cmd := exec.Command(unshare, "-n", os.Args[0], "-test.run=^TestWritesFromAnotherMachine$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "PITSTOP_TEST_IN_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestWritesFromAnotherMachine")) {
			t.Fatalf("in a network namespace: %v\n%s", err, out)
		}
		return
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "10.77.0.1/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	for _, open := range []bool{false, true} {
		log := &testlog.Buffer{}
		base, _ := start(t, &Server{Addr: "10.77.0.1:0", Handler: http.HandlerFunc(hello), Access: byMethod, OpenWrites: open,
			Logger: slog.New(slog.NewTextHandler(log, nil))})
		want := map[string]int{"GET": 200, "PUT": 403, "POST": 403}
		if open {
			want["PUT"] = 200
		}
		for method, code := range want {
			if got := do(t, method, base+"/x", ""); got != code {
				t.Errorf("open writes %v: %s from 10.77.0.1: %d, want %d", open, method, got, code)
			}
		}
		if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "remote=10.77.0.1:") {
			t.Errorf("refused requests not logged at warn with the client:\n%s", log)
		}
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	if tok, err := ReadTokenFile(write("ok", "  s3cret\n")); err != nil || tok != "s3cret" {
		t.Errorf("ReadTokenFile = %q, %v", tok, err)
	}
	if _, err := ReadTokenFile(write("empty", "\n")); !errors.Is(err, ErrEmptyToken) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := ReadTokenFile(write("two", "a b\n")); err == nil {
		t.Errorf("two words: no error")
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A client that never reads a response written with Write (not
// sendfile) is cut off after the progress deadline; one that reads
// slowly but steadily is not.
func TestNonReadingClientCutOffOnWrite(t *testing.T) {
	var done atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("z"), 8<<10)
		for range 4 << 10 { // 32 MiB
			if _, err := w.Write(chunk); err != nil {
				done.Add(1)
				return
			}
		}
		done.Add(100)
	})
	base, _ := start(t, &Server{Handler: h, ProgressTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	cn, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	fmt.Fprintf(cn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	deadline := time.Now().Add(time.Minute)
	for done.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if done.Load() != 1 {
		t.Fatalf("handler state %d after a minute: the write to a client that does not read was not cut off", done.Load())
	}

	// Reading 64 KiB at a time with pauses is progress: served in full.
	// (A deadline of 5 seconds here, so that a busy or emulated machine's
	// hiccups do not count as the client's stalls.)
	done.Store(0)
	base2, _ := start(t, &Server{Handler: h, ProgressTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	cn2, err := d.Dial("tcp", strings.TrimPrefix(base2, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer cn2.Close()
	fmt.Fprintf(cn2, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	var got int64
	buf := make([]byte, 64<<10)
	cn2.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for done.Load() == 0 || got < 32<<20 {
		n, err := io.ReadFull(cn2, buf)
		got += int64(n)
		if err != nil {
			break
		}
		if got > 32<<20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if done.Load() != 100 {
		t.Errorf("a slow but steady reader was cut off after %d bytes (handler state %d)", got, done.Load())
	}
}

// MaxConns caps the connections served at once: the next client waits
// until one closes.
func TestMaxConns(t *testing.T) {
	release := make(chan struct{})
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		select {
		case <-release:
		case <-r.Context().Done(): // the client left
		}
	})
	base, _ := start(t, &Server{Handler: h, MaxConns: 2, Logger: slog.New(slog.DiscardHandler)})
	defer close(release)
	host := strings.TrimPrefix(base, "http://")
	var conns []net.Conn
	for range 3 {
		cn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer cn.Close()
		fmt.Fprintf(cn, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, cn)
	}
	// Wait for the two slots to fill (however long a busy machine takes),
	// then give the third client time it would use to get in if it could.
	deadline := time.Now().Add(time.Minute)
	for served.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := served.Load(); n != 2 {
		t.Fatalf("%d requests in handlers with MaxConns 2", n)
	}
	conns[0].Close()
	deadline = time.Now().Add(time.Minute)
	for served.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := served.Load(); n != 3 {
		t.Fatalf("the waiting client was not served after a slot freed: %d served", n)
	}
}

// deadlineConn counts the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	sets int
}

func (d *deadlineConn) Write(b []byte) (int, error)        { return len(b), nil }
func (d *deadlineConn) SetWriteDeadline(t time.Time) error { d.sets++; return nil }

// Small responses one after another on a connection set its write
// deadline once, not once per write (a timer update each, which cost more
// than the write): the deadline set has the slack the rule allows.
func TestProgressDeadlineNotSetPerWrite(t *testing.T) {
	dc := &deadlineConn{}
	c := &progressConn{Conn: dc, w: progress{timeout: 30 * time.Second}}
	for range 1000 {
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	if dc.sets > 2 {
		t.Errorf("1000 small writes set the write deadline %d times", dc.sets)
	}
}

// net/http clears the write deadline after every request; under the
// progress rule that clear is not passed on (the next write would set one
// again), so keep-alive requests in a row set none. Without the rule, a
// clear is passed on.
func TestProgressDeadlineKeptAcrossRequests(t *testing.T) {
	dc := &deadlineConn{}
	c := &progressConn{Conn: dc, w: progress{timeout: 30 * time.Second}}
	for range 1000 {
		c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
		c.SetWriteDeadline(time.Time{}) // as net/http after each request
	}
	if dc.sets > 2 {
		t.Errorf("1000 requests set the write deadline %d times", dc.sets)
	}
	off := &deadlineConn{}
	c = &progressConn{Conn: off}
	c.SetWriteDeadline(time.Time{})
	if off.sets != 1 {
		t.Errorf("without the progress rule, a clear reached the connection %d times, want 1", off.sets)
	}
}
