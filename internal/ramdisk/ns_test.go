package ramdisk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// The tests that mount run as root in a private mount namespace: the test
// binary runs itself again under `unshare -m --propagation private` with
// nsEnv set, and only that child mounts anything. childEnv selects a
// helper mode of the binary (a sync to be killed).
const (
	nsEnv    = "PITSTOP_RAMDISK_TEST_NS"
	childEnv = "PITSTOP_RAMDISK_TEST_CHILD"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "sync" {
		os.Exit(childSync())
	}
	os.Exit(m.Run())
}

// inNamespace reports whether the calling test runs inside the private
// mount namespace; if not, it runs the test there (or skips, saying why)
// and the caller returns.
func inNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(nsEnv) == "1" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts real tmpfs and overlay filesystems in a private mount namespace (unshare -m); run the suite as root (CI does)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) from util-linux to make a private mount namespace")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(unshare, "-m", "--propagation", "private", exe, "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), nsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a private mount namespace:\n%s", out)
	if err != nil && bytes.Contains(out, []byte("exec format error")) {
		t.Skip("cannot run this test binary again under unshare: exec format error (under qemu-user without binfmt_misc for this architecture)")
	}
	if bytes.Contains(out, []byte("--- SKIP: "+t.Name())) {
		t.Skip("skipped inside the namespace (see the log above)")
	}
	if err != nil {
		t.Fatalf("in the namespace: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatal("the test did not run inside the namespace")
	}
	return false
}

// testManager returns a Manager whose config and run directory live under
// base, logging to t.
func testManager(t *testing.T, base string) *Manager {
	t.Cleanup(func() {
		// After a failure, unmount what is left (deepest first) before
		// the temporary directory is removed: a bind mount there shows
		// the parent directory.
		ms, _ := host.Live().Mounts()
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].MountPoint == base || strings.HasPrefix(ms[i].MountPoint, base+"/") {
				syscall.Unmount(ms[i].MountPoint, syscall.MNT_DETACH)
			}
		}
	})
	return &Manager{
		Root:       host.Live(),
		RunDir:     filepath.Join(base, "run"),
		ConfigFile: filepath.Join(base, "etc", "ramdisk.conf"),
		Log:        slog.New(slog.NewTextHandler(tWriter{t}, nil)),
		Out:        tWriter{t},
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// manifest describes every entry under root: type, permissions, owner,
// mtime, and a file's size and SHA-256 or a link's target.
func manifest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%s %04o %d:%d mtime=%d", fi.Mode().Type(), st.Mode&0o7777, st.Uid, st.Gid, fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			desc += fmt.Sprintf(" size=%d sha=%s", len(b), hex.EncodeToString(h[:8]))
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffManifest(want, got map[string]string) []string {
	var d []string
	for k, v := range want {
		if g, ok := got[k]; !ok {
			d = append(d, "missing "+k+": "+v)
		} else if g != v {
			d = append(d, "differs "+k+":\n    want "+v+"\n    got  "+g)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, "extra "+k+": "+v)
		}
	}
	sort.Strings(d)
	return d
}

func sameTree(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if d := diffManifest(want, got); len(d) > 0 {
		if len(d) > 20 {
			d = append(d[:20], fmt.Sprintf("... and %d more", len(d)-20))
		}
		t.Fatalf("%s: %d differences:\n%s", what, len(d), strings.Join(d, "\n"))
	}
}

// moduleProxy writes a file:// module proxy holding the given modules
// (path@version → files), made with x/mod/zip as a real proxy serves them.
func moduleProxy(t *testing.T, dir string, mods map[string]map[string]string) string {
	t.Helper()
	for mv, files := range mods {
		path, version, _ := strings.Cut(mv, "@")
		src := t.TempDir()
		files["go.mod"] = "module " + path + "\n\ngo 1.21\n"
		for name, body := range files {
			p := filepath.Join(src, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		v := filepath.Join(dir, path, "@v")
		os.MkdirAll(v, 0o755)
		var zb bytes.Buffer
		if err := modzip.CreateFromDir(&zb, module.Version{Path: path, Version: version}, src); err != nil {
			t.Fatal(err)
		}
		for name, body := range map[string]string{
			version + ".zip":  zb.String(),
			version + ".mod":  files["go.mod"],
			version + ".info": `{"Version":"` + version + `","Time":"2024-01-02T03:04:05Z"}`,
		} {
			if err := os.WriteFile(filepath.Join(v, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		f, _ := os.OpenFile(filepath.Join(v, "list"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		f.WriteString(version + "\n")
		f.Close()
	}
	return "file://" + dir
}

// goModDownload runs the real go command to fill modcache from proxy.
func goModDownload(t *testing.T, base, modcache, proxy string, mods ...string) {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command on PATH to fill a real module cache")
	}
	cmd := exec.Command(gobin, append([]string{"mod", "download", "-json"}, mods...)...)
	cmd.Dir = base
	cmd.Env = append(os.Environ(), "GOMODCACHE="+modcache, "GOPROXY="+proxy, "GOSUMDB=off", "GOFLAGS=",
		"GOCACHE="+filepath.Join(base, "gocache"), "GOTOOLCHAIN=local", "GO111MODULE=on", "GOPATH="+filepath.Join(base, "gopath"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download %v: %v\n%s", mods, err, out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isMount(t *testing.T, dir string) bool {
	ms, err := host.Live().Mounts()
	must(t, err)
	for _, m := range ms {
		if m.MountPoint == dir {
			return true
		}
	}
	return false
}

func statusOf(t *testing.T, m *Manager, dir string) Status {
	t.Helper()
	sts, err := m.Status(context.Background())
	must(t, err)
	for _, s := range sts {
		if s.Dir == dir {
			return s
		}
	}
	t.Fatalf("status has no %s: %+v", dir, sts)
	return Status{}
}

// TestEnableSyncDisable: a real module cache (made by `go mod download`
// from a file:// proxy) is put in RAM; more modules are downloaded, files
// are changed, deleted, replaced by other types, an opaque directory is
// made; sync, then disable: the disk copy matches exactly what the overlay
// showed (contents, modes, owners, mtimes, deletions, symbolic links).
func TestEnableSyncDisable(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	modcache := filepath.Join(base, "home", "go", "pkg", "mod")
	must(t, os.MkdirAll(modcache, 0o755))
	proxy := moduleProxy(t, filepath.Join(base, "proxy"), map[string]map[string]string{
		"example.com/alpha@v1.0.0": {"alpha.go": "package alpha\n", "doc/readme.txt": "alpha docs\n", "doc/old.txt": "old\n"},
		"example.com/beta@v1.2.0":  {"beta.go": "package beta\n"},
	})
	goModDownload(t, base, modcache, proxy, "example.com/alpha@v1.0.0")
	before := manifest(t, modcache)

	m := testManager(t, base)
	// As under systemd, where / is a shared mount: the overlay must not
	// propagate into the bind mount that shows the disk copy.
	must(t, syscall.Mount(base, base, "", syscall.MS_BIND, ""))
	must(t, syscall.Mount("", base, "", syscall.MS_SHARED, ""))
	must(t, m.Enable(ctx, []Path{{Dir: modcache, Size: 64 << 20}}, 0))
	if !isMount(t, modcache) || !Active(host.Live(), modcache) {
		t.Fatal("no overlay on the module cache after enable")
	}
	sameTree(t, "the overlay right after enable (nothing copied, all read from disk)", before, manifest(t, modcache))
	l := newLayout(m.RunDir, modcache)
	if ents, _ := os.ReadDir(l.Upper); len(ents) != 0 {
		t.Fatalf("upper not empty after enable: %v", ents)
	}

	// Changes through the overlay.
	goModDownload(t, base, modcache, proxy, "example.com/beta@v1.2.0") // new read-only tree
	alpha := filepath.Join(modcache, "example.com", "alpha@v1.0.0")
	must(t, filepath.WalkDir(alpha, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return err
	}))
	must(t, os.Remove(filepath.Join(alpha, "doc", "old.txt")))                                      // deletion (whiteout)
	must(t, os.WriteFile(filepath.Join(alpha, "alpha.go"), []byte("package alpha // v2\n"), 0o644)) // changed content
	must(t, os.Chmod(filepath.Join(alpha, "alpha.go"), 0o600))
	must(t, os.Lchown(filepath.Join(alpha, "alpha.go"), 1234, 5678))
	must(t, os.RemoveAll(filepath.Join(alpha, "doc"))) // a lower directory deleted...
	must(t, os.Mkdir(filepath.Join(alpha, "doc"), 0o750))
	must(t, os.WriteFile(filepath.Join(alpha, "doc", "new.txt"), []byte("new docs\n"), 0o644)) // ...and made again: opaque
	must(t, os.Remove(filepath.Join(alpha, "go.mod")))                                         // file replaced by a directory
	must(t, os.Mkdir(filepath.Join(alpha, "go.mod"), 0o700))
	must(t, os.WriteFile(filepath.Join(alpha, "go.mod", "inner"), []byte("x"), 0o644))
	must(t, os.Symlink("../cache/download", filepath.Join(modcache, "example.com", "dl")))
	must(t, os.Chmod(alpha, 0o555)) // read-only again, as Go leaves it
	dl := filepath.Join(modcache, "cache", "download", "example.com", "alpha", "@v")
	must(t, os.Remove(filepath.Join(dl, "v1.0.0.info")))
	if !isOpaque(filepath.Join(l.Upper, "example.com", "alpha@v1.0.0", "doc")) {
		t.Fatal("test set-up: the recreated directory is not opaque in the upper layer")
	}

	if _, err := os.Stat(filepath.Join(l.Disk, "example.com", "beta@v1.2.0")); err == nil {
		t.Fatal("a module downloaded into RAM shows in the disk copy before any sync: the overlay propagated into the bind mount")
	}
	st := statusOf(t, m, modcache)
	if st.Unsynced == nil || st.Unsynced.Files == 0 || st.Unsynced.Dels == 0 || st.Unsynced.Bytes == 0 {
		t.Fatalf("status before sync shows nothing unsynced: %+v", st.Unsynced)
	}
	want := manifest(t, modcache)
	recs, err := m.Sync(ctx, nil, "test")
	must(t, err)
	if len(recs) != 1 || recs[0].Result != "ok" || recs[0].Files != st.Unsynced.Files || recs[0].Bytes != st.Unsynced.Bytes {
		t.Fatalf("sync = %+v, status said %+v", recs, st.Unsynced)
	}
	sameTree(t, "disk copy after sync vs the overlay", want, manifest(t, l.Disk))
	sameTree(t, "the overlay after sync", want, manifest(t, modcache))
	st = statusOf(t, m, modcache)
	if st.Unsynced.Files != 0 || st.Unsynced.Dels != 0 || st.LastSync == nil || st.LastSync.Result != "ok" || st.LastComplete == nil || st.LastComplete.Gen != 1 {
		t.Fatalf("status after sync: unsynced %+v last %+v complete %+v", st.Unsynced, st.LastSync, st.LastComplete)
	}
	// A second sync with nothing new writes nothing.
	recs, err = m.Sync(ctx, []string{modcache}, "test")
	must(t, err)
	if recs[0].Files != 0 || recs[0].Dels != 0 {
		t.Fatalf("idle sync wrote %+v", recs[0])
	}

	// More changes, then disable (which syncs).
	must(t, os.WriteFile(filepath.Join(modcache, "cache", "late.txt"), []byte("written after the sync\n"), 0o640))
	must(t, os.Chmod(filepath.Join(alpha), 0o755))
	must(t, os.RemoveAll(filepath.Join(alpha, "doc")))
	must(t, os.Chmod(filepath.Join(alpha), 0o555))
	want = manifest(t, modcache)
	must(t, m.Disable(ctx, nil, false))
	if isMount(t, modcache) || Active(host.Live(), modcache) {
		t.Fatal("still mounted after disable")
	}
	sameTree(t, "the directory after disable vs the overlay before", want, manifest(t, modcache))
	if _, err := os.Stat(m.ConfigFile); err == nil {
		t.Error("config still there after disabling the only path")
	}
	if _, err := os.Stat(filepath.Join(l.MetaDirect, "sync")); err == nil {
		t.Error("staging area left behind")
	}
	if _, err := os.Stat(l.Run); err == nil {
		t.Error("run directory left behind")
	}
	// The go command still trusts the cache on disk (offline).
	cmd := exec.Command("go", "mod", "download", "-json", "example.com/beta@v1.2.0")
	cmd.Dir = base
	cmd.Env = append(os.Environ(), "GOMODCACHE="+modcache, "GOPROXY=off", "GOSUMDB=off", "GOFLAGS=", "GOTOOLCHAIN=local", "GOCACHE="+filepath.Join(base, "gocache"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download from the synced cache, offline: %v\n%s", err, out)
	}
}

// bigTree writes n files of a few KiB under dir/sub.
func bigTree(t *testing.T, dir, sub string, n int, salt string) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, sub, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%05d", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, bytes.Repeat([]byte(salt+strconv.Itoa(i)), 400+i%300), 0o444))
	}
}

// childSync is the helper process that TestKillDuringSync kills: it syncs
// and, with PAUSE=phase:n, stops at that point and says so in a file.
func childSync() int {
	m := &Manager{RunDir: os.Getenv("RUNDIR"), ConfigFile: os.Getenv("CONF")}
	if p := os.Getenv("PAUSE"); p != "" {
		phase, ns, _ := strings.Cut(p, ":")
		n, _ := strconv.Atoi(ns)
		m.hook = func(ph string, i int) {
			if ph == phase && i == n {
				os.WriteFile(os.Getenv("MARKER"), []byte(p), 0o644)
				select {} // wait for SIGKILL
			}
		}
	}
	if _, err := m.Sync(context.Background(), []string{os.Getenv("DIR")}, "child"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKillDuringSync kills (SIGKILL) a sync of a large tree at three
// points and checks the promise: after recovery the disk copy is exactly
// the previous sync (killed before the commit) or exactly the new one
// (killed after it), never a mix.
func TestKillDuringSync(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "cache")
	bigTree(t, dir, "old", 450, "old")
	m := testManager(t, base)
	must(t, m.Enable(ctx, []Path{{Dir: dir, Size: 256 << 20}}, 0))
	l := newLayout(m.RunDir, dir)
	exe, _ := os.Executable()

	for k, tc := range []struct {
		name  string
		pause string // "" kills as soon as the staging area appears
	}{
		{"while staging", "stage:400"},
		{"while applying", "apply:600"},
		{"at a free-running point", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A new generation in RAM: many new files, changed and deleted ones.
			salt := strconv.Itoa(len(tc.name))
			bigTree(t, dir, "new"+salt, 1000, "new")
			for i := k; i < 450; i += 3 { // each case its own third of the old files
				p := filepath.Join(dir, "old", fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%05d", i))
				os.Chmod(p, 0o644)
				if i%2 == 0 {
					must(t, os.Remove(p))
				} else {
					must(t, os.WriteFile(p, []byte("changed "+tc.name), 0o444))
				}
			}
			old := manifest(t, l.Disk)
			next := manifest(t, dir)
			marker := filepath.Join(base, "marker")
			os.Remove(marker)
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), childEnv+"=sync", "RUNDIR="+m.RunDir, "CONF="+m.ConfigFile, "DIR="+dir, "PAUSE="+tc.pause, "MARKER="+marker)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			must(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			watch := marker
			if tc.pause == "" {
				watch = filepath.Join(l.Meta, "sync", "staged")
			}
			killed := false
			for !killed {
				select {
				case err := <-done:
					t.Fatalf("the sync finished before it could be killed: %v %s", err, stderr.String())
				default:
				}
				if _, err := os.Stat(watch); err == nil {
					must(t, cmd.Process.Signal(syscall.SIGKILL))
					killed = true
				}
				time.Sleep(time.Millisecond) // poll gently; nothing is timed
			}
			<-done
			if cmd.ProcessState.Success() {
				t.Fatal("child was not killed")
			}
			st := statusOf(t, m, dir)
			if !st.Interrupted {
				t.Error("status does not report the interrupted sync")
			}
			_, journalErr := os.Stat(filepath.Join(l.Meta, "sync", "journal"))
			committed := journalErr == nil
			t.Logf("killed %s; journal committed: %v", tc.name, committed)
			if tc.pause == "stage:400" && committed {
				t.Fatal("journal committed while staging")
			}
			if tc.pause == "apply:600" && !committed {
				t.Fatal("no journal while applying")
			}
			if !committed {
				sameTree(t, "disk copy after a kill before the commit (untouched)", old, manifest(t, l.Disk))
			}
			must(t, m.syncerFor(l, true).recover())
			if committed {
				sameTree(t, "disk copy after rolling the killed sync forward", next, manifest(t, l.Disk))
			} else {
				sameTree(t, "disk copy after dropping the killed sync", old, manifest(t, l.Disk))
			}
			if _, err := os.Stat(filepath.Join(l.Meta, "sync")); err == nil {
				t.Error("recovery left the staging area")
			}
			// A sync now brings the disk copy to the overlay's state.
			_, err := m.Sync(ctx, nil, "after-kill")
			must(t, err)
			sameTree(t, "disk copy after the next sync", manifest(t, dir), manifest(t, l.Disk))
		})
	}
	must(t, m.Disable(ctx, nil, false))
}

func writeMiB(t *testing.T, p string, mib int) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, bytes.Repeat([]byte{'x'}, mib<<20), 0o644))
}

// TestHighWater: past the high-water mark the watch syncs early; while a
// process holds a file open it grows the tmpfs up to max-size; at the
// limit a writer gets ENOSPC (never a silent loss) and status says so;
// once nothing is open it reclaims the RAM, and every file is still there,
// read from disk.
func TestHighWater(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "gocache")
	must(t, os.MkdirAll(dir, 0o755))
	m := testManager(t, base)
	must(t, m.Enable(ctx, []Path{{Dir: dir, Size: 8 << 20, MaxSize: 16 << 20}}, 50))
	l := newLayout(m.RunDir, dir)

	// Below the mark: nothing happens.
	writeMiB(t, filepath.Join(dir, "a"), 2)
	must(t, m.Check(ctx))
	if st := statusOf(t, m, dir); st.LastSync != nil {
		t.Fatalf("synced below the high-water mark: %+v", st.LastSync)
	}
	// Past it, with a file held open: early sync, then growth.
	writeMiB(t, filepath.Join(dir, "b"), 3)
	busy, err := os.Open(filepath.Join(dir, "a"))
	must(t, err)
	must(t, m.Check(ctx))
	st := statusOf(t, m, dir)
	if st.LastSync == nil || st.LastSync.Reason != "high-water" || st.LastSync.Result != "ok" {
		t.Fatalf("no early sync at the high-water mark: %+v", st.LastSync)
	}
	sameTree(t, "disk copy after the early sync", manifest(t, dir), manifest(t, l.Disk))
	if st.Grows != 1 || st.Size != 12<<20 {
		t.Fatalf("busy ramdisk did not grow to 12M: grows %d size %d", st.Grows, st.Size)
	}
	// The same, as Prometheus metrics (what `watch --listen` serves).
	reg := prometheus.NewRegistry()
	must(t, reg.Register(m.Collector()))
	mfs, err := reg.Gather()
	must(t, err)
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if mt.GetLabel()[0].GetValue() != dir {
				t.Fatalf("metric %s for %q", mf.GetName(), mt.GetLabel()[0].GetValue())
			}
			got[mf.GetName()] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	if got["pitstop_ramdisk_grows_total"] != 1 || got["pitstop_ramdisk_size_bytes"] != 12<<20 || got["pitstop_ramdisk_used_bytes"] < 5<<20 ||
		got["pitstop_ramdisk_last_sync_success"] != 1 || got["pitstop_ramdisk_full"] != 0 || got["pitstop_ramdisk_max_size_bytes"] != 16<<20 {
		t.Fatalf("metrics: %v", got)
	}
	// Fill to max-size: grows once more, then reports full.
	writeMiB(t, filepath.Join(dir, "c"), 4)
	must(t, m.Check(ctx))
	if st = statusOf(t, m, dir); st.Size != 16<<20 {
		t.Fatalf("did not grow to max-size 16M: %d", st.Size)
	}
	writeMiB(t, filepath.Join(dir, "d"), 4)
	must(t, m.Check(ctx))
	if st = statusOf(t, m, dir); st.Full == "" || st.Size != 16<<20 {
		t.Fatalf("full at max-size not reported: %+v", st)
	}
	t.Logf("status says: %s", st.Full)
	err = os.WriteFile(filepath.Join(dir, "e"), bytes.Repeat([]byte{'y'}, 8<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write past the full tmpfs returned %v, want ENOSPC", err)
	}
	os.Remove(filepath.Join(dir, "e"))
	// Nothing open any more: reclaim.
	busy.Close()
	want := manifest(t, dir)
	must(t, m.Check(ctx))
	st = statusOf(t, m, dir)
	if st.Reclaims != 1 || st.Full != "" || st.Size != 8<<20 || st.Used > 1<<20 {
		t.Fatalf("not reclaimed: reclaims %d full %q size %d used %d", st.Reclaims, st.Full, st.Size, st.Used)
	}
	sameTree(t, "the directory after reclaiming (read from disk)", want, manifest(t, dir))
	if !isMount(t, dir) {
		t.Fatal("not mounted again after reclaiming")
	}

	// The watch loop does the same on its own.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Watch(wctx, 20*time.Millisecond) }()
	writeMiB(t, filepath.Join(dir, "f"), 5)
	for {
		st = statusOf(t, m, dir)
		if st.Reclaims == 2 {
			break
		}
		time.Sleep(20 * time.Millisecond) // waits for the watch; nothing is timed
	}
	cancel()
	must(t, <-done)
	if _, err := os.Stat(filepath.Join(l.Disk, "f")); err != nil {
		t.Fatalf("the watch's early sync did not write f to disk: %v", err)
	}
	must(t, m.Disable(ctx, nil, false))
}

// TestRebootRecovery: a sync is killed after its commit, then the machine
// "reboots" (every mount and /run vanish, the RAM with them). The boot
// path (Start) finishes the sync from its journal before it mounts, so
// the directory holds exactly the state of that sync; then a clean
// shutdown (stop) and the next boot find everything in place.
func TestRebootRecovery(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "mod")
	bigTree(t, dir, "old", 200, "old")
	m := testManager(t, base)
	must(t, m.Enable(ctx, []Path{{Dir: dir, Size: 64 << 20}}, 0))
	l := newLayout(m.RunDir, dir)
	bigTree(t, dir, "new", 400, "new")
	must(t, os.Chmod(filepath.Join(dir, "old", "d01"), 0o755))
	must(t, os.RemoveAll(filepath.Join(dir, "old", "d01")))
	synced := manifest(t, dir)

	exe, _ := os.Executable()
	marker := filepath.Join(base, "marker")
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=sync", "RUNDIR="+m.RunDir, "CONF="+m.ConfigFile, "DIR="+dir, "PAUSE=apply:200", "MARKER="+marker)
	must(t, cmd.Start())
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		time.Sleep(time.Millisecond) // waits for the child; nothing is timed
	}
	must(t, cmd.Process.Kill())
	cmd.Wait()
	// Lost with the power: a file written after the sync began.
	must(t, os.WriteFile(filepath.Join(dir, "after-sync"), []byte("only in RAM"), 0o644))

	// The reboot: mounts and /run are gone.
	for _, p := range []string{dir, l.RAM, l.DiskParent, m.RunDir} {
		must(t, syscall.Unmount(p, syscall.MNT_DETACH))
	}
	must(t, os.RemoveAll(m.RunDir))
	if _, err := os.Stat(filepath.Join(l.MetaDirect, "sync", "journal")); err != nil {
		t.Fatalf("no committed journal on disk after the kill: %v", err)
	}
	must(t, m.Start(ctx))
	if !Active(host.Live(), dir) {
		t.Fatal("Start did not mount the configured directory")
	}
	sameTree(t, "after the reboot: the killed sync, finished from its journal", synced, manifest(t, dir))
	st := statusOf(t, m, dir)
	if st.LastComplete == nil || st.LastComplete.Gen != 1 || st.LastComplete.Reason != "child+recover" || st.Interrupted {
		t.Fatalf("status after recovery: %+v interrupted %v", st.LastComplete, st.Interrupted)
	}

	// Shutdown keeps the config; the next boot mounts again.
	must(t, os.WriteFile(filepath.Join(dir, "before-shutdown"), []byte("synced at stop"), 0o644))
	want := manifest(t, dir)
	must(t, m.Disable(ctx, nil, true))
	if Active(host.Live(), dir) {
		t.Fatal("still mounted after stop")
	}
	sameTree(t, "after stop", want, manifest(t, dir))
	syscall.Unmount(m.RunDir, syscall.MNT_DETACH) // the next boot: a fresh /run (stop already dropped its bind mount)
	must(t, os.RemoveAll(m.RunDir))
	must(t, m.Start(ctx))
	sameTree(t, "after the next boot", want, manifest(t, dir))
	must(t, m.Disable(ctx, nil, false))
}

// TestEnableCreates: a default cache directory that does not exist yet (a
// fresh machine) is created like Go would, owned by the user who owns its
// parent, then kept in RAM.
func TestEnableCreates(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	base := t.TempDir()
	home := filepath.Join(base, "home")
	must(t, os.Mkdir(home, 0o750))
	must(t, os.Chown(home, 1000, 1000))
	dir := filepath.Join(home, ".cache", "go-build")
	m := testManager(t, base)
	must(t, m.Enable(ctx, []Path{{Dir: dir, Size: 8 << 20, Create: true}}, 0))
	for _, p := range []string{filepath.Join(home, ".cache"), dir} {
		fi, err := os.Stat(p)
		must(t, err)
		if u, g := owner(fi); u != 1000 || g != 1000 || !fi.IsDir() {
			t.Errorf("%s: owner %d:%d dir %v, want 1000:1000", p, u, g, fi.IsDir())
		}
	}
	if !Active(host.Live(), dir) {
		t.Fatal("not in RAM")
	}
	cfg, err := LoadConfig(m.ConfigFile)
	must(t, err)
	if p, ok := cfg.Find(dir); !ok || p.Create {
		t.Errorf("config entry %+v, %v", p, ok)
	}
	must(t, m.Disable(ctx, nil, false))
}

// smallRamdisk enables an 8M ramdisk for a new directory and returns its
// manager and the directory.
func smallRamdisk(t *testing.T) (*Manager, string) {
	base := t.TempDir()
	dir := filepath.Join(base, "mod")
	must(t, os.Mkdir(dir, 0o755))
	m := testManager(t, base)
	must(t, m.Enable(context.Background(), []Path{{Dir: dir, Size: 8 << 20}}, 0))
	return m, dir
}

// TestStartSalvages: the overlay vanished while its tmpfs still held
// unsynced changes (a watch killed between unmounting and mounting
// again). Start syncs those changes before it mounts afresh.
func TestStartSalvages(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	m, dir := smallRamdisk(t)
	must(t, os.WriteFile(filepath.Join(dir, "unsynced"), []byte("only in RAM"), 0o644))
	must(t, syscall.Unmount(dir, 0))
	if _, err := os.Stat(filepath.Join(dir, "unsynced")); err == nil {
		t.Fatal("test set-up: the file is on disk already")
	}
	must(t, m.Start(ctx))
	if !Active(host.Live(), dir) {
		t.Fatal("not mounted again")
	}
	l := newLayout(m.RunDir, dir)
	if b, err := os.ReadFile(filepath.Join(l.Disk, "unsynced")); err != nil || string(b) != "only in RAM" {
		t.Fatalf("the change left in RAM was not salvaged to disk: %q, %v", b, err)
	}
	ms, err := host.Live().Mounts()
	must(t, err)
	n := 0
	for _, mt := range ms {
		if mt.MountPoint == l.RAM || mt.MountPoint == l.DiskParent {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d mounts at the tmpfs and bind points, want 2 (no stacked leftovers)", n)
	}
	// The same interruption, then disable: the change reaches the disk too.
	must(t, os.WriteFile(filepath.Join(dir, "unsynced2"), []byte("also only in RAM"), 0o644))
	must(t, syscall.Unmount(dir, 0))
	// The plan says so (a dry run used to predict only the config's removal).
	p, err := m.PlanDisable(ctx, nil)
	must(t, err)
	if len(p.Steps) != 2 || p.Steps[0].Action != "sync" || p.Steps[0].Target != dir || !strings.Contains(p.Steps[0].Note, "interrupted run left in RAM") ||
		p.Steps[1].Action != "remove" || p.Steps[1].Target != m.ConfigFile {
		t.Fatalf("disable plan: %v", p.Steps)
	}
	must(t, p.Apply(ctx, tWriter{t}))
	if b, err := os.ReadFile(filepath.Join(dir, "unsynced2")); err != nil || string(b) != "also only in RAM" {
		t.Fatalf("disable did not salvage the change left in RAM: %q, %v", b, err)
	}
	if isMount(t, l.RAM) || isMount(t, l.DiskParent) {
		t.Error("leftover mounts after disable")
	}
}

// TestDisableBusy: a process working in the directory keeps it in RAM:
// disable stops at the overlay's unmount, synced, mounted, configured,
// and says which step failed; once the process is gone it completes.
func TestDisableBusy(t *testing.T) {
	if !inNamespace(t) {
		return
	}
	ctx := context.Background()
	m, dir := smallRamdisk(t)
	must(t, os.WriteFile(filepath.Join(dir, "a"), []byte("in RAM"), 0o644))
	f, err := os.Open(filepath.Join(dir, "a"))
	must(t, err)
	err = m.Disable(ctx, nil, false)
	t.Logf("disable said: %v", err)
	var pe *plan.Error
	if !errors.As(err, &pe) || pe.Failed.Action != "unmount" || pe.Failed.Target != dir || !strings.Contains(err.Error(), "is busy") || !strings.Contains(err.Error(), "synced, left mounted") {
		t.Fatalf("disable of a busy directory: %v", err)
	}
	l := newLayout(m.RunDir, dir)
	if b, err := os.ReadFile(filepath.Join(l.Disk, "a")); err != nil || string(b) != "in RAM" {
		t.Errorf("not synced before the busy unmount: %q, %v", b, err)
	}
	if !Active(host.Live(), dir) {
		t.Error("a busy directory was taken out of RAM")
	}
	if cfg, err := LoadConfig(m.ConfigFile); err != nil || len(cfg.Paths) != 1 {
		t.Errorf("config after a failed disable: %+v, %v", cfg, err)
	}
	f.Close()
	must(t, m.Disable(ctx, nil, false))
	if Active(host.Live(), dir) || isMount(t, l.RAM) {
		t.Error("still mounted")
	}
}
