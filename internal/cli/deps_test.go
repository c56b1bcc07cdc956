package cli

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The dependency guard (STYLE.md point 12): pitstop is one lean static
// binary for a Raspberry Pi, so a heavy or unwanted import must show up as a
// failing test, not as a fatter binary noticed months later.

// deniedDeps are packages (or, ending in "/", import path prefixes) the
// binary must never link, with the reason.
var deniedDeps = map[string]string{
	"net/http/pprof":              "registers /debug/pprof on http.DefaultServeMux: profiling must not ship in the binary",
	"plugin":                      "needs cgo and dynamic linking",
	"runtime/cgo":                 "pitstop is built with CGO_ENABLED=0",
	"testing":                     "test code in the binary",
	"net/rpc":                     "no RPC servers in pitstop",
	"golang.org/x/tools/":         "x/tools is a build-time tool library, huge when linked",
	"github.com/rogpeppe/":        "testscript is for tests only",
	"github.com/stretchr/":        "test assertion library",
	"cloud.google.com/":           "cloud SDK",
	"github.com/aws/":             "cloud SDK",
	"github.com/Azure/":           "cloud SDK",
	"google.golang.org/grpc":      "gRPC stack",
	"google.golang.org/api/":      "cloud SDK",
	"k8s.io/":                     "Kubernetes client",
	"go.opentelemetry.io/":        "tracing SDK: /metrics is Prometheus",
	"github.com/lib/pq":           "database driver",
	"github.com/go-sql-driver/":   "database driver",
	"github.com/mattn/":           "cgo (go-sqlite3 and friends)",
	"modernc.org/":                "database driver (pure-Go SQLite, very large)",
	"github.com/jackc/":           "database driver",
	"go.etcd.io/":                 "database",
	"github.com/docker/":          "container SDK",
	"github.com/golang/glog":      "registers global flags",
	"github.com/sirupsen/logrus":  "logging is log/slog",
	"go.uber.org/zap":             "logging is log/slog",
	"github.com/spf13/viper":      "configuration is flags and small files",
	"gopkg.in/yaml.v2":            "no YAML configuration",
	"gopkg.in/yaml.v3":            "no YAML configuration",
	"github.com/fsnotify/":        "cgo-free but unneeded: the ramdisk watch polls",
	"github.com/golang/protobuf/": "the old protobuf API (google.golang.org/protobuf is what prometheus needs)",
}

// allowedModules are the third-party modules the binary links today. A new
// one fails TestDependencies until it is added here, on purpose, with the
// reason it is worth its weight. S3 and Redis are spoken by pitstop's own
// small clients on the standard library (internal/store/s3store/s3client,
// internal/coord): an S3 SDK (minio-go) cost 3.2 MB stripped.
var allowedModules = []string{
	"github.com/pitstop-go/pitstop",
	"github.com/spf13/cobra",              // the command tree
	"github.com/spf13/pflag",              // cobra's flags
	"golang.org/x/mod",                    // module, zip, sumdb: the proxy and toolchains
	"golang.org/x/sys",                    // unix: mounts, ioctls, syscalls probes
	"golang.org/x/net",                    // dns/dnsmessage for doctor network.dns
	"golang.org/x/sync",                   // singleflight, errgroup
	"golang.org/x/term",                   // IsTerminal: the doctor's colours, go install's progress bar
	"github.com/prometheus/client_golang", // /metrics
	"github.com/prometheus/client_model",
	"github.com/prometheus/common",
	"github.com/prometheus/procfs",
	"github.com/beorn7/perks",
	"github.com/cespare/xxhash/v2",
	"github.com/munnerz/goautoneg",
	"google.golang.org/protobuf", // prometheus' exposition format
	"github.com/BurntSushi/toml", // the proxy policy file (pitstop proxy serve --policy): no dependencies of its own, ~150 KB linked; go-toml/v2 is larger
	"github.com/hashicorp/mdns",  // serve announces itself and join finds it by DNS-SD over mDNS (pure Go, ~1.4k lines)
	"github.com/miekg/dns",       // mdns' DNS messages: with it +0.9 MB stripped (14.9 → 15.8 MB linux/amd64)
	// bench compare: medians, confidence intervals and the U test, as
	// benchstat computes them (benchmath and the stats it uses: 22 KB of
	// code; all of bench, html/template included, adds 0.5 MB to the
	// stripped arm64 binary: 13.6 MB to 14.2 MB).
	"golang.org/x/perf",
	"github.com/aclements/go-moremath",
}

// goCmd returns the go command, skipping the test when there is none.
func goCmd(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command on PATH: %v", err)
	}
	return p
}

// moduleRoot is the repository root, two levels above internal/cli.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// goEnv is the environment for a go command building pitstop for goarch:
// the test's own GOOS/GOARCH (set when the suite runs for arm64 under
// qemu) must not leak in.
func goEnv(goarch string, cgo bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "GOARM", "CGO_ENABLED", "GOFLAGS":
			continue
		}
		env = append(env, kv)
	}
	c := "0"
	if cgo {
		c = "1"
	}
	return append(env, "GOOS=linux", "GOARCH="+goarch, "GOARM=7", "CGO_ENABLED="+c,
		"GOFLAGS=-buildvcs=false "+os.Getenv("GOFLAGS"))
}

func denied(pkg string) (string, bool) {
	for p, why := range deniedDeps {
		if pkg == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p)) || strings.HasPrefix(pkg, p+"/") {
			return why, true
		}
	}
	return "", false
}

func TestDependencies(t *testing.T) {
	gocmd, root := goCmd(t), moduleRoot(t)
	for _, goarch := range []string{"arm64", "arm", "amd64"} {
		cmd := exec.Command(gocmd, "list", "-deps", "-f", "{{if not .Standard}}{{.Module.Path}} {{end}}{{.ImportPath}}", "./cmd/pitstop")
		cmd.Dir, cmd.Env = root, goEnv(goarch, false)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps for linux/%s: %v\n%s", goarch, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) < 50 || !strings.HasSuffix(lines[len(lines)-1], "github.com/pitstop-go/pitstop/cmd/pitstop") {
			t.Fatalf("go list -deps for linux/%s printed no dependency list:\n%s", goarch, out)
		}
		mods, pkgs := map[string]bool{}, map[string]bool{}
		for _, l := range lines {
			f := strings.Fields(l)
			pkg := f[len(f)-1]
			pkgs[pkg] = true
			if why, bad := denied(pkg); bad {
				t.Errorf("linux/%s: pitstop links %s: %s (go mod why -m, or go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/pitstop, shows who imports it)", goarch, pkg, why)
			}
			if len(f) == 2 {
				mods[f[0]] = true
			}
		}
		var unknown []string
		for m := range mods {
			ok := false
			for _, a := range allowedModules {
				ok = ok || m == a
			}
			if !ok {
				unknown = append(unknown, m)
			}
		}
		sort.Strings(unknown)
		for _, m := range unknown {
			t.Errorf("linux/%s: pitstop now links module %s: if it is worth its weight, add it to allowedModules in deps_test.go with the reason", goarch, m)
		}
		if !pkgs["github.com/pitstop-go/pitstop/internal/store/s3store/s3client"] {
			t.Errorf("linux/%s: the binary does not link the S3 client, so --store s3:// is missing or the guard reads the wrong thing", goarch)
		}
		if !mods["github.com/spf13/cobra"] || !mods["golang.org/x/mod"] {
			t.Errorf("linux/%s: the module list misses cobra or x/mod, so the guard reads the wrong thing: %v", goarch, mods)
		}
	}
}

// TestNoCgoPackages: no non-standard package the binary links may hold cgo
// files (the standard library's, such as net and os/user, have pure-Go
// twins that CGO_ENABLED=0 selects).
func TestNoCgoPackages(t *testing.T) {
	gocmd, root := goCmd(t), moduleRoot(t)
	cmd := exec.Command(gocmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}", "./cmd/pitstop")
	cmd.Dir, cmd.Env = root, goEnv("arm64", true)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps with CGO_ENABLED=1: %v\n%s", err, out)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, files, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		n++
		if files != "0" {
			t.Errorf("%s has %s cgo file(s): pitstop must build with CGO_ENABLED=0 and behave the same", pkg, files)
		}
	}
	if n < 10 {
		t.Fatalf("go list listed %d non-standard packages; want pitstop's and its dependencies':\n%s", n, out)
	}
}

// TestCrossBuild builds the static binary for the boards (linux/arm64 and
// linux/arm with GOARM=7) with CGO_ENABLED=0, and checks what came out.
func TestCrossBuild(t *testing.T) {
	gocmd, root := goCmd(t), moduleRoot(t)
	for _, tt := range []struct {
		goarch  string
		machine elf.Machine
		class   elf.Class
	}{
		{"arm64", elf.EM_AARCH64, elf.ELFCLASS64},
		{"arm", elf.EM_ARM, elf.ELFCLASS32},
	} {
		t.Run(tt.goarch, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "pitstop")
			cmd := exec.Command(gocmd, "build", "-trimpath", "-o", bin, "./cmd/pitstop")
			cmd.Dir, cmd.Env = root, goEnv(tt.goarch, false)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("CGO_ENABLED=0 GOOS=linux GOARCH=%s GOARM=7 go build ./cmd/pitstop: %v\n%s", tt.goarch, err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatalf("the build is not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Machine != tt.machine || f.Class != tt.class {
				t.Errorf("built %v %v, want %v %v", f.Machine, f.Class, tt.machine, tt.class)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("the linux/%s binary is dynamically linked (%v): it must be static", tt.goarch, p.Type)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Errorf("the linux/%s binary needs shared libraries %v", tt.goarch, libs)
			}
		})
	}
}

// capabilities are the packages under internal/ that are capabilities
// (shared/ARCHITECTURE.md): each an importable library that the CLI wires,
// never importing another. What two of them need moves down into a shared
// mechanism (host, goenv, modfetch, store, service, plan, units, ...).
var capabilities = []string{"doctor", "toolchain", "modproxy", "buildcache", "ramdisk", "tune",
	"fleet", "bench", "cross", "gpu"}

// TestCapabilitiesStayApart fails when a capability package (or one below
// it) imports another capability, directly or through a shared package.
func TestCapabilitiesStayApart(t *testing.T) {
	gocmd, root := goCmd(t), moduleRoot(t)
	const mod = "github.com/pitstop-go/pitstop/internal/"
	cmd := exec.Command(gocmd, "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./internal/...")
	cmd.Dir, cmd.Env = root, goEnv("amd64", false)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list ./internal/...: %v\n%s", err, out)
	}
	capOf := func(pkg string) string {
		rest, ok := strings.CutPrefix(pkg, mod)
		if !ok {
			return ""
		}
		top, _, _ := strings.Cut(rest, "/")
		for _, c := range capabilities {
			if top == c {
				return c
			}
		}
		return ""
	}
	seen := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		pkg := f[0]
		own := capOf(pkg)
		// cli wires the capabilities; tools/ are programs beside pitstop
		// (gendocs reads the whole command tree).
		shared := own == "" && !strings.HasPrefix(pkg, mod+"cli") && !strings.HasPrefix(pkg, mod+"testupstream") && !strings.HasPrefix(pkg, mod+"tools/")
		if own != "" {
			seen++
		}
		for _, d := range f[1:] {
			other := capOf(d)
			switch {
			case other == "" || other == own:
			case own != "":
				t.Errorf("capability %s (%s) imports capability %s (%s): move the shared part down into a shared package", own, pkg, other, d)
			case shared:
				t.Errorf("shared package %s imports capability %s (%s): data flows cli → capability → shared mechanism, never back", pkg, other, d)
			}
		}
	}
	if seen < 6 {
		t.Fatalf("found %d capability packages in go list's output; want at least the six of today:\n%s", seen, out)
	}
}
