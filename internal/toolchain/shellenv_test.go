package toolchain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
)

func TestSetBlock(t *testing.T) {
	body := "export PATH=/x:$PATH\n"
	for _, orig := range []string{"", "alias ll='ls -l'\n", "no newline at end", "a\n\n\nb\n"} {
		once, changed, err := SetBlock(orig, body)
		if err != nil || !changed {
			t.Fatalf("%q: %v %v", orig, changed, err)
		}
		if !strings.HasPrefix(once, orig) || !strings.Contains(once, BlockBegin+"\n"+body+BlockEnd+"\n") {
			t.Fatalf("%q: wrote %q", orig, once)
		}
		twice, changed, err := SetBlock(once, body)
		if err != nil || changed || twice != once {
			t.Fatalf("%q: second write changed it: %q", orig, twice)
		}
		// A new body replaces the block in place.
		moved, changed, _ := SetBlock(once+"tail\n", "export PATH=/y:$PATH\n")
		if !changed || strings.Contains(moved, "/x:") || !strings.HasSuffix(moved, BlockEnd+"\ntail\n") {
			t.Fatalf("replace: %q", moved)
		}
		back, changed, err := SetBlock(once, "")
		want := orig
		if orig != "" && !strings.HasSuffix(orig, "\n") {
			want += "\n"
		}
		if err != nil || !changed || back != want {
			t.Fatalf("remove from %q: got %q, want %q (%v)", once, back, want, err)
		}
	}
	for _, bad := range []string{BlockBegin + "\nx\n", BlockEnd + "\n", BlockBegin + "\n" + BlockBegin + "\n" + BlockEnd + "\n"} {
		if _, _, err := SetBlock(bad, body); err == nil {
			t.Errorf("unbalanced %q accepted", bad)
		}
	}
}

func TestPlanRCKeepsModeAndLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "bashrc")
	os.MkdirAll(filepath.Dir(real), 0o755)
	os.WriteFile(real, []byte("x=1\n"), 0o600)
	link := filepath.Join(dir, ".bashrc")
	os.Symlink(real, link)
	p, file, err := PlanRC(link, "export A=1\n")
	if err != nil || p.Empty() || file != real || p.Steps[0].Target != real {
		t.Fatalf("PlanRC: %+v %s %v", p, file, err)
	}
	if b, _ := os.ReadFile(real); string(b) != "x=1\n" {
		t.Fatalf("planning wrote %q", b)
	}
	if err := p.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	// Removing from a missing file is a no-op, not an error.
	if p, _, err := PlanRC(filepath.Join(dir, "none"), ""); err != nil || !p.Empty() {
		t.Fatalf("remove from missing: %+v %v", p, err)
	} else if err := p.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "none")); err == nil {
		t.Fatal("created a file while removing")
	}
}

// TestPlanRCSteps: the step goes from the old block to the new one; undo
// puts the file back; a file changed since the plan is left alone.
func TestPlanRCSteps(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, ".bashrc")
	orig := "alias ll='ls -l'\n"
	os.WriteFile(rc, []byte(orig), 0o644)

	p, _, err := PlanRC(rc, "export A=1\n")
	if err != nil || len(p.Steps) != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	block := BlockBegin + "\nexport A=1\n" + BlockEnd + "\n"
	if s := p.Steps[0]; s.Action != "edit" || s.From != "" || s.To != block || s.Note != "add the pitstop block at the end" {
		t.Errorf("add: %+v", s)
	}
	if err := p.Steps[0].Do(t.Context()); err != nil {
		t.Fatal(err)
	}
	once, _ := os.ReadFile(rc)
	if err := p.Steps[0].Undo(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(rc); string(b) != orig {
		t.Errorf("undo left %q", b)
	}
	os.WriteFile(rc, once, 0o644)

	if p, _, _ := PlanRC(rc, "export A=1\n"); !p.Empty() || !strings.Contains(p.Title, "already has the PATH lines") {
		t.Errorf("again: %+v", p)
	}
	p, _, _ = PlanRC(rc, "export A=2\n")
	if s := p.Steps[0]; s.From != block || !strings.Contains(s.To, "export A=2\n") || s.Note != "replace the pitstop block; the rest stays" {
		t.Errorf("replace: %+v", s)
	}
	p, _, _ = PlanRC(rc, "")
	if s := p.Steps[0]; s.From != block || s.To != "" || s.Note != "remove the pitstop block; the rest stays" {
		t.Errorf("remove: %+v", s)
	}
	os.WriteFile(rc, append(once, "more\n"...), 0o644)
	if err := p.Apply(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "changed since the plan was made") {
		t.Errorf("apply over a changed file = %v", err)
	}
	if b, _ := os.ReadFile(rc); string(b) != string(once)+"more\n" {
		t.Errorf("a changed file was written: %q", b)
	}

	// A new file: the step writes it, undo removes it.
	fresh := filepath.Join(dir, "fish", "config.fish")
	p, _, _ = PlanRC(fresh, "set -gx A 1\n")
	if s := p.Steps[0]; s.Action != "write" {
		t.Errorf("new file: %+v", s)
	}
	if err := p.Steps[0].Do(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Steps[0].Undo(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("undo left the new file")
	}
}

func FuzzSetBlock(f *testing.F) {
	f.Add("alias x=y\n", "export PATH=/a:$PATH\n")
	f.Add(BlockBegin+"\nold\n"+BlockEnd+"\n", "new\n")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, content, body string) {
		if strings.Contains(body, "pitstop go") || strings.TrimSpace(body) == "" {
			return
		}
		out, _, err := SetBlock(content, body)
		if err != nil {
			return
		}
		// Idempotent, and removable.
		again, changed, err := SetBlock(out, body)
		if err != nil || changed || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", content, out, again)
		}
		removed, _, err := SetBlock(out, "")
		if err != nil || strings.Contains(removed, BlockBegin) {
			t.Fatalf("remove failed: %q %v", removed, err)
		}
	})
}

func TestEnvLines(t *testing.T) {
	l, err := EnvLines("bash", "/home/pi/it's/bin")
	if err != nil || !strings.Contains(l, `'/home/pi/it'\''s/bin'`) {
		t.Fatalf("quoting: %q %v", l, err)
	}
	if _, err := EnvLines("csh", "/x"); err == nil {
		t.Fatal("csh accepted")
	}
}

// The note pitstop go prints about a packaged Go; which Go is packaged is
// host.Root.DistroGo's business (and its tests').
func TestFindDistroGo(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/lib/go-1.19/bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)
	os.WriteFile(filepath.Join(root, "usr/lib/go-1.19/VERSION"), []byte("go1.19.8\ntime 2023-04-04T19:42:35Z\n"), 0o644)
	os.Symlink("../lib/go-1.19/bin/go", filepath.Join(root, "usr/bin/go"))
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte("Package: golang-1.19-go\nStatus: install ok installed\n\nPackage: golang-go\nStatus: install ok installed\n"), 0o644)
	d := FindDistroGo(host.At(root))
	if d == nil {
		t.Fatal("FindDistroGo = nil")
	}
	want := "a distribution-managed go1.19.8 is at /usr/bin/go; pitstop leaves it alone (to remove it: sudo apt remove golang-1.19-go golang-go)"
	if d.String() != want {
		t.Fatalf("got  %q\nwant %q", d.String(), want)
	}
	// Without dpkg (Fedora's /usr/lib/golang): no package to name.
	os.Remove(filepath.Join(root, "var/lib/dpkg/status"))
	os.Remove(filepath.Join(root, "usr/bin/go"))
	os.MkdirAll(filepath.Join(root, "usr/lib/golang/bin"), 0o755)
	os.Symlink("/usr/lib/golang/bin/go", filepath.Join(root, "usr/bin/go"))
	if d := FindDistroGo(host.At(root)); d == nil || !strings.HasSuffix(d.String(), "(to remove it: remove it with your package manager)") {
		t.Fatalf("Fedora: %v", d)
	}
	// A link to a Go unpacked by hand is not the distribution's.
	os.Remove(filepath.Join(root, "usr/bin/go"))
	os.Symlink("/usr/local/go/bin/go", filepath.Join(root, "usr/bin/go"))
	if d := FindDistroGo(host.At(root)); d != nil {
		t.Fatalf("hand-made link reported as distro Go: %v", d)
	}
	if d := FindDistroGo(host.At(t.TempDir())); d != nil {
		t.Fatalf("empty root: %v", d)
	}
}
