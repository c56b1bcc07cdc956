package ramdisk

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// plainSyncer is a syncer between two plain directories (no overlay):
// enough for what a sync does with new and changed files.
func plainSyncer(t *testing.T) *syncer {
	t.Helper()
	root := t.TempDir()
	s := &syncer{
		upper: filepath.Join(root, "upper"),
		disk:  filepath.Join(root, "disk"),
		meta:  filepath.Join(root, "meta"),
		log:   slog.New(slog.DiscardHandler),
	}
	must(t, os.MkdirAll(s.upper, 0o755))
	must(t, os.MkdirAll(s.disk, 0o755))
	return s
}

// TestSyncStagesManyFiles: files staged by the parallel copiers reach the
// disk copy with their content, mode (setgid included), owner and mtime,
// in directories new on disk and in ones already there; the journal lists
// them in the walk's order, whatever order the copiers finished in.
func TestSyncStagesManyFiles(t *testing.T) {
	s := plainSyncer(t)
	must(t, os.MkdirAll(filepath.Join(s.disk, "old"), 0o755))
	mt := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	want := map[string]string{}
	for i := range 300 {
		dir := []string{"old", "new/a", "new/b"}[i%3]
		rel := fmt.Sprintf("%s/f%03d", dir, i)
		data := strings.Repeat(fmt.Sprint(i), 1+i*37)
		p := filepath.Join(s.upper, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(data), 0o600))
		must(t, os.Chmod(p, 0o750|os.ModeSetgid))
		must(t, os.Chtimes(p, mt, mt.Add(time.Duration(i))))
		want[rel] = data
	}
	must(t, os.Symlink("old/f000", filepath.Join(s.upper, "link")))
	var order []string
	s.hook = func(phase string, n int) {
		if phase == "apply" {
			return
		}
		if n%7 == 0 {
			time.Sleep(time.Millisecond) // let other copiers overtake
		}
	}
	rec, err := s.run(context.Background(), "test")
	must(t, err)
	if rec.Files != int64(len(want))+1 {
		t.Errorf("record counts %d files, want %d", rec.Files, len(want)+1)
	}
	for rel, data := range want {
		p := filepath.Join(s.disk, rel)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != data {
			t.Fatalf("%s: %d bytes, %v; want %d bytes", rel, len(b), err, len(data))
		}
		fi, err := os.Lstat(p)
		must(t, err)
		var i int
		fmt.Sscanf(filepath.Base(rel), "f%d", &i)
		if fi.Mode() != 0o750|os.ModeSetgid || !fi.ModTime().Equal(mt.Add(time.Duration(i))) {
			t.Fatalf("%s: mode %v mtime %v; want %v %v", rel, fi.Mode(), fi.ModTime(), 0o750|os.ModeSetgid, mt.Add(time.Duration(i)))
		}
		order = append(order, rel)
	}
	if target, err := os.Readlink(filepath.Join(s.disk, "link")); err != nil || target != "old/f000" {
		t.Errorf("link: %q, %v", target, err)
	}
	if _, err := os.Stat(s.syncDir()); !os.IsNotExist(err) {
		t.Errorf("the staging area is still there: %v", err)
	}

	// The journal of a sync (written before apply) names staged entries
	// in the walk's order: f0, f1, ... as the ops come.
	for _, rel := range order[:3] {
		must(t, os.WriteFile(filepath.Join(s.upper, rel), []byte("changed"), 0o644))
	}
	var journal []byte
	s.hook = func(phase string, n int) {
		if phase == "apply" && n == 0 {
			journal, _ = os.ReadFile(s.journal())
		}
	}
	_, err = s.run(context.Background(), "test")
	must(t, err)
	_, ops, err := parseJournal(journal)
	must(t, err)
	n := 0
	for _, o := range ops {
		if o.K == opFile {
			if o.S != stagedName(n) {
				t.Fatalf("journal op %+v: staged name %q, want %q (walk order)", o, o.S, stagedName(n))
			}
			n++
		}
	}
	if n != 3 {
		t.Fatalf("journal stages %d files, want the 3 changed:\n%s", n, journal)
	}
}

// TestSyncFileVanishesWhileStaging: a file removed after the walk saw it
// and before it was copied is left out of the sync (the next sync sees
// its whiteout); the rest of the sync goes through.
func TestSyncFileVanishesWhileStaging(t *testing.T) {
	s := plainSyncer(t)
	for i := range 20 {
		must(t, os.WriteFile(filepath.Join(s.upper, fmt.Sprintf("f%02d", i)), []byte{byte(i)}, 0o644))
	}
	gone := filepath.Join(s.upper, "f07")
	s.hook = func(phase string, n int) {
		if phase == "stage" && n == 7 {
			os.Remove(gone)
		}
	}
	_, err := s.run(context.Background(), "test")
	must(t, err)
	for i := range 20 {
		_, err := os.Stat(filepath.Join(s.disk, fmt.Sprintf("f%02d", i)))
		if i == 7 && !os.IsNotExist(err) {
			t.Errorf("the vanished file reached the disk copy: %v", err)
		}
		if i != 7 && err != nil {
			t.Errorf("f%02d: %v", i, err)
		}
	}
}

// TestSyncFileReplacesDirectory: a file in RAM where the disk copy has a
// directory (rename refuses: EISDIR) moves the directory to the trash
// and puts the file there.
func TestSyncFileReplacesDirectory(t *testing.T) {
	s := plainSyncer(t)
	must(t, os.MkdirAll(filepath.Join(s.disk, "x", "deep"), 0o755))
	must(t, os.WriteFile(filepath.Join(s.disk, "x", "deep", "f"), []byte("old"), 0o644))
	must(t, os.WriteFile(filepath.Join(s.upper, "x"), []byte("now a file"), 0o644))
	must(t, os.Symlink("x", filepath.Join(s.upper, "y")))
	must(t, os.MkdirAll(filepath.Join(s.disk, "y"), 0o755))
	_, err := s.run(context.Background(), "test")
	must(t, err)
	if b, err := os.ReadFile(filepath.Join(s.disk, "x")); err != nil || string(b) != "now a file" {
		t.Errorf("x: %q, %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(s.disk, "y")); err != nil || target != "x" {
		t.Errorf("y: %q, %v", target, err)
	}
}
