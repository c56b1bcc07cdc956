package host

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
