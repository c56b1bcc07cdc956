package toolchain

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// fakeToolchain is a synthetic golang.org/toolchain module whose bin/go is
// a shell script printing the version line (shell scripts run natively
// and under qemu alike).
func fakeToolchain(goVers string, t Target) testupstream.Module {
	v, err := ParseVersion(goVers)
	if err != nil {
		panic(err)
	}
	return testupstream.Module{
		Path:    ModulePath,
		Version: ModuleVersion(v, t),
		Files: map[string]string{
			"go.mod":      "module golang.org/toolchain\n",
			"VERSION":     v.Go() + "\n",
			"bin/go":      "#!/bin/sh\necho go version " + v.Go() + " " + t.Slash() + "\n",
			"bin/gofmt":   "#!/bin/sh\nexit 0\n",
			"src/_go.mod": "module std\n",
			"pkg/tool/" + t.GOOS + "_" + t.GOARCH + "/compile": "#!/bin/sh\n",
		},
	}
}

// fixture is a test upstream hosting releases for this machine's target
// (and one other), and an Installer pointed at it with a temp layout.
type fixture struct {
	up     *testupstream.Server
	in     *Installer
	native Target
	out    *bytes.Buffer
}

func newFixture(t *testing.T, versions ...string) *fixture {
	t.Helper()
	native, err := DetectTarget(nil)
	if err != nil {
		t.Fatal(err)
	}
	var mods []testupstream.Module
	for _, v := range versions {
		mods = append(mods, fakeToolchain(v, native))
	}
	other := Target{GOOS: "linux", GOARCH: "riscv64"}
	if native == other {
		other = Target{GOOS: "linux", GOARCH: "s390x"}
	}
	mods = append(mods, fakeToolchain("1.99.0", other)) // listed only for another target
	up := testupstream.NewForTest(t, mods...)
	env := goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}
	out := &bytes.Buffer{}
	in := &Installer{
		Layout:  DirLayout(t.TempDir()),
		Env:     env,
		Source:  FetcherSource(NewFetcher(env, &ResumeTransport{Backoff: time.Millisecond})),
		Native:  native,
		Out:     out,
		Backoff: time.Millisecond,
	}
	return &fixture{up: up, in: in, native: native, out: out}
}

func mustQuery(t *testing.T, s string) Query {
	t.Helper()
	q, err := ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// snapshot lists every path under dir with its link target, so tests can
// check "nothing changed".
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".lock" || strings.HasPrefix(rel, ".download-") {
			return nil // partial downloads are kept to be continued
		}
		b.WriteString(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func TestInstallUseListRemove(t *testing.T) {
	f := newFixture(t, "1.21.13", "1.22.4", "1.22.5", "1.23rc1")
	ctx := context.Background()
	l := f.in.Layout

	res, err := f.in.Install(ctx, mustQuery(t, "1.22.4"))
	if err != nil {
		t.Fatal(err)
	}
	want := "go version go1.22.4 " + f.native.Slash()
	if !res.Active || res.Output != want || res.Hash == "" {
		t.Fatalf("install 1.22.4: %+v", res)
	}
	if got := runGo(t, filepath.Join(l.BinDir(), "go")); got != want {
		t.Fatalf("current/bin/go version = %q, want %q", got, want)
	}
	// src/_go.mod was restored to go.mod, as the go command does.
	if b, err := os.ReadFile(filepath.Join(res.Path, "src", "go.mod")); err != nil || string(b) != "module std\n" {
		t.Errorf("src/go.mod: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(res.Path, "pkg", "tool", f.native.GOOS+"_"+f.native.GOARCH, "compile")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("pkg/tool not executable: %v %v", fi.Mode(), err)
	}

	if _, err := f.in.Install(ctx, mustQuery(t, "go1.22.5")); err != nil {
		t.Fatal(err)
	}
	if a := l.Active(); a != "go1.22.5" {
		t.Fatalf("active = %q after installing go1.22.5", a)
	}
	list, err := l.List()
	if err != nil || len(list) != 2 || list[0].Name != "go1.22.4" || list[1].Name != "go1.22.5" || !list[1].Active || list[0].Active {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// Installing again downloads nothing.
	f.up.ResetCounts()
	res, err = f.in.Install(ctx, mustQuery(t, "1.22.5"))
	if err != nil || !res.Already {
		t.Fatalf("reinstall: %+v %v", res, err)
	}
	if n := f.up.Count("*.zip"); n != 0 {
		t.Fatalf("reinstall fetched %d zips", n)
	}

	// use switches back; the link is relative and the old tree intact.
	in, err := l.Find("1.22.4")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Use(in.Name); err != nil {
		t.Fatal(err)
	}
	if dest, _ := os.Readlink(l.Link); dest != "go1.22.4" {
		t.Fatalf("link -> %q", dest)
	}
	if got := runGo(t, filepath.Join(l.BinDir(), "go")); !strings.Contains(got, "go1.22.4") {
		t.Fatalf("after use: %q", got)
	}

	// remove refuses the active one, removes a read-only other one.
	if err := l.Remove("go1.22.4"); err == nil || !strings.Contains(err.Error(), "active") {
		t.Fatalf("removing the active toolchain: %v", err)
	}
	p := filepath.Join(l.Dir, "go1.22.5")
	filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil {
			defer os.Chmod(q, 0o555) // read-only tree, as in a module cache
		}
		return nil
	})
	if err := l.Remove("go1.22.5"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s still there: %v", p, err)
	}
	list, _ = l.List()
	if len(list) != 1 || list[0].Name != "go1.22.4" {
		t.Fatalf("after remove: %+v", list)
	}
	if ents, _ := os.ReadDir(l.Dir); len(ents) != 3 { // .lock, current, go1.22.4 and nothing else
		t.Errorf("leftovers: %v", ents)
	}
	if s := snapshot(t, l.Dir); strings.Contains(s, ".remove-") || strings.Contains(s, ".tmp") {
		t.Fatalf("leftovers:\n%s", s)
	}
}

func runGo(t *testing.T, goBin string) string {
	t.Helper()
	out, err := checkGoVersion(context.Background(), goBin, Version{}, Target{}, time.Minute)
	if err == nil {
		return out
	}
	// checkGoVersion wants a match; read the line from its error instead.
	s := err.Error()
	if i := strings.Index(s, "reports \""); i >= 0 {
		s = s[i+len("reports \""):]
		return s[:strings.Index(s, "\"")]
	}
	t.Fatalf("running %s: %v", goBin, err)
	return ""
}

func TestResolveFromList(t *testing.T) {
	f := newFixture(t, "1.21.13", "1.22.0", "1.22.4", "1.22.12", "1.23.2", "1.24rc1")
	ctx := context.Background()
	for _, tc := range []struct{ q, want string }{
		{"latest", "go1.23.2"}, // rc is not stable; 1.99.0 is for another target only
		{"", "go1.23.2"},
		{"1.22", "go1.22.12"},
		{"go1.21", "go1.21.13"},
		{"1.22.4", "go1.22.4"},
		{"1.24rc1", "go1.24rc1"},
	} {
		v, err := f.in.Resolve(ctx, mustQuery(t, tc.q))
		if err != nil || v.Go() != tc.want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tc.q, v, err, tc.want)
		}
	}
	// Unknown versions name the closest real ones.
	for _, tc := range []struct{ q, want string }{
		{"1.22.99", "no Go release go1.22.99 for " + f.native.String() + " on the module proxy; closest: go1.22.12, go1.23.2"},
		{"1.20", "closest: go1.21.13"},
		{"1.22.7", "closest: go1.22.4, go1.22.12"},
	} {
		_, err := f.in.Resolve(ctx, mustQuery(t, tc.q))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Resolve(%q) error = %v; want it to contain %q", tc.q, err, tc.want)
		}
	}
}

// A proxy lists only what it has served: a release missing from @v/list
// is still found by asking for the next patch and minor directly.
func TestResolveProbesPastTheList(t *testing.T) {
	f := newFixture(t, "1.22.4")
	if err := f.up.Add(fakeToolchain("1.22.5", f.native), fakeToolchain("1.23.0", f.native)); err != nil {
		t.Fatal(err)
	}
	// Hide the new ones from the list.
	f.up.SetFault(testupstream.ModPath(ModulePath)+"/@v/list", testupstream.Fault{Body: []byte(ModuleVersion(Version{Major: 1, Minor: 22, Patch: 4}, f.native) + "\n")})
	v, err := f.in.Resolve(context.Background(), mustQuery(t, "1.22"))
	if err != nil || v.Go() != "go1.22.5" {
		t.Fatalf("1.22 = %v, %v; want go1.22.5", v, err)
	}
	v, err = f.in.Resolve(context.Background(), mustQuery(t, "latest"))
	if err != nil || v.Go() != "go1.23.0" {
		t.Fatalf("latest = %v, %v; want go1.23.0", v, err)
	}
}

func TestTamperedZipChangesNothing(t *testing.T) {
	f := newFixture(t, "1.22.4", "1.22.5")
	ctx := context.Background()
	if _, err := f.in.Install(ctx, mustQuery(t, "1.22.4")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, f.in.Layout.Dir)
	if err := f.up.Tamper(ModulePath, ModuleVersion(Version{Major: 1, Minor: 22, Patch: 5}, f.native)); err != nil {
		t.Fatal(err)
	}
	_, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
	var ce *modfetch.ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("tampered zip: err = %v, want a checksum mismatch", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if after := snapshot(t, f.in.Layout.Dir); after != before {
		t.Fatalf("layout changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if f.in.Layout.Active() != "go1.22.4" {
		t.Fatalf("active = %q", f.in.Layout.Active())
	}
	// A mismatch is not retried.
	if n := f.up.Count(testupstream.ZipPath(ModulePath, ModuleVersion(Version{Major: 1, Minor: 22, Patch: 5}, f.native))); n != 1 {
		t.Errorf("tampered zip fetched %d times, want 1", n)
	}
}

func TestSumDBOffRefused(t *testing.T) {
	f := newFixture(t, "1.22.5")
	f.in.Env = goenv.Env{"GOPROXY": f.up.URL, "GOSUMDB": "off"}
	_, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5"))
	if !errors.Is(err, ErrSumDBOff) {
		t.Fatalf("GOSUMDB=off: %v", err)
	}
	if s := snapshot(t, f.in.Layout.Dir); s != ".\n" {
		t.Fatalf("layout changed:\n%s", s)
	}
	// --insecure installs, and says it is not verified.
	f.in.Insecure = true
	f.in.Source = FetcherSource(NewFetcher(f.in.Env, nil))
	if _, err := f.in.Install(context.Background(), mustQuery(t, "1.22.5")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.out.String(), "NOT verified") {
		t.Errorf("output does not say the toolchain is unverified:\n%s", f.out)
	}
}

func TestCutDownloadKeepsOldVersion(t *testing.T) {
	f := newFixture(t, "1.22.4", "1.22.5")
	ctx := context.Background()
	if _, err := f.in.Install(ctx, mustQuery(t, "1.22.4")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, f.in.Layout.Dir)
	zp := testupstream.ZipPath(ModulePath, ModuleVersion(Version{Major: 1, Minor: 22, Patch: 5}, f.native))
	f.up.SetFault(zp, testupstream.Fault{CutAfter: 100}) // every answer breaks off
	_, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
	if err == nil {
		t.Fatal("install over a cut connection succeeded")
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if after := snapshot(t, f.in.Layout.Dir); after != before {
		t.Fatalf("layout changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if f.in.Layout.Active() != "go1.22.4" {
		t.Fatalf("active = %q", f.in.Layout.Active())
	}
	if n := f.up.Count(zp); n < 2 {
		t.Errorf("zip requested %d times; want retries", n)
	}
	if m, _ := filepath.Glob(filepath.Join(f.in.Layout.Dir, ".download-*.zip.json")); len(m) != 1 {
		t.Errorf("partial download not kept for the next run: %v", m)
	}
	// Once the upstream behaves, the same install succeeds.
	f.up.SetFault(zp, testupstream.Fault{})
	if _, err := f.in.Install(ctx, mustQuery(t, "1.22.5")); err != nil {
		t.Fatal(err)
	}
}

func TestForeignTargetIsPreparedNotActivated(t *testing.T) {
	f := newFixture(t, "1.22.5")
	other := Target{GOOS: "linux", GOARCH: "riscv64"}
	if f.native == other {
		other = Target{GOOS: "linux", GOARCH: "s390x"}
	}
	f.in.Target = other
	res, err := f.in.Install(context.Background(), mustQuery(t, "1.99.0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Active || res.Name != "go1.99.0."+other.String() || f.in.Layout.Active() != "" {
		t.Fatalf("foreign install: %+v active=%q", res, f.in.Layout.Active())
	}
	if _, err := os.Stat(filepath.Join(res.Path, "bin", "go")); err != nil {
		t.Fatal(err)
	}
}

// A zip whose hash the checksum database vouches for but whose paths
// escape the target is still refused, with nothing written.
func TestEscapingZipRefused(t *testing.T) {
	f := newFixture(t, "1.22.4")
	v, _ := ParseVersion("1.22.5")
	mv := ModuleVersion(v, f.native)
	z := writeZip(t,
		zent{"golang.org/toolchain@" + mv + "/bin/go", 0o755, "#!/bin/sh\n"},
		zent{"golang.org/toolchain@" + mv + "/../../../evil", 0o644, "x"},
	)
	data, err := os.ReadFile(z)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.up.Add(testupstream.Module{Path: ModulePath, Version: mv, Zip: data}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.Install(context.Background(), mustQuery(t, "1.22.4")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, f.in.Layout.Dir)
	_, err = f.in.Install(context.Background(), mustQuery(t, "1.22.5"))
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("escaping zip: %v", err)
	}
	t.Logf("refused: %v", err)
	if after := snapshot(t, f.in.Layout.Dir); after != before {
		t.Fatalf("layout changed:\n%s", after)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(f.in.Layout.Dir), "evil")); err == nil {
		t.Fatal("evil written")
	}
}

// A zip whose bin/go does not report the expected version is not
// installed, and the active toolchain stays.
func TestWrongVersionNotActivated(t *testing.T) {
	f := newFixture(t, "1.22.4")
	bad := fakeToolchain("1.22.5", f.native)
	bad.Files["bin/go"] = "#!/bin/sh\necho go version go1.21.0 " + f.native.Slash() + "\n"
	if err := f.up.Add(bad); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := f.in.Install(ctx, mustQuery(t, "1.22.4")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, f.in.Layout.Dir)
	_, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
	if err == nil || !strings.Contains(err.Error(), `reports "go version go1.21.0`) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	if after := snapshot(t, f.in.Layout.Dir); after != before || f.in.Layout.Active() != "go1.22.4" {
		t.Fatalf("layout changed:\n%s", after)
	}
}

// A full, read-only or forbidden toolchain directory is a DiskError whose
// message names settings, not flags; the CLI retells it with its flags.
func TestDiskError(t *testing.T) {
	in := &Installer{}
	for _, tt := range []struct {
		err       error
		lib, flag string
	}{
		{syscall.ENOSPC, "no space left on device (a toolchain needs about 300 MB: free space there or choose another toolchain directory)",
			"no space left on device (a toolchain needs about 300 MB: free space there or choose another --dir)"},
		{syscall.EDQUOT, "no space left on device", "choose another --dir"},
		{syscall.EROFS, "read-only file system (choose a writable toolchain directory)", "read-only file system (choose a writable --dir)"},
		{fs.ErrPermission, "permission denied (choose a toolchain directory you can write, or use sudo for the system-wide layout)",
			"permission denied (choose a --dir you can write, or use sudo for --system)"},
	} {
		err := in.diskError("creating", "/srv/go", &fs.PathError{Op: "mkdir", Path: "/srv/go", Err: tt.err})
		var de *DiskError
		if !errors.As(err, &de) || !errors.Is(err, tt.err) {
			t.Fatalf("%v: %#v is no DiskError wrapping it", tt.err, err)
		}
		if !strings.HasPrefix(err.Error(), "creating /srv/go: ") || !strings.Contains(err.Error(), tt.lib) || !strings.HasSuffix(err.Error(), "; nothing was changed") {
			t.Errorf("%v: %q lacks %q", tt.err, err, tt.lib)
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("%v: library error names a flag: %q", tt.err, err)
		}
		if got := de.Explain("--dir", "--system"); !strings.Contains(got, tt.flag) {
			t.Errorf("%v: Explain = %q, lacks %q", tt.err, got, tt.flag)
		}
	}
	if err := in.diskError("creating", "/srv/go", io.ErrUnexpectedEOF); err != io.ErrUnexpectedEOF {
		t.Errorf("other errors pass through: %v", err)
	}
	for _, err := range []error{ErrSumDBOff, ErrNoHome, &UnknownVersionError{Asked: "go1.99.0", Target: Target{"linux", "arm"}}} {
		if strings.Contains(err.Error(), "--") {
			t.Errorf("library error names a flag: %q", err)
		}
	}
}
