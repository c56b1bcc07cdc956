package scripts

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// serve serves dir on 127.0.0.1, as a release's download URL.
func serve(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeBin makes a directory of stand-in commands (name → shell script
// body) to put first on PATH.
func fakeBin(t *testing.T, cmds map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range cmds {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeRoot is a system root whose /bin/sh is the given ELF executable: the
// userland install.sh must detect when PITSTOP_ROOT points at it.
func fakeRoot(t *testing.T, sh string) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "bin", "sh"), mustRead(t, sh), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

type installRun struct {
	stdout, stderr string
	err            error
}

// install runs the release's install.sh with env added (the base URL is
// its argument) and returns what it said.
func install(t *testing.T, base string, env ...string) installRun {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join(dist, "install.sh"), base)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return installRun{stdout.String(), stderr.String(), err}
}

// TestInstallAMD64: on this amd64 machine install.sh picks the amd64
// binary, verifies it, installs it and prints its version.
func TestInstallAMD64(t *testing.T) {
	if !hostIsAMD64(t) {
		t.Skip("installs the amd64 build natively: needs an amd64 host")
	}
	dir := filepath.Join(t.TempDir(), "bin")
	r := install(t, serve(t, dist), "PITSTOP_INSTALL_DIR="+dir)
	if r.err != nil {
		t.Fatalf("install.sh: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	got := filepath.Join(dir, "pitstop")
	if !bytes.Equal(mustRead(t, got), mustRead(t, filepath.Join(dist, "pitstop-linux-amd64"))) {
		t.Fatal("the installed binary is not pitstop-linux-amd64")
	}
	if want := "installed " + got + ": pitstop " + version + " "; !strings.HasPrefix(r.stdout, want) || !strings.Contains(r.stdout, "linux/amd64") {
		t.Errorf("install.sh said %q, want %q... linux/amd64", r.stdout, want)
	}
	out, err := exec.Command(got, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "pitstop "+version+" ") {
		t.Errorf("installed pitstop version: %q, %v", out, err)
	}
	assertOnly(t, dir, "pitstop")
}

// TestInstallARM64Userland: with an arm64 /bin/sh (a root such as a Pi's
// SD card, PITSTOP_ROOT) install.sh picks the arm64 binary; it checks that
// it runs (here under qemu-aarch64 through binfmt_misc) before installing.
func TestInstallARM64Userland(t *testing.T) {
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		t.Skip("needs qemu-aarch64 registered with binfmt_misc (test.sh does: update-binfmts --enable qemu-aarch64)")
	}
	root := fakeRoot(t, filepath.Join(dist, "pitstop-linux-arm64"))
	dir := filepath.Join(t.TempDir(), "bin")
	r := install(t, serve(t, dist), "PITSTOP_INSTALL_DIR="+dir, "PITSTOP_ROOT="+root)
	if r.err != nil {
		t.Fatalf("install.sh: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "downloading pitstop-linux-arm64 from ") {
		t.Errorf("install.sh said %q", r.stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "pitstop")), mustRead(t, filepath.Join(dist, "pitstop-linux-arm64"))) {
		t.Fatal("the installed binary is not pitstop-linux-arm64")
	}
	if !strings.Contains(r.stdout, "pitstop "+version+" ") || !strings.Contains(r.stdout, "linux/arm64") {
		t.Errorf("install.sh said %q, want the arm64 binary's version", r.stdout)
	}
}

// TestInstallDetect: the userland decides, not the kernel: a 64-bit kernel
// (uname -m aarch64) under 32-bit Raspberry Pi OS (dpkg armhf, or an ELF32
// ARM /bin/sh) gets the 32-bit ARM build; a Pi 1 or Zero (armv6l) ARMv6.
func TestInstallDetect(t *testing.T) {
	arm64, armv7 := filepath.Join(dist, "pitstop-linux-arm64"), filepath.Join(dist, "pitstop-linux-armv7")
	for _, tc := range []struct {
		name  string
		dpkg  string // what dpkg --print-architecture says; "" no dpkg
		uname string // uname -m
		sh    string // the root's /bin/sh; "" the real root
		want  string
	}{
		{"pi5 64-bit OS", "arm64", "aarch64", "", "pitstop-linux-arm64"},
		{"pi4 64-bit kernel, 32-bit OS", "armhf", "aarch64", "", "pitstop-linux-armv7"},
		{"pi zero 32-bit OS", "armhf", "armv6l", "", "pitstop-linux-armv6"},
		{"pi3 32-bit OS", "armhf", "armv7l", "", "pitstop-linux-armv7"},
		{"pc", "amd64", "x86_64", "", "pitstop-linux-amd64"},
		{"sd card, 64-bit /bin/sh", "", "x86_64", arm64, "pitstop-linux-arm64"},
		{"sd card, 32-bit /bin/sh, 64-bit kernel", "", "aarch64", armv7, "pitstop-linux-armv7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmds := map[string]string{"uname": `case "$1" in -m) echo ` + tc.uname + ` ;; *) echo Linux ;; esac`}
			if tc.dpkg != "" {
				cmds["dpkg"] = "echo " + tc.dpkg
			}
			env := []string{"PATH=" + fakeBin(t, cmds) + ":" + os.Getenv("PATH")}
			if tc.sh != "" {
				env = append(env, "PITSTOP_ROOT="+fakeRoot(t, tc.sh))
			}
			cmd := exec.Command("sh", filepath.Join(dist, "install.sh"), "--detect")
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != tc.want {
				t.Errorf("install.sh --detect: %q, %v; want %s", out, err, tc.want)
			}
		})
	}
	// A root whose /bin/sh is no executable Go has a build for: refused.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "sh"), []byte("#!/bin/true\n"), 0o755)
	cmd := exec.Command("sh", filepath.Join(dist, "install.sh"), "--detect")
	cmd.Env = append(os.Environ(), "PITSTOP_ROOT="+root)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "cannot tell the architecture of "+root+"/bin/sh") {
		t.Errorf("unknown /bin/sh: %q, %v", out, err)
	}
}

// TestInstallRefusesTampered: a binary that does not match SHA256SUMS is
// refused; the pitstop already installed stays, and no download is left
// behind. A release without SHA256SUMS is refused the same way.
func TestInstallRefusesTampered(t *testing.T) {
	if !hostIsAMD64(t) {
		t.Skip("installs the amd64 build: needs an amd64 host")
	}
	bad := t.TempDir()
	for _, f := range []string{"pitstop-linux-amd64", "SHA256SUMS", "install.sh"} {
		b := mustRead(t, filepath.Join(dist, f))
		if f == "pitstop-linux-amd64" {
			b[len(b)/2] ^= 0xff // one flipped byte
		}
		if err := os.WriteFile(filepath.Join(bad, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	old := []byte("#!/bin/sh\necho the pitstop installed before\n")
	os.WriteFile(filepath.Join(dir, "pitstop"), old, 0o755)
	r := install(t, serve(t, bad), "PITSTOP_INSTALL_DIR="+dir)
	if r.err == nil {
		t.Fatalf("a tampered binary was accepted:\n%s%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "pitstop-linux-amd64 from http://127.0.0.1:") || !strings.Contains(r.stderr, "corrupt or tampered with") || !strings.Contains(r.stderr, "nothing installed") {
		t.Errorf("install.sh said %q", r.stderr)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, "pitstop")), old) {
		t.Error("the old pitstop was replaced")
	}
	assertOnly(t, dir, "pitstop")

	os.Remove(filepath.Join(bad, "SHA256SUMS"))
	r = install(t, serve(t, bad), "PITSTOP_INSTALL_DIR="+dir)
	if r.err == nil || !strings.Contains(r.stderr, "cannot download http://127.0.0.1:") || !strings.Contains(r.stderr, "/SHA256SUMS") {
		t.Errorf("without SHA256SUMS: %v\n%s", r.err, r.stderr)
	}
	assertOnly(t, dir, "pitstop")
}

// assertOnly fails unless dir holds exactly the named files.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
