package modproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/goversion"
	"github.com/pitstop-go/pitstop/internal/units"
)

// Warm fills a proxy with module graphs so its clients can work offline.
// It runs the go command against the proxy (GOPROXY=ProxyURL, a fresh
// module cache, so every module really passes through the proxy, which
// verifies and stores it) and prints a line per module.
type Warm struct {
	// ProxyURL is the proxy to fill, e.g. "http://127.0.0.1:3000".
	ProxyURL string
	// Env is the go env whose GOSUMDB, GOPRIVATE and GONOSUMDB the go
	// command keeps; nil means goenv.FromOS().
	Env goenv.Env
	// GoBin is the go command; "" means "go".
	GoBin string
	// Platforms lists the GOOS-GOARCH toolchains to fetch for each go.mod's
	// go or toolchain line (e.g. "linux-arm64", "linux-arm"); none
	// means no toolchains.
	Platforms []string
	// Out receives progress; nil discards.
	Out io.Writer
}

// WarmResult counts what a Warm run fetched.
type WarmResult struct {
	Modules int
	Bytes   int64
	Failed  int
}

// Run warms each target: a directory holding go.mod, a go.mod file, or
// module@version (the module and its dependency graph). An empty target
// list means the current directory.
func (wm *Warm) Run(ctx context.Context, targets []string) (WarmResult, error) {
	var res WarmResult
	if len(targets) == 0 {
		targets = []string{"."}
	}
	out := wm.Out
	if out == nil {
		out = io.Discard
	}
	tmp, err := os.MkdirTemp("", "pitstop-warm-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	env := wm.Env
	if env == nil {
		env = goenv.FromOS()
	}
	start := time.Now()
	for i, t := range targets {
		dir, gomod, err := wm.prepare(ctx, t, filepath.Join(tmp, fmt.Sprintf("m%d", i)), env, tmp)
		if err != nil {
			return res, err
		}
		fmt.Fprintf(out, "warming %s\n", t)
		if err := wm.download(ctx, dir, env, tmp, nil, out, &res); err != nil {
			return res, fmt.Errorf("%s: %w", t, err)
		}
		for _, tc := range toolchains(gomod, wm.Platforms) {
			if err := wm.download(ctx, tmp, env, tmp, []string{tc}, out, &res); err != nil {
				fmt.Fprintf(out, "  toolchain %s: %v\n", tc, err)
				res.Failed++
			}
		}
	}
	fmt.Fprintf(out, "warmed %d modules (%s) in %s", res.Modules, units.HumanSize(res.Bytes), time.Since(start).Round(time.Millisecond))
	if res.Failed > 0 {
		fmt.Fprintf(out, "; %d failed", res.Failed)
	}
	fmt.Fprintln(out)
	if res.Failed > 0 {
		return res, fmt.Errorf("%d modules could not be fetched (see above)", res.Failed)
	}
	return res, nil
}

// prepare returns the directory to run go mod download in, and the go.mod
// whose go/toolchain lines name a toolchain.
func (wm *Warm) prepare(ctx context.Context, target, scratch string, env goenv.Env, tmp string) (dir string, gomod []byte, err error) {
	_, statErr := os.Stat(target)
	if p, v, ok := strings.Cut(target, "@"); ok && statErr != nil {
		if err := module.Check(p, v); err != nil && v != "latest" {
			return "", nil, fmt.Errorf("%s: %v (want module@version, a directory or a go.mod file)", target, err)
		}
		if err := os.MkdirAll(scratch, 0o755); err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(filepath.Join(scratch, "go.mod"), []byte("module pitstop.invalid/warm\n"), 0o644); err != nil {
			return "", nil, err
		}
		if out, err := wm.goCmd(ctx, scratch, env, tmp, "get", target).CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("go get %s: %v\n%s", target, err, strings.TrimSpace(string(out)))
		}
		// The scratch go.mod's go line is this go command's, not the
		// module's: name no toolchain for it.
		return scratch, nil, nil
	}
	st, err := os.Stat(target)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %v (want a directory with go.mod, a go.mod file or module@version)", target, err)
	}
	dir = target
	file := filepath.Join(target, "go.mod")
	if !st.IsDir() {
		dir, file = filepath.Dir(target), target
	}
	gomod, err = os.ReadFile(file)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %v (want a directory with go.mod, a go.mod file or module@version)", target, err)
	}
	return dir, gomod, nil
}

func (wm *Warm) goCmd(ctx context.Context, dir string, env goenv.Env, tmp string, args ...string) *exec.Cmd {
	gobin := wm.GoBin
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = dir
	gosumdb := env.Get("GOSUMDB")
	cmd.Env = append(os.Environ(),
		"GOPROXY="+wm.ProxyURL,
		"GOSUMDB="+gosumdb,
		"GOPRIVATE="+env.Get("GOPRIVATE"),
		// Private modules go through the proxy too (it fetches them direct).
		"GONOPROXY=pitstop.invalid",
		"GONOSUMDB="+env.Get("GONOSUMDB"),
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		// The go command's own checksum-database state stays out of the
		// user's GOPATH; the proxy keeps its own.
		"GOPATH="+filepath.Join(tmp, "gopath"),
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
	)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

type downloaded struct {
	Path, Version, Zip, Error string
}

func (wm *Warm) download(ctx context.Context, dir string, env goenv.Env, tmp string, args []string, out io.Writer, res *WarmResult) error {
	if len(args) == 0 {
		args = []string{"all"}
	}
	cmd := wm.goCmd(ctx, dir, env, tmp, append([]string{"mod", "download", "-json"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	dec := json.NewDecoder(stdout)
	for {
		var d downloaded
		if err := dec.Decode(&d); err != nil {
			if !errors.Is(err, io.EOF) {
				cmd.Process.Kill()
			}
			break
		}
		if d.Error != "" {
			res.Failed++
			fmt.Fprintf(out, "  FAILED %s@%s: %s\n", d.Path, d.Version, d.Error)
			continue
		}
		var size int64
		if st, err := os.Stat(d.Zip); err == nil {
			size = st.Size()
		}
		res.Modules++
		res.Bytes += size
		fmt.Fprintf(out, "  [%d] %s %s (%s)\n", res.Modules, d.Path, d.Version, units.HumanSize(size))
	}
	err = cmd.Wait()
	if err != nil && res.Failed == 0 {
		return fmt.Errorf("go mod download: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// toolchains lists golang.org/toolchain@v0.0.1-goX.Y.Z.<platform> for the
// toolchain (or else go) line of gomod when it names a full release.
func toolchains(gomod []byte, platforms []string) []string {
	if len(platforms) == 0 || gomod == nil {
		return nil
	}
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		if f, err = modfile.ParseLax("go.mod", gomod, nil); err != nil {
			return nil
		}
	}
	v := ""
	if f.Toolchain != nil {
		v = f.Toolchain.Name
	} else if f.Go != nil {
		v = "go" + f.Go.Version
	}
	if !goversion.IsRelease(v) || version.Lang(v) == v {
		return nil // "1.22" is a language version, not a toolchain release
	}
	var out []string
	for _, p := range platforms {
		goos, goarch, ok := goversion.ParsePlatform(p)
		if !ok {
			continue
		}
		out = append(out, goversion.ToolchainModule+"@"+goversion.Toolchain{Go: v, GOOS: goos, GOARCH: goarch}.ModuleVersion())
	}
	return out
}

// HostPlatform is this machine's toolchain platform, as the toolchain
// module names it: GOOS-GOARCH, as cmd/go builds the version
// (linux-arm for 32-bit ARM; only the release tarballs say armv6l).
func HostPlatform() string {
	return runtime.GOOS + "-" + runtime.GOARCH
}
