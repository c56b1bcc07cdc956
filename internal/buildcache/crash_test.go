package buildcache_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/pitstop-go/pitstop/internal/buildcache"
)

// TestHelperKilledMidPut kills the helper (a child process, SIGKILL)
// while the go command's side has sent half of a put's body: the local
// tier, which is not fsynced, must hold no part of that object, every
// object in it must be whole (hash to its name), and a new helper must
// answer every action put before either with the right object or a miss.
// Run with the kill just after an answer too, while the entry of the put
// answered is being written.
func TestHelperKilledMidPut(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, when := range []string{"mid-body", "after-answer"} {
		t.Run(when, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(exe, "cache", "prog", "--dir", dir)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				if errors.Is(err, syscall.ENOEXEC) {
					t.Skipf("cannot re-exec the test binary here (no binfmt handler for %s under emulation): %v", runtime.GOARCH, err)
				}
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			answers := bufio.NewScanner(stdout)
			answers.Buffer(nil, 1<<20)
			answer := func() map[string]any {
				t.Helper()
				if !answers.Scan() {
					t.Fatalf("helper ended: %v; stderr: %s", answers.Err(), stderr.String())
				}
				var m map[string]any
				if err := json.Unmarshal(answers.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
			answer() // the known commands
			type put struct {
				action, out [32]byte
				body        []byte
			}
			var puts []put
			send := func(i int, cut bool) {
				t.Helper()
				body := bytes.Repeat(fmt.Appendf(nil, "object %d ", i), 20000+i*997) // ~200 KiB
				p := put{action: sha256.Sum256(fmt.Appendf(nil, "action %d", i)), out: sha256.Sum256(body), body: body}
				puts = append(puts, p)
				req, _ := json.Marshal(map[string]any{"ID": i + 1, "Command": "put", "ActionID": p.action[:], "OutputID": p.out[:], "BodySize": len(body)})
				enc := []byte(`"` + base64.StdEncoding.EncodeToString(body) + `"` + "\n")
				if cut {
					enc = enc[:len(enc)/2]
				}
				if _, err := stdin.Write(append(append(req, '\n', '\n'), enc...)); err != nil {
					t.Fatal(err)
				}
			}
			const n = 8
			for i := range n {
				send(i, false)
				if a := answer(); a["DiskPath"] == nil {
					t.Fatalf("put %d: %v", i, a)
				}
			}
			if when == "mid-body" {
				send(n, true)
			}
			// The half body is in the pipe (or read already): give the
			// helper no chance to finish, and kill it.
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			// Every object file is whole; the cut one is not there.
			err = filepath.WalkDir(filepath.Join(dir, "o"), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
					return err
				}
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d.Name() {
					t.Errorf("object %s holds %d bytes that hash to %x: a partial object", d.Name(), len(data), sum)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if when == "mid-body" {
				cut := puts[n]
				if _, err := os.Stat(filepath.Join(dir, "o", hex.EncodeToString(cut.out[:1]), hex.EncodeToString(cut.out[:]))); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the object whose put was cut is in the tier (stat: %v)", err)
				}
			}
			// A new helper answers each action with its object or a miss.
			l := &buildcache.Local{Dir: dir}
			hits := 0
			for i, p := range puts {
				e, path, err := l.Lookup(p.action)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					t.Fatalf("lookup %d: %v", i, err)
				}
				data, err := os.ReadFile(path)
				if err != nil || e.OutputID != buildcache.ID(p.out) || !bytes.Equal(data, p.body) {
					t.Errorf("action %d: a hit on %s (%d bytes, %v) that is not what was put", i, path, len(data), err)
				}
				hits++
			}
			if hits < n-1 {
				t.Errorf("%d of the %d puts answered before the kill are hits after it, want at least %d (the last entry may be lost)", hits, n, n-1)
			}
		})
	}
}
