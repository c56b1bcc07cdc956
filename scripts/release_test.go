// Package scripts holds the tests of the release script (release.sh) and
// of install.sh, run against a release built once per test run.
package scripts

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxSize is the release binaries' budget: under 20 MB each.
const maxSize = 20_000_000

var (
	dist    string // the release under test
	version = "v0.0.0-test"
)

// TestMain builds the release once with release.sh, into a temporary
// directory (or uses PITSTOP_RELEASE_DIR, built for PITSTOP_RELEASE_VERSION).
func TestMain(m *testing.M) {
	if d := os.Getenv("PITSTOP_RELEASE_DIR"); d != "" {
		dist, version = d, os.Getenv("PITSTOP_RELEASE_VERSION")
		os.Exit(m.Run())
	}
	tmp, err := os.MkdirTemp("", "pitstop-release-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dist = filepath.Join(tmp, "dist")
	cmd := exec.Command("sh", "release.sh", version, dist)
	cmd.Env = hostGoEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "release.sh: %v\n%s", err, out)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// hostGoEnv is the environment without the GOOS/GOARCH of a test run for
// another architecture (test.sh runs the suite for arm64 under qemu).
func hostGoEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "GOARM":
			continue
		}
		env = append(env, kv)
	}
	return env
}

type target struct {
	file     string
	machine  elf.Machine
	class    elf.Class
	platform string // what `pitstop version` says
	qemu     string // the emulator that runs it on an amd64 host; "" native
}

var targets = []target{
	{"pitstop-linux-amd64", elf.EM_X86_64, elf.ELFCLASS64, "linux/amd64", ""},
	{"pitstop-linux-arm64", elf.EM_AARCH64, elf.ELFCLASS64, "linux/arm64", "qemu-aarch64-static"},
	{"pitstop-linux-armv7", elf.EM_ARM, elf.ELFCLASS32, "linux/arm/v7", "qemu-arm-static"},
	{"pitstop-linux-armv6", elf.EM_ARM, elf.ELFCLASS32, "linux/arm/v6", "qemu-arm-static"},
}

// hostIsAMD64 asks the kernel (uname runs natively even when this test
// binary runs under qemu).
func hostIsAMD64(t *testing.T) bool {
	out, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)) == "x86_64"
}

// versionOf runs a release binary's `version --json`, under qemu-user when
// it is not the host's.
func versionOf(t *testing.T, tg target, path string) map[string]string {
	t.Helper()
	if !hostIsAMD64(t) {
		t.Skip("the release tests run the binaries on an amd64 host (arm ones under qemu-user)")
	}
	args := []string{path, "version", "--json"}
	if tg.qemu != "" {
		q, err := exec.LookPath(tg.qemu)
		if err != nil {
			t.Skipf("needs %s (apt-get install qemu-user-static) to run %s", tg.qemu, tg.file)
		}
		args = append([]string{q}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%s version --json: %v", tg.file, err)
	}
	var v map[string]string
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s version --json: %v\n%s", tg.file, err, out)
	}
	return v
}

// TestReleaseBinaries: every binary is there, under 20 MB, static and
// stripped, for its architecture, listed in SHA256SUMS with its hash, and
// reports the stamped version and its platform when run.
func TestReleaseBinaries(t *testing.T) {
	sums := readSums(t, dist)
	for _, tg := range targets {
		t.Run(tg.file, func(t *testing.T) {
			path := filepath.Join(dist, tg.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes", tg.file, len(b))
			if len(b) >= maxSize {
				t.Errorf("%s is %d bytes: the budget is under %d", tg.file, len(b), maxSize)
			}
			if h := sha256.Sum256(b); sums[tg.file] != hex.EncodeToString(h[:]) {
				t.Errorf("SHA256SUMS says %q, the file hashes to %x", sums[tg.file], h)
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != tg.machine || f.Class != tg.class {
				t.Errorf("ELF %v %v, want %v %v", f.Class, f.Machine, tg.class, tg.machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Errorf("dynamically linked (%v): the release must be static", p.Type)
				}
			}
			if f.Section(".symtab") != nil {
				t.Error("has a symbol table: not stripped (-s -w)")
			}
			v := versionOf(t, tg, path)
			if v["version"] != version || v["platform"] != tg.platform || !strings.HasPrefix(v["go_version"], "go1.") {
				t.Errorf("version --json: %v; want version %s, platform %s", v, version, tg.platform)
			}
		})
	}
	if h := sha256.Sum256(mustRead(t, filepath.Join(dist, "install.sh"))); sums["install.sh"] != hex.EncodeToString(h[:]) {
		t.Errorf("SHA256SUMS does not vouch for install.sh")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readSums parses SHA256SUMS: name → hex digest.
func readSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(dir, "SHA256SUMS")))), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		sums[f[1]] = f[0]
	}
	return sums
}
