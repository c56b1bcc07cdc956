package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// (and extra addresses) as PEM files in dir.
func writeTestCert(t *testing.T, dir string, extra ...net.IP) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pitstop test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           append([]net.IP{net.IPv4(127, 0, 0, 1)}, extra...),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestProxyServeTLSWithToken: over HTTPS the go command does send the
// token from GOPROXY's URL, so a proxy with --auth-token and --tls-cert
// serves real clients; without the token they get the 401.
func TestProxyServeTLSWithToken(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command: ", err)
	}
	const mod = "example.com/tlsmod"
	up := testupstream.NewForTest(t, testupstream.Module{Path: mod, Version: "v1.2.0", Files: map[string]string{
		"go.mod": "module " + mod + "\n\ngo 1.21\n", "a.go": "package tlsmod\n"}})
	certFile, keyFile := writeTestCert(t, t.TempDir())
	addr, stop := startServe(t, "proxy", "--listen", "127.0.0.1:0", "--dir", t.TempDir(),
		"--upstream", up.URL, "--gosumdb", up.GOSUMDB, "--auth-token", "s3cret",
		"--tls-cert", certFile, "--tls-key", keyFile)

	download := func(goproxy string) (string, string, error) {
		home := t.TempDir()
		modcache := filepath.Join(home, "modcache")
		cmd := exec.Command("go", "mod", "download", "-json", mod+"@v1.2.0")
		cmd.Dir = home
		cmd.Env = append(os.Environ(), "GOPROXY="+goproxy, "GOSUMDB="+up.GOSUMDB, "SSL_CERT_FILE="+certFile,
			"GOMODCACHE="+modcache, "GOPATH="+filepath.Join(home, "gopath"), "NETRC="+filepath.Join(home, "netrc"),
			"GOFLAGS=-modcacherw", "GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=", "GOTOOLCHAIN=local", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return modcache, string(out), err
	}
	if _, out, err := download("https://" + addr); err == nil || !strings.Contains(out, "401") {
		t.Errorf("go mod download over https without the token: %v\n%s\nwant a 401 failure", err, out)
	}
	modcache, out, err := download("https://me:s3cret@" + addr)
	if err != nil {
		t.Fatalf("go mod download over https with the token: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(modcache, "cache", "download", mod, "@v", "v1.2.0.zip")); err != nil {
		t.Errorf("module zip not in the client's cache: %v\n%s", err, out)
	}
	t.Logf("go mod download through the TLS proxy:\n%s", out)
	stop()
}

func TestServeTLSFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	var stderr strings.Builder
	code := Main(t.Context(), []string{"cache", "serve", "--listen", "127.0.0.1:0", "--dir", dir, "--tls-cert", filepath.Join(dir, "missing.pem")},
		strings.NewReader(""), &strings.Builder{}, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "--tls-cert and --tls-key go together") {
		t.Errorf("--tls-cert alone: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	code = Main(t.Context(), []string{"cache", "serve", "--listen", "127.0.0.1:0", "--dir", dir,
		"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", filepath.Join(dir, "missing.key")},
		strings.NewReader(""), &strings.Builder{}, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "want PEM files") {
		t.Errorf("missing PEM files: exit %d, stderr %q", code, stderr.String())
	}
}
