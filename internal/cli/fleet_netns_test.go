package cli

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsPair makes two network namespaces joined by a veth pair, with
// 10.231.16.1/30 in the first and .2 in the second (and a multicast route
// in each), and removes them when the test ends.
func netnsPair(t *testing.T) (a, b, ipA string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2): ", err)
	}
	id := os.Getpid() % 100000
	a, b = fmt.Sprintf("pst-a-%d", id), fmt.Sprintf("pst-b-%d", id)
	va, vb := fmt.Sprintf("pva%d", id), fmt.Sprintf("pvb%d", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", a).Run()
		exec.Command("ip", "netns", "del", b).Run()
	})
	ip("netns", "add", a)
	ip("netns", "add", b)
	ip("link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b)
	for _, n := range []struct{ ns, dev, addr string }{{a, va, "10.231.16.1/30"}, {b, vb, "10.231.16.2/30"}} {
		ip("-n", n.ns, "link", "set", "lo", "up")
		ip("-n", n.ns, "addr", "add", n.addr, "dev", n.dev)
		ip("-n", n.ns, "link", "set", n.dev, "up", "multicast", "on")
		ip("-n", n.ns, "route", "add", "224.0.0.0/4", "dev", n.dev)
	}
	return a, b, "10.231.16.1"
}

// startInNetns runs `pitstop serve` (bin) in namespace ns and waits for
// its log to say want; the server is stopped (SIGTERM) when the test ends.
func startInNetns(t *testing.T, e *fleetEnv, ns, bin, want string, args ...string) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "serve.log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"netns", "exec", ns, bin, "serve", "--dir", t.TempDir(), "--upstream", "off", "--gosumdb", "off"}, args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = e.environ()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		f.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logf)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %v did not log %q within 30s:\n%s", args, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJoinFindsServerByMDNS: in two namespaces joined by a veth pair, a
// server started with --no-announce is not found; an announcing one is,
// and join uses it by DNS-SD alone; with two announcing servers join lists
// both and writes nothing.
func TestJoinFindsServerByMDNS(t *testing.T) {
	gocmd := goCmd(t)
	nsA, nsB, ipA := netnsPair(t)
	bin := pitstopBinary(t)
	e := newFleetEnv(t)
	goenvFile := e.vars["GOENV"]
	joinB := func(args ...string) (string, string, int) {
		return e.run(e.root, "ip", append([]string{"netns", "exec", nsB, bin, "join", "--go", gocmd, "--browse", "3s"}, args...)...)
	}
	nothingWritten := func(what string) {
		t.Helper()
		if _, err := os.Stat(goenvFile); !os.IsNotExist(err) {
			t.Errorf("%s: GOENV file written (%v)", what, err)
		}
		if _, err := os.Stat(filepath.Join(e.vars["XDG_CONFIG_HOME"], "pitstop")); !os.IsNotExist(err) {
			t.Errorf("%s: join state written (%v)", what, err)
		}
	}

	startInNetns(t, e, nsA, bin, "pitstop serve listening", "--listen", ":3002", "--no-announce")
	out, errOut, code := joinB()
	if code != 2 || !strings.Contains(errOut, "no pitstop server answered") {
		t.Errorf("join with only a --no-announce server: exit %d, %q %q; want 2, none found", code, out, errOut)
	}
	nothingWritten("no server announced")

	startInNetns(t, e, nsA, bin, "announced on the LAN", "--listen", ":3000")
	out, errOut, code = joinB()
	want := "GOPROXY=http://" + ipA + ":3000|"
	b, _ := os.ReadFile(goenvFile)
	if code != 0 || !strings.Contains(string(b), want) || !strings.Contains(errOut, "found http://"+ipA+":3000") {
		t.Fatalf("join by mDNS: exit %d\nstdout %s\nstderr %s\nGOENV:\n%s\nwant %q", code, out, errOut, b, want)
	}
	if _, errOut, code := e.run(e.root, "ip", "netns", "exec", nsB, bin, "leave", "--go", gocmd); code != 0 {
		t.Fatalf("leave: exit %d: %s", code, errOut)
	}
	nothingWritten("after leave")

	// The second speaks TLS: its URL is https and the listing shows the
	// certificate's fingerprint from its TXT record.
	cert, key := writeTestCert(t, t.TempDir(), net.ParseIP(ipA))
	fp, err := certFingerprint(cert)
	if err != nil {
		t.Fatal(err)
	}
	startInNetns(t, e, nsA, bin, "announced on the LAN", "--listen", ":3001", "--tls-cert", cert, "--tls-key", key)
	out, errOut, code = joinB()
	if code != 2 || !strings.Contains(errOut, "2 pitstop servers") || !strings.Contains(errOut, "http://"+ipA+":3000") ||
		!strings.Contains(errOut, "https://"+ipA+":3001 (certificate sha256:"+fp+")") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("join with two servers: exit %d, %q %q; want 2 and one line listing both", code, out, errOut)
	}
	nothingWritten("two servers")
}
