package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pitstop-go/pitstop/internal/testupstream"
	"github.com/pitstop-go/pitstop/internal/toolchain"
)

func init() { scriptSetups = append(scriptSetups, goScriptSetup) }

// Releases the go_*.txtar scripts' upstream hosts for this machine.
var goScriptReleases = []string{"1.21.13", "1.22.4", "1.22.5", "1.23.0", "1.24rc1"}

// Broken releases: the first is served tampered, the second is cut after
// 200 bytes on every request.
const goTampered, goCut = "1.19.1", "1.19.2"

// otherTarget is a target this machine is not, hosted for --arch tests.
func otherTarget(native toolchain.Target) toolchain.Target {
	if native.GOARCH == "riscv64" {
		return toolchain.Target{GOOS: "linux", GOARCH: "s390x"}
	}
	return toolchain.Target{GOOS: "linux", GOARCH: "riscv64"}
}

func toolchainModule(vers string, t toolchain.Target) testupstream.Module {
	v, err := toolchain.ParseVersion(vers)
	if err != nil {
		panic(err)
	}
	return testupstream.Module{
		Path:    toolchain.ModulePath,
		Version: toolchain.ModuleVersion(v, t),
		Files: map[string]string{
			"go.mod":  "module golang.org/toolchain\n",
			"VERSION": v.Go() + "\n",
			// A tiny go command that prints its version, like the real one.
			"bin/go": "#!/bin/sh\necho go version " + v.Go() + " " + t.Slash() + "\n",
			// 256 KiB unpacked, a few hundred bytes zipped: fills a small disk.
			"lib/pad": strings.Repeat("\x00", 256<<10),
		},
	}
}

// newGoUpstream starts a test module proxy and checksum database with
// synthetic toolchains for this machine (and one for another target).
func newGoUpstream(tb testing.TB) (*testupstream.Server, toolchain.Target) {
	native, err := toolchain.DetectTarget(nil)
	if err != nil {
		tb.Fatal(err)
	}
	var mods []testupstream.Module
	for _, v := range append(goScriptReleases, goTampered, goCut) {
		mods = append(mods, toolchainModule(v, native))
	}
	mods = append(mods, toolchainModule("1.23.0", otherTarget(native)))
	up, err := testupstream.New(testupstream.Options{}, mods...)
	if err != nil {
		tb.Fatal(err)
	}
	v, _ := toolchain.ParseVersion(goTampered)
	if err := up.Tamper(toolchain.ModulePath, toolchain.ModuleVersion(v, native)); err != nil {
		up.Stop()
		tb.Fatal(err)
	}
	v, _ = toolchain.ParseVersion(goCut)
	up.SetFault(testupstream.ZipPath(toolchain.ModulePath, toolchain.ModuleVersion(v, native)), testupstream.Fault{CutAfter: 200})
	return up, native
}

// goScriptSetup gives every go_*.txtar its own upstream and home:
// GOPROXY/GOSUMDB point at the upstream, HOME=$WORK/home, and $NATIVE
// ("linux/amd64") and $OTHERARCH name the targets.
func goScriptSetup(env *testscript.Env) error {
	if !strings.HasPrefix(filepath.Base(env.WorkDir), "script-go_") {
		return nil
	}
	up, native := newGoUpstream(env.T().(testing.TB))
	env.Defer(up.Stop)
	home := filepath.Join(env.WorkDir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB, "TESTSUMDB": up.GOSUMDB, "GONOSUMDB": "", "GOPRIVATE": "", "GONOPROXY": "",
		"GOTOOLCHAIN": "local", "HOME": home, "XDG_DATA_HOME": "", "XDG_CONFIG_HOME": "", "SHELL": "/bin/bash",
		"NATIVE": native.Slash(), "NATIVEDASH": native.String(), "OTHERARCH": otherTarget(native).GOARCH,
		"GOENV": filepath.Join(home, "goenv"),
	} {
		env.Setenv(k, v)
	}
	return nil
}

// A full or read-only disk gives a one-line error and leaves nothing
// behind. It needs root for a small tmpfs in a private mount namespace.
func TestGoInstallFullAndReadOnlyDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a small tmpfs in a private mount namespace (unshare -m)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	pitstop, err := exec.LookPath("pitstop") // the test binary, set up by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	up, _ := newGoUpstream(t)
	defer up.Stop()
	for _, tc := range []struct{ name, opts, want string }{
		{"full", "size=64k", "no space left on device"},
		{"readonly", "ro,size=1m", "read-only file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mnt := t.TempDir()
			script := `mount -t tmpfs -o "$2" tmpfs "$1" || exit 99
"$3" go install 1.22.5 --dir "$1/tc"; echo "exit=$?"
echo "left:"; ls -A "$1/tc" 2>/dev/null | grep -v '^\.lock$'; exit 0`
			cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", mnt, tc.opts, pitstop)
			cmd.Env = append(os.Environ(), "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB, "GONOSUMDB=", "GOPRIVATE=", "GOTOOLCHAIN=local", "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
				t.Skipf("cannot mount a tmpfs here: %s", out)
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			s := string(out)
			t.Logf("%s", s)
			lines := strings.Split(strings.TrimSpace(s), "\n")
			var errLines []string
			for _, l := range lines {
				if strings.HasPrefix(l, "pitstop: ") {
					errLines = append(errLines, l)
				}
			}
			if len(errLines) != 1 || !strings.Contains(errLines[0], tc.want) || !strings.Contains(errLines[0], "--dir") {
				t.Fatalf("want one error line about %q with a fix, got:\n%s", tc.want, s)
			}
			if !strings.Contains(s, "exit=1\n") {
				t.Fatalf("want exit status 1:\n%s", s)
			}
			if rest := s[strings.Index(s, "left:\n")+len("left:\n"):]; strings.TrimSpace(rest) != "" {
				t.Fatalf("left behind in the target dir:\n%s", rest)
			}
		})
	}
}

// --system keeps versions in /usr/local/lib/pitstop/go and makes
// /usr/local/go the link, as the official instructions' layout; it refuses
// to replace a /usr/local/go unpacked by hand. Run in a private mount
// namespace with a tmpfs over /usr/local, so the machine is not touched.
func TestGoInstallSystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a tmpfs over /usr/local in a private mount namespace (unshare -m)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	pitstop, err := exec.LookPath("pitstop")
	if err != nil {
		t.Fatal(err)
	}
	up, native := newGoUpstream(t)
	defer up.Stop()
	script := `set -e
mount -t tmpfs tmpfs /usr/local || exit 99
"$1" go install 1.22.5 --system
echo "link: $(readlink /usr/local/go)"
/usr/local/go/bin/go version
"$1" go env --system --shell bash | grep -c /usr/local/go/bin
"$1" go install 1.23.0 --system >/dev/null
"$1" go use 1.22.5 --system >/dev/null
"$1" go remove 1.23.0 --system
ls -A /usr/local/lib/pitstop/go | grep -v '^\.lock$'
rm /usr/local/go && mkdir /usr/local/go
if "$1" go install 1.23.0 --system; then echo "replaced a hand-made /usr/local/go"; exit 1; fi
ls -A /usr/local/lib/pitstop/go | grep -v '^\.lock$'`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", pitstop)
	cmd.Env = append(os.Environ(), "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB, "GONOSUMDB=", "GOPRIVATE=", "GOTOOLCHAIN=local", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 99 {
		t.Skipf("cannot mount a tmpfs here: %s", out)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"link: /usr/local/lib/pitstop/go/go1.22.5\n",
		"go version go1.22.5 " + native.Slash() + "\n",
		"removed go1.23.0 (/usr/local/lib/pitstop/go/go1.23.0)\n",
		"pitstop: /usr/local/go is a directory, not a link pitstop manages: move it away",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(s), "go1.22.5") {
		t.Errorf("after the refusal, the versions directory should hold only go1.22.5")
	}
}

// On a machine with no go command yet, GOPROXY must come from the
// environment; without it the error says so.
func TestToolchainGoEnvWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOPROXY", "")
	if _, err := toolchainGoEnv(t.Context()); err == nil || !strings.Contains(err.Error(), "no go command to ask for GOPROXY, and GOPROXY is not set") {
		t.Fatalf("err = %v", err)
	}
	t.Setenv("GOPROXY", "http://127.0.0.1:9/")
	env, err := toolchainGoEnv(t.Context())
	if err != nil || env.Get("GOPROXY") != "http://127.0.0.1:9/" {
		t.Fatalf("env %v, %v", env, err)
	}
}
