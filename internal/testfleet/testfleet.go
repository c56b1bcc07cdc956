// Package testfleet starts the real parts a pitstop fleet uses — an
// S3-compatible server (versitygw) and redis-server — on 127.0.0.1 with
// temporary directories and free ports, for tests. test.sh installs both;
// a test skips with a clear message only when a binary is absent.
package testfleet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pitstop-go/pitstop/internal/store/s3store/s3client"
)

// AccessKey and SecretKey are the test S3 server's root credentials.
const (
	AccessKey = "pitstoptest"
	SecretKey = "pitstoptestsecret"
)

// TB is the part of TB the fixtures use, so that a benchmark
// program (bench/fleet) can start the same servers.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Proc is a server process started by a test.
type Proc struct {
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	args []string
	dir  string
	t    TB
}

// Kill stops the process abruptly (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// Restart starts the process again on the same address and data.
func (p *Proc) Restart() {
	p.t.Helper()
	p.start()
}

func (p *Proc) start() {
	p.t.Helper()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	logf, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.args[0], err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
			p.Kill()
			p.t.Fatalf("%s did not listen on %s: %s", p.args[0], p.Addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr picks a port for a server started next (and restarted on it).
// The port is free now and lies below the kernel's ephemeral range
// (ip_local_port_range), so that between this check and the server's
// bind no outgoing connection or :0 listener of the tests running
// meanwhile (go test runs packages in parallel) takes it, as they could
// a port from the ephemeral range.
func freeAddr(t TB) string {
	t.Helper()
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	const first = 10000
	for i := 0; lo > first+1000 && i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first+rand.IntN(lo-first)))
		if err == nil {
			addr := l.Addr().String()
			l.Close()
			return addr
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func lookPath(t TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(string(trimNL(gp)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("needs %s (test.sh installs it: %s)", name, install)
	return ""
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// S3 is a running S3-compatible server.
type S3 struct {
	*Proc
	Endpoint string // http://127.0.0.1:PORT
}

// VersityGWVersion is the pinned versitygw test.sh installs.
const VersityGWVersion = "v1.8.0"

// StartS3 starts versitygw (posix backend) in a temp dir and returns it,
// with extra gateway options (e.g. "--virtual-domain", "s3.test"); it is
// killed when the test ends.
func StartS3(t TB, extra ...string) *S3 {
	t.Helper()
	bin := lookPath(t, "versitygw", "go install github.com/versity/versitygw/cmd/versitygw@"+VersityGWVersion)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args := append(append([]string{bin, "--port", addr}, extra...), "posix", data)
	p := &Proc{Addr: addr, dir: dir, t: t, args: args}
	p.start()
	t.Cleanup(p.Kill)
	return &S3{Proc: p, Endpoint: "http://" + addr}
}

// Client returns a client for the server with the root credentials.
func (s *S3) Client(t TB) *s3client.Client {
	t.Helper()
	c, err := s3client.New(s3client.Config{Endpoint: s.Endpoint, PathStyle: true, Credentials: Creds()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (s *S3) MakeBucket(t TB, name string) {
	t.Helper()
	if err := s.Client(t).MakeBucket(context.Background(), name); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
}

// Creds returns the server's root credentials.
func Creds() s3client.Credentials {
	return s3client.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
}

// Redis is a running redis-server.
type Redis struct {
	*Proc
	URL string // redis://127.0.0.1:PORT
}

// StartRedis starts redis-server with no persistence in a temp dir, with
// extra arguments (e.g. "--requirepass", "pw"); it is killed when the test
// ends.
func StartRedis(t TB, extra ...string) *Redis {
	t.Helper()
	bin := lookPath(t, "redis-server", "apt-get install redis-server")
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
	p := &Proc{Addr: addr, dir: dir, t: t, args: []string{bin, "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no"}}
	p.args = append(p.args, extra...)
	p.start()
	t.Cleanup(p.Kill)
	return &Redis{Proc: p, URL: fmt.Sprintf("redis://%s", addr)}
}
