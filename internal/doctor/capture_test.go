package doctor

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/version"
)

func TestOpenCaptureErrors(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "x.tar.gz")
	os.WriteFile(notCapture, []byte("garbage"), 0o644)
	emptyDir := t.TempDir()
	for _, tt := range []struct {
		root, want string
		is         error
	}{
		{filepath.Join(dir, "missing.tar.gz"), "no such file or directory", fs.ErrNotExist},
		{notCapture, "not a pitstop capture", ErrNotCapture},
		{emptyDir, "not a pitstop capture", ErrNotCapture},
	} {
		_, err := Config{Root: tt.root}.Execute(context.Background(), &bytes.Buffer{}, &bytes.Buffer{})
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Setting != "Root" || ue.Value != tt.root || !errors.Is(err, tt.is) ||
			!strings.Contains(ue.Err.Error(), tt.want) || strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Root %s: %v", tt.root, err)
		}
	}
}

// TestCaptureRoundTrip captures a live run of the sections that need no
// network (board, storage, kernel) and replays it: every result must come
// back the same, so the capture holds everything those checks read.
func TestCaptureRoundTrip(t *testing.T) {
	checks, err := Select(All(), []string{"board", "storage", "kernel"})
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(context.Background())
	rep := Run(context.Background(), live, checks)
	file := filepath.Join(t.TempDir(), "c.tar.gz")
	n, err := WriteCaptureFile(file, live)
	if err != nil || n == 0 {
		t.Fatalf("WriteCaptureFile: %d, %v", n, err)
	}
	replay, cleanup, err := OpenCapture(file)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if !replay.Replaying() || replay.Root.IsLive() {
		t.Fatal("the capture replays as live")
	}
	again := Run(context.Background(), replay, checks)
	for i, r := range rep.Results {
		a := again.Results[i]
		if r.Status != a.Status || r.Finding != a.Finding || r.Fix != a.Fix {
			t.Errorf("%s: live %s %q, replayed %s %q", r.ID, r.Status, r.Finding, a.Status, a.Finding)
		}
	}
	for _, k := range []string{"PATH", "HOME"} {
		if os.Getenv(k) != "" && replay.Getenv(k) != os.Getenv(k) {
			t.Errorf("captured %s = %q, want %q", k, replay.Getenv(k), os.Getenv(k))
		}
	}
	if live.Go.Get("GOROOT") != "" && replay.Go.Get("GOROOT") != live.Go.Get("GOROOT") {
		t.Errorf("captured go env GOROOT = %q", replay.Go.Get("GOROOT"))
	}
	// The capture records which pitstop made it.
	var info CaptureInfo
	if b, err := os.ReadFile(replay.Root.Path("/" + metaDir + "/capture.json")); err != nil {
		t.Error(err)
	} else if err := json.Unmarshal(b, &info); err != nil {
		t.Error(err)
	} else if info.Pitstop == nil || *info.Pitstop != version.Get() {
		t.Errorf("capture.json records pitstop %+v, want %+v", info.Pitstop, version.Get())
	}
	// Binaries are kept as their ELF header only.
	if fi, err := os.Stat(replay.Root.Path("/bin/sh")); err == nil && fi.Size() > elfKeep {
		t.Errorf("/bin/sh captured whole (%d bytes)", fi.Size())
	}
}

// TestCaptureRedactsCredentials: credentials in URLs leave no trace in a
// capture (go env, environment, probe names, probe values of any type),
// and the redacted probe names still match the redacted go env on replay.
func TestCaptureRedactsCredentials(t *testing.T) {
	const creds = "https://pi:s3cret@proxy.lan"
	env := &Env{Root: host.At(t.TempDir()), Go: goenv.Env{"GOPROXY": creds + ",direct", "GOSUMDB": "off"},
		Getenv: func(k string) string { return map[string]string{"GOPROXY": creds}[k] }}
	env.vars = map[string]string{"GOPROXY": creds}
	Probe(env, "network.proxy:"+modfetch.Redact(creds), func() (proxyAnswer, error) { return proxyAnswer{Status: 200, MS: 3}, nil })
	Probe(env, "network.sumdb", func() (sumdbAnswer, error) {
		return sumdbAnswer{Base: creds + "/sumdb/sum.golang.org", Via: creds, Status: 200, Verified: true}, nil
	})
	Probe(env, "go.latest", func() ([]string, error) {
		return nil, errors.New("toolchain list unavailable: Get \"" + creds + "/x\": refused")
	})
	var buf bytes.Buffer
	if _, err := WriteCapture(&buf, env); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var all strings.Builder
	for {
		if _, err := tr.Next(); err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		all.Write(b)
	}
	if strings.Contains(all.String(), "s3cret") || strings.Contains(all.String(), "pi:") {
		t.Fatalf("credentials in the capture:\n%s", all.String())
	}
	if !strings.Contains(all.String(), "https://redacted@proxy.lan") {
		t.Errorf("no redacted URL in the capture:\n%s", all.String())
	}
	dir := t.TempDir()
	if err := host.ExtractTarGz(bytes.NewReader(buf.Bytes()), dir); err != nil {
		t.Fatal(err)
	}
	replay, err := loadCaptureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := runCk(t, networkChecks(), "network.proxy", replay)
	expectCk(t, r, OK, "https://redacted@proxy.lan HTTP 200 in 3 ms")
	a, err := Probe(replay, "network.sumdb", func() (sumdbAnswer, error) { return sumdbAnswer{}, nil })
	if err != nil || a.Base != "https://redacted@proxy.lan/sumdb/sum.golang.org" || !a.Verified {
		t.Errorf("replayed network.sumdb = %+v, %v", a, err)
	}
}
