package toolchain

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// TestSmokeRealToolchain installs a real toolchain for this machine from
// the module proxy in the user's `go env GOPROXY` into a temp dir, verified
// with the real checksum database, and runs its go command. It downloads
// about 70 MB, so it runs only with PITSTOP_SMOKE=1, and skips when the
// proxy does not answer a short probe.
func TestSmokeRealToolchain(t *testing.T) {
	if os.Getenv("PITSTOP_SMOKE") != "1" {
		t.Skip("optional smoke test: set PITSTOP_SMOKE=1 to install a real toolchain (~70 MB) from go env GOPROXY")
	}
	ctx := context.Background()
	env, err := goenv.Read(ctx, "")
	if err != nil {
		t.Skipf("no go command to read GOPROXY from: %v", err)
	}
	native, err := DetectTarget(nil)
	if err != nil {
		t.Fatal(err)
	}
	src := FetcherSource(NewFetcher(env, nil))
	probe, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err = src.List(probe, ModulePath)
	cancel()
	if err != nil {
		t.Skipf("module proxy from go env GOPROXY unreachable (%v): skipping the smoke test", err)
	}
	// The host go's own release is surely published; else the newest.
	q := mustQuery(t, "latest")
	if v, err := ParseVersion(env.Get("GOVERSION")); err == nil && v.Stable() && !v.IsLang() && strings.HasPrefix(env.Get("GOVERSION"), "go") {
		q = Query{Kind: QueryExact, Version: v}
	}
	var out strings.Builder
	in := &Installer{Layout: DirLayout(t.TempDir()), Env: env, Source: src, Native: native, Out: &out}
	res, err := in.Install(ctx, q)
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Active || !strings.HasPrefix(res.Output, "go version "+res.Version.Go()+" "+native.Slash()) {
		t.Fatalf("result %+v", res)
	}
	cmd := exec.Command(filepath.Join(in.Layout.BinDir(), "go"), "env", "GOROOT")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOROOT=")
	b, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != res.Path {
		t.Fatalf("GOROOT = %q, want %q", got, res.Path)
	}
}
