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

type member struct {
	name, body, link string
	typ              byte
}

func archive(ms ...member) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
			if m.link != "" {
				typ = tar.TypeSymlink
			}
		}
		tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: typ, Linkname: m.link, Size: int64(len(m.body)), Mode: 0o644})
		if typ == tar.TypeReg {
			tw.Write([]byte(m.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestExtractTarGzRefusesEscapes(t *testing.T) {
	for name, data := range map[string][]byte{
		"absolute":       archive(member{name: "/etc/passwd", body: "x"}),
		"dotdot":         archive(member{name: "proc/../../x", body: "x"}),
		"absolute link":  archive(member{name: "proc/self", link: "/proc/self"}),
		"climbing link":  archive(member{name: "sys/block/sda", link: "../../../etc"}),
		"write via link": archive(member{name: "a", link: "."}, member{name: "a/b", link: "../.."}),
		"link chain": archive(
			member{name: "d/l", link: ".."},
			member{name: "d/l/l", link: ".."},
		),
		"not gzip": []byte("this is not a capture"),
		"empty":    archive(),
		"truncated": func() []byte {
			b := archive(member{name: "proc/meminfo", body: strings.Repeat("x", 100000)})
			return b[:len(b)/2]
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			os.Mkdir(dest, 0o755)
			err := ExtractTarGz(bytes.NewReader(data), dest)
			if err == nil || !errors.Is(err, ErrNotCapture) {
				t.Fatalf("extracted: %v", err)
			}
			// Nothing appeared beside dest.
			ents, _ := os.ReadDir(parent)
			if len(ents) != 1 {
				t.Errorf("extraction wrote outside dest: %v", ents)
			}
		})
	}
}

func TestExtractTarGzKeepsLinks(t *testing.T) {
	dest := t.TempDir()
	err := ExtractTarGz(bytes.NewReader(archive(
		member{name: "./", typ: tar.TypeDir},
		member{name: "sys/devices/x/block/mmcblk0/mmcblk0p2/dev", body: "179:2\n"},
		member{name: "sys/dev/block/179:2", link: "../../devices/x/block/mmcblk0/mmcblk0p2"},
		member{name: "proc/self", link: "42"},
		member{name: "proc/42/mountinfo", body: "m"},
		member{name: "dev/null", typ: tar.TypeChar},
	)), dest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dest, "sys/dev/block/179:2/dev"))
	if err != nil || string(b) != "179:2\n" {
		t.Errorf("through the link: %q, %v", b, err)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "proc/self")); l != "42" {
		t.Errorf("proc/self -> %q", l)
	}
	if _, err := os.Lstat(filepath.Join(dest, "dev/null")); err == nil {
		t.Error("a device node was extracted")
	}
}

func TestCaptureEntryName(t *testing.T) {
	for in, want := range map[string]string{
		"proc/meminfo": "proc/meminfo", "./proc//self/../meminfo": "proc/meminfo", ".pitstop/probes.json": ".pitstop/probes.json",
		"": "", "/etc": "", "..": "", "../x": "", "a/../../x": "", ".": "", "a\x00b": "", `a\b`: "",
	} {
		got, ok := CaptureEntryName(in)
		if got != want || ok != (want != "") {
			t.Errorf("CaptureEntryName(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzCaptureEntryName(f *testing.F) {
	for _, s := range []string{"proc/meminfo", "../x", "/abs", "a/./b/../c", "..a", "a/..", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean, ok := CaptureEntryName(name)
		if !ok {
			return
		}
		if !filepath.IsLocal(clean) || strings.HasPrefix(clean, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
			t.Fatalf("CaptureEntryName(%q) = %q escapes", name, clean)
		}
	})
}

// FuzzExtractTarGz feeds arbitrary archives to the extractor: it may refuse
// them, but never writes outside its directory or leaves a link out.
func FuzzExtractTarGz(f *testing.F) {
	f.Add(archive(member{name: "proc/meminfo", body: "MemTotal: 1 kB\n"}))
	f.Add(archive(member{name: "a", link: "b"}, member{name: "b/c", body: "x"}))
	f.Add(archive(member{name: "d/l", link: ".."}, member{name: "d/l/l", link: ".."}))
	f.Add(archive(member{name: "../x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dest := filepath.Join(parent, "dest")
		os.Mkdir(dest, 0o755)
		err := ExtractTarGz(bytes.NewReader(data), dest)
		ents, _ := os.ReadDir(parent)
		if len(ents) != 1 {
			t.Fatalf("wrote outside dest: %v", ents)
		}
		if err == nil {
			if cerr := checkLinks(dest); cerr != nil {
				t.Fatalf("accepted an archive with an escaping link: %v", cerr)
			}
		}
	})
}

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
	if err := ExtractTarGz(bytes.NewReader(buf.Bytes()), dir); err != nil {
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
