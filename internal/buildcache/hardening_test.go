package buildcache_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/buildcache"
	"github.com/pitstop-go/pitstop/internal/service"
	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/testlog"
)

// liveCache is the real cache server (buildcache.Server inside
// service.Server, as `pitstop cache serve` runs it) on 127.0.0.1.
type liveCache struct {
	url string
	dir string
	st  *store.Disk
	log *testlog.Buffer
}

// serveCache starts the cache server; cfg adjusts the service (tokens,
// limits) before it runs.
func serveCache(t *testing.T, cfg func(*service.Server)) liveCache {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := &buildcache.Server{Store: st, Logger: log}
	srv := &service.Server{Name: "cache", Addr: "127.0.0.1:0", Handler: h, Access: h.Access, Logger: log}
	if cfg != nil {
		cfg(srv)
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
		t.Fatalf("cache server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cache server: %v", err)
		}
	})
	return liveCache{url: "http://" + addr.String(), dir: dir, st: st, log: logs}
}

// tierEntries maps the action IDs of a local tier (or a server's store)
// to the files of their objects.
func tierEntries(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(filepath.Join(dir, "a"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(data))
		if len(f) < 2 {
			t.Fatalf("entry %s: %q", p, data)
		}
		m[d.Name()] = filepath.Join(dir, "o", f[1][:2], f[1])
		return nil
	})
	return m
}

const evilCore = "package core\n\nimport (\n\t\"example.com/shared/geo\"\n\t\"example.com/shared/text\"\n\t\"strconv\"\n)\n\n" +
	"func Describe(p geo.Point) string { return text.Shout(\"pwned\" + strconv.Itoa(p.X)) }\n"

// The attack of issue 11: a client that may write (here, like the
// attacker, a loopback client of a server without tokens) maps the action
// of an honest package to its own compiled code. The server refuses, logs
// it, and a fresh board building the honest source links the honest code.
func TestPoisonedPutRefused(t *testing.T) {
	c := serveCache(t, nil)
	honest := filepath.Join(t.TempDir(), "honest")
	writeModule(t, honest)
	build(t, honest, seededTier(t), c.url) // CI fills the cache

	targets, evilObj, hActs := attackerPlan(t, honest)
	onServer := tierEntries(t, c.dir)
	for _, a := range targets {
		if _, ok := onServer[a]; !ok {
			t.Fatalf("the honest action %s is not on the server", a)
		}
	}
	sum := sha256.Sum256(evilObj)
	evilID := hex.EncodeToString(sum[:])
	for _, a := range targets {
		if code, msg := putRaw(t, c.url, a, evilObj); code != http.StatusConflict {
			t.Errorf("poisoned PUT of action %s: %d %s; want 409 Conflict", a, code, msg)
		}
	}
	logs := c.log.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "put refused") ||
		!strings.Contains(logs, "offered="+evilID) || !strings.Contains(logs, "client=127.0.0.1:") {
		t.Errorf("the refused PUT was not logged at warn with the client's address:\n%s", logs)
	}

	// A fresh board builds the honest source: every package comes from
	// the server and the program is the honest one (build checks it
	// prints 4,6!).
	fresh := filepath.Join(t.TempDir(), "board")
	writeModule(t, fresh)
	r := build(t, fresh, seededTier(t), c.url, "--no-prefetch")
	if len(r.compiled) != 0 || r.stats["remote_hits"] == 0 {
		t.Errorf("fresh board: compiled %v, stats %v; want everything from the server", r.compiled, r.stats)
	}
	// Uploading the same output again is fine (it heals a damaged object).
	hObj, _ := os.ReadFile(hActs[targets[0]])
	hSum := sha256.Sum256(hObj)
	cl, _ := buildcache.NewClient(c.url, "")
	if err := cl.Put(context.Background(), mustID(t, targets[0]), buildcache.Entry{OutputID: hSum, Size: int64(len(hObj))}, bytes.NewReader(hObj)); err != nil {
		t.Errorf("re-uploading the honest output: %v", err)
	}
}

// attackerPlan is what an attacker learns by building locally, with no
// server: the honest source's action IDs that its variant of core changes
// (core's compile, found by diffing the two builds' actions and leaving
// out main's), the variant's compiled core, and the honest tier's actions.
func attackerPlan(t *testing.T, honest string) (targets []string, evilObj []byte, hActs map[string]string) {
	t.Helper()
	hTier, eTier := seededTier(t), seededTier(t)
	build(t, honest, hTier, "")
	evil := filepath.Join(t.TempDir(), "evil")
	writeModule(t, evil)
	os.WriteFile(filepath.Join(evil, "core", "core.go"), []byte(evilCore), 0o644)
	if r := buildAny(t, nil, evil, eTier, ""); r.out != "PWNED4!\n" {
		t.Fatalf("the attacker's variant printed %q", r.out)
	}
	hActs, eActs := tierEntries(t, hTier), tierEntries(t, eTier)
	for a, obj := range eActs {
		if _, ok := hActs[a]; ok {
			continue
		}
		data, _ := os.ReadFile(obj)
		if bytes.Contains(data, []byte("pwned")) && !bytes.Contains(data, []byte("main.main")) {
			evilObj = data
		}
	}
	if evilObj == nil {
		t.Fatal("no compiled evil core among the attacker's objects")
	}
	for a, obj := range hActs {
		data, _ := os.ReadFile(obj)
		// Not the go command's index of a module directory: it indexes
		// only files older than 2 seconds, so whether the CI build stored
		// one depends on how soon after writing the module it ran (the
		// test failed as often as not on a fast machine).
		if _, ok := eActs[a]; ok || bytes.Contains(data, []byte("main.main")) || bytes.HasPrefix(data, []byte("go index ")) {
			continue
		}
		targets = append(targets, a)
	}
	if len(targets) == 0 {
		t.Fatal("found no honest action to attack")
	}
	return targets, evilObj, hActs
}

// putRaw uploads body as action's output, as an attacker's client would;
// it returns the status.
func putRaw(t *testing.T, url, action string, body []byte) (int, string) {
	t.Helper()
	sum := sha256.Sum256(body)
	req, _ := http.NewRequest("PUT", url+"/v1/put/"+action, bytes.NewReader(body))
	req.Header.Set("X-Pitstop-Output-Id", hex.EncodeToString(sum[:]))
	req.Header.Set("X-Pitstop-Size", fmt.Sprint(len(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(msg)
}

// The gap the first-output rule leaves: a writer that maps an action
// before any honest build does. With signed entries, a board that
// verifies treats the attacker's unsigned entry as corrupt and compiles
// the package itself; a board that does not verify links the attacker's
// code, which is what signing is for.
func TestSignedEntriesStopTheFirstWriter(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	keyFile := filepath.Join(t.TempDir(), "sign.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	verify := base64.StdEncoding.EncodeToString(pub)

	c := serveCache(t, nil)
	honest := filepath.Join(t.TempDir(), "honest")
	writeModule(t, honest)
	targets, evilObj, _ := attackerPlan(t, honest)
	// The attacker is first: the server is empty, so it accepts.
	for _, a := range targets {
		if code, msg := putRaw(t, c.url, a, evilObj); code != http.StatusNoContent {
			t.Fatalf("the attacker's first mapping of %s: %d %s", a, code, msg)
		}
	}
	// CI builds (verifying too: it reads from the cache like any board)
	// and uploads, signed; its core is refused (the attacker was first),
	// the rest is stored with signatures.
	ci := build(t, honest, seededTier(t), c.url, "--sign-key", keyFile, "--verify-key", verify)
	if ci.stats["uploads"] == 0 || ci.stats["uploads_refused"] == 0 {
		t.Errorf("CI: %v; want uploads, and the attacker's actions refused", ci.stats)
	}

	// A board that verifies: the attacker's entry is rejected, core is
	// compiled locally, the program is honest (build checks 4,6!), and
	// the signed packages still come from the server.
	board := filepath.Join(t.TempDir(), "board")
	writeModule(t, board)
	r := build(t, board, seededTier(t), c.url, "--no-prefetch", "--verify-key", verify)
	if !contains(r.compiled, "example.com/shared/core") || r.stats["corrupt"] == 0 || r.stats["remote_hits"] == 0 {
		t.Errorf("verifying board: compiled %v, stats %v; want core rebuilt, the bad entry counted corrupt, the rest from the server", r.compiled, r.stats)
	}
	if contains(r.compiled, "example.com/shared/geo") {
		t.Errorf("verifying board compiled geo, whose signed entry was on the server: %v", r.compiled)
	}
	// The same with prefetching (batched answers carry the signatures).
	r = build(t, board, seededTier(t), c.url, "--verify-key", verify)
	if !contains(r.compiled, "example.com/shared/core") || contains(r.compiled, "example.com/shared/geo") {
		t.Errorf("verifying board with prefetch: compiled %v, stats %v", r.compiled, r.stats)
	}

	// A board that does not verify links the attacker's code.
	plain := buildAny(t, nil, board, seededTier(t), c.url, "--no-prefetch")
	if plain.out != "PWNED4!\n" {
		t.Errorf("a board without --verify-key printed %q; the attack should have taken there (else this test proves nothing)", plain.out)
	}
}

func mustID(t *testing.T, s string) buildcache.ID {
	t.Helper()
	id, err := buildcache.ParseHexID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Trim and forget need the admin token; uploads need the write token;
// boards read without one.
func TestAdminRequestsNeedTheAdminToken(t *testing.T) {
	c := serveCache(t, func(s *service.Server) { s.Tokens = service.Tokens{Write: "ci-secret", Admin: "admin-secret"} })
	ctx := context.Background()
	mod := filepath.Join(t.TempDir(), "m")
	writeModule(t, mod)

	// A board without a token can read but not upload.
	anon := build(t, mod, seededTier(t), c.url)
	if anon.stats["uploads"] != 0 || anon.stats["uploads_refused"] == 0 {
		t.Errorf("a board without the write token: %v; want its uploads refused", anon.stats)
	}
	if n := len(tierEntries(t, c.dir)); n != 0 {
		t.Fatalf("the server took %d entries from a client without the write token", n)
	}
	ci := build(t, mod, seededTier(t), c.url, "--token", "ci-secret")
	if ci.stats["uploads"] == 0 || ci.stats["uploads_refused"] != 0 {
		t.Fatalf("CI with the write token: %v", ci.stats)
	}
	board := build(t, mod, seededTier(t), c.url)
	if len(board.compiled) != 0 {
		t.Errorf("a board without a token compiled %v; reads are open", board.compiled)
	}

	before := c.st.Usage()
	if before.Objects == 0 {
		t.Fatal("nothing on the server")
	}
	for _, tok := range []string{"", "ci-secret", "wrong"} {
		cl, _ := buildcache.NewClient(c.url, tok)
		if _, err := cl.Trim(ctx, 0); err == nil || !errors.Is(err, buildcache.ErrUnauthorized) {
			t.Errorf("trim with token %q: %v; want refused", tok, err)
		}
		a := mustID(t, firstKey(tierEntries(t, c.dir)))
		if err := cl.Forget(ctx, a); err == nil || !errors.Is(err, buildcache.ErrUnauthorized) {
			t.Errorf("forget with token %q: %v; want refused", tok, err)
		}
	}
	if after := c.st.Usage(); after.Objects != before.Objects || after.Bytes != before.Bytes {
		t.Fatalf("refused requests changed the store: %+v, was %+v", after, before)
	}

	admin, _ := buildcache.NewClient(c.url, "admin-secret")
	entries := tierEntries(t, c.dir)
	a := firstKey(entries)
	if err := admin.Forget(ctx, mustID(t, a)); err != nil {
		t.Fatalf("forget with the admin token: %v", err)
	}
	if _, ok := tierEntries(t, c.dir)[a]; ok {
		t.Errorf("forgotten action %s still mapped", a)
	}
	if err := admin.Forget(ctx, mustID(t, a)); !errors.Is(err, buildcache.ErrMiss) {
		t.Errorf("forgetting it again: %v; want a miss", err)
	}
	if !strings.Contains(c.log.String(), "action forgotten") {
		t.Errorf("forget not logged:\n%s", c.log.String())
	}
	res, err := admin.Trim(ctx, 0)
	if err != nil {
		t.Fatalf("trim with the admin token: %v", err)
	}
	if after := c.st.Usage(); res.Objects == 0 || after.Bytes >= before.Bytes {
		t.Errorf("trim to 0 with the admin token: removed %+v, left %+v", res, after)
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("needs /proc/self/fd: " + err.Error())
	}
	return len(ents)
}

// tempFiles counts a store's in-progress uploads.
func tempFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			n++
		}
		return nil
	})
	return n
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// progressTimeout is the deadline the limit tests give the server. Each
// test needs all its stalled clients open at once, so it is long enough
// for a loaded or emulated machine to open them all before the first is
// cut off, and for a steady client's hiccups not to count as stalls.
const progressTimeout = 3 * time.Second

// PUT bodies trickling a byte at a time are cut off after the progress
// deadline: their descriptors and temporary files are released.
func TestTricklingPutsCutOff(t *testing.T) {
	c := serveCache(t, func(s *service.Server) { s.ProgressTimeout = progressTimeout })
	const clients = 60
	base := openFDs(t)
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	host := strings.TrimPrefix(c.url, "http://")
	stop := make(chan struct{})
	defer close(stop)
	for i := range clients {
		cn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
		body := bytes.Repeat([]byte{byte(i)}, 1000)
		sum := sha256.Sum256(body)
		fmt.Fprintf(cn, "PUT /v1/put/%x HTTP/1.1\r\nHost: x\r\nX-Pitstop-Output-Id: %x\r\nX-Pitstop-Size: 1000\r\nContent-Length: 1000\r\n\r\n",
			sha256.Sum256([]byte{byte(i)}), sum)
		go func() { // a byte every 50ms: 50 s for the body
			for _, b := range body {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := cn.Write([]byte{b}); err != nil {
					return
				}
			}
		}()
	}
	// Meanwhile an honest upload, slow but steady (16 KiB every 50ms, so
	// it takes twice the deadline), goes through.
	steady := make(chan error, 1)
	go func() {
		data := bytes.Repeat([]byte("steady upload "), int(2*progressTimeout/(50*time.Millisecond))*16<<10/14)
		pr, pw := io.Pipe()
		go func() {
			for b := data; len(b) > 0; b = b[min(len(b), 16<<10):] {
				time.Sleep(50 * time.Millisecond)
				pw.Write(b[:min(len(b), 16<<10)])
			}
			pw.Close()
		}()
		cl, _ := buildcache.NewClient(c.url, "")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		steady <- cl.Put(ctx, buildcache.ID(sha256.Sum256([]byte("steady"))), buildcache.Entry{OutputID: sha256.Sum256(data), Size: int64(len(data))}, pr)
	}()
	if !waitFor(progressTimeout, func() bool { return tempFiles(c.dir) >= clients }) {
		t.Fatalf("%d temporary files while %d uploads trickle; want one each", tempFiles(c.dir), clients)
	}
	held := openFDs(t)
	t.Logf("descriptors: %d before, %d with %d trickling uploads (client and server sides), %d temporary files", base, held, clients, tempFiles(c.dir))
	// Each is cut off after the deadline (a few rounds of it on a busy
	// machine): the server side's socket and temporary file are released;
	// only the test's own client sockets stay open.
	if !waitFor(10*progressTimeout, func() bool { return tempFiles(c.dir) <= 1 && openFDs(t) <= base+clients+8 }) {
		t.Fatalf("after %v: %d temporary files, %d descriptors (%d before, %d clients); the trickling uploads were not cut off",
			10*progressTimeout, tempFiles(c.dir), openFDs(t), base, clients)
	}
	t.Logf("after the deadline: %d descriptors, %d temporary files", openFDs(t), tempFiles(c.dir))
	// The server answered each with an error or closed it.
	for _, cn := range conns {
		cn.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 512)
		n, err := cn.Read(buf)
		if err == nil && !bytes.Contains(buf[:n], []byte(" 400 ")) {
			t.Errorf("a cut-off upload got %q", buf[:n])
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a cut-off upload's connection is still open")
		}
	}
	if err := <-steady; err != nil {
		t.Errorf("a slow but steady upload: %v", err)
	}
	// The steady upload's object and entry, nothing from the trickles.
	if u := c.st.Usage(); u.Objects != 2 {
		t.Errorf("the store holds %d objects; want only the steady upload's object and entry", u.Objects)
	}
}

// Clients that ask for a large object and never read it are cut off after
// the progress deadline: the server's socket and the object's file are
// released.
func TestNonReadingClientsCutOff(t *testing.T) {
	c := serveCache(t, func(s *service.Server) { s.ProgressTimeout = progressTimeout })
	ctx := context.Background()
	body := make([]byte, 32<<20) // well beyond what the sockets buffer
	for i := range body {
		body[i] = byte(i * 7 / 3)
	}
	sum := sha256.Sum256(body)
	action := buildcache.ID(sha256.Sum256([]byte("big")))
	cl, _ := buildcache.NewClient(c.url, "")
	if err := cl.Put(ctx, action, buildcache.Entry{OutputID: sum, Size: int64(len(body))}, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	cl.HTTP.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)

	const clients = 20
	base := openFDs(t)
	host := strings.TrimPrefix(c.url, "http://")
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	for range clients {
		cn, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
		fmt.Fprintf(cn, "GET /v1/get/%s HTTP/1.1\r\nHost: x\r\n\r\n", action)
	}
	// Client socket, server socket and the object's open file each.
	if !waitFor(progressTimeout, func() bool { return openFDs(t) >= base+3*clients }) {
		t.Fatalf("%d descriptors with %d clients stuck (%d before); want the server's sockets and files open", openFDs(t), clients, base)
	}
	t.Logf("descriptors: %d before, %d with %d clients that do not read", base, openFDs(t), clients)
	if !waitFor(10*progressTimeout, func() bool { return openFDs(t) <= base+clients+4 }) {
		t.Fatalf("after %v: %d descriptors (%d before, %d clients); the non-reading clients were not cut off",
			10*progressTimeout, openFDs(t), base, clients)
	}
	t.Logf("after the deadline: %d descriptors", openFDs(t))
	// The connections were closed by the server: reading what was
	// buffered ends (EOF or reset) rather than waiting.
	for _, cn := range conns[:3] {
		cn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := io.Copy(io.Discard, cn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection still open after %d bytes", n)
		}
		if n >= int64(len(body)) {
			t.Errorf("a cut-off client got the whole object")
		}
	}
}
