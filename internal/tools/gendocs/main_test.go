package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestReferenceIsCurrent: the committed docs/reference is what the command
// tree generates now. When it fails, run `go run ./internal/tools/gendocs`
// from the repository root and commit docs/reference.
func TestReferenceIsCurrent(t *testing.T) {
	committed := filepath.Join("..", "..", "..", "docs", "reference")
	fresh := t.TempDir()
	if err := generate(fresh); err != nil {
		t.Fatal(err)
	}
	want := pages(t, fresh)
	got := pages(t, committed)
	if len(want) == 0 {
		t.Fatal("generated no pages")
	}
	for name, text := range want {
		old, ok := got[name]
		switch {
		case !ok:
			t.Errorf("docs/reference/%s is missing", name)
		case old != text:
			t.Errorf("docs/reference/%s is stale", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/reference/%s documents a command that no longer exists", name)
		}
	}
	if t.Failed() {
		t.Log("regenerate: go run ./internal/tools/gendocs (from the repository root), then commit docs/reference")
	}
	if _, ok := want["pitstop_version.md"]; !ok || !slices.Contains(keys(want), "pitstop_completion_bash.md") {
		t.Errorf("pages %v: want pitstop_version.md and the completion commands", keys(want))
	}
}

func pages(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(f)] = string(b)
	}
	return m
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}
