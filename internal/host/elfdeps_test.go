package host

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestReadELFDepsOfCProgram reads a real dynamically linked program, a C
// one built here by gcc.
func TestReadELFDepsOfCProgram(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed (test.sh installs it)")
	}
	dir := t.TempDir()
	src, bin := dir+"/m.c", dir+"/m"
	if err := os.WriteFile(src, []byte("#include <stdio.h>\n#include <math.h>\nint main(int c, char **v){ printf(\"%f\\n\", sqrt((double)c)); return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-o", bin, src, "-lm").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	d, err := ReadELFDeps(bin)
	if err != nil {
		t.Fatal(err)
	}
	// gcc builds for the userland, which is not runtime.GOARCH when this
	// test runs under qemu-user.
	u, _, err := Live().Userland()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := u.Arch()
	if d.Interp != a.GlibcLoader {
		t.Errorf("Interp = %q, want %q", d.Interp, a.GlibcLoader)
	}
	if !slices.Contains(d.Needed, "libc.so.6") {
		t.Errorf("Needed = %v, want libc.so.6 in it", d.Needed)
	}
	var printf bool
	for _, s := range d.Symbols {
		if s.Name == "printf" && s.Library == "libc.so.6" {
			if _, ok := GlibcSymbolVersion(s.Version); !ok {
				t.Errorf("printf's version %q is not GLIBC_x.y", s.Version)
			}
			printf = true
		}
	}
	if !printf {
		t.Errorf("no versioned printf in %v", d.Symbols)
	}
	if d.Static() || d.Header.GOARCH() != a.GOARCH {
		t.Errorf("Static %v, GOARCH %q", d.Static(), d.Header.GOARCH())
	}
	if _, err := ReadELFDeps(src); err == nil {
		t.Error("a C source file read as an ELF program")
	}
}

func TestGlibcVersions(t *testing.T) {
	for in, want := range map[string]string{"GLIBC_2.34": "2.34", "GLIBC_2.2.5": "2.2.5", "GLIBC_PRIVATE": "", "GCC_3.5": "", "GLIBCXX_3.4.30": ""} {
		got, ok := GlibcSymbolVersion(in)
		if got != want || ok != (want != "") {
			t.Errorf("GlibcSymbolVersion(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"2.31", "2.34", -1}, {"2.34", "2.34", 0}, {"2.34.1", "2.34", 1}, {"2.4", "2.17", -1}, {"10.0", "9.9", 1}} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
