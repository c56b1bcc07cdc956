package doctor

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --only with nothing in it ran no check and reported success.
func TestSelectNothing(t *testing.T) {
	for _, only := range [][]string{{""}, {" ", ""}} {
		got, err := Select(All(), only)
		if err == nil || !strings.Contains(err.Error(), "names no check") || got != nil {
			t.Errorf("Select(%q) = %d checks, %v; want an error", only, len(got), err)
		}
		_, err = Config{Only: only}.Execute(context.Background(), &bytes.Buffer{}, &bytes.Buffer{})
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Setting != "Only" || strings.Contains(err.Error(), "--") {
			t.Errorf("Execute with Only %q: %v; want a usage error naming the setting, not a flag", only, err)
		}
	}
	if got, err := Select(All(), nil); err != nil || len(got) != len(All()) {
		t.Errorf("Select(nil) = %d checks, %v; want all %d", len(got), err, len(All()))
	}
}

// --capture naming a directory ran every check and then failed to rename
// a temp file over the directory.
func TestCaptureIntoDirectoryRefusedFirst(t *testing.T) {
	dir := t.TempDir()
	ran := false
	c := Config{Capture: dir, Checks: []Check{{ID: "x.y", Section: "x", Title: "t", Run: func(ctx context.Context, env *Env) Result {
		ran = true
		return Result{Status: OK, Finding: "fine"}
	}}}}
	var out, errw bytes.Buffer
	code, err := c.Execute(context.Background(), &out, &errw)
	var ue *UsageError
	if code != 2 || !errors.As(err, &ue) || ue.Setting != "Capture" || ue.Value != dir ||
		!strings.Contains(ue.Err.Error(), "is a directory: name a file in it, e.g. "+filepath.Join(dir, "doctor.tar.gz")) {
		t.Errorf("Execute = %d, %v; want a usage error naming a file in the directory", code, err)
	}
	if ran || out.Len() != 0 {
		t.Errorf("the checks ran (%v) or printed %q before the refusal", ran, out.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %d entries in the directory", len(ents))
	}
}

// Select's unknown names are an UnknownCheckError that lists them; the
// library's errors name settings, never the CLI's flags.
func TestUnknownCheck(t *testing.T) {
	_, err := Select(All(), []string{"board.model", "board.nope", "zzz"})
	var uc *UnknownCheckError
	if !errors.As(err, &uc) || strings.Join(uc.Names, " ") != "board.nope zzz" || err.Error() != `unknown check "board.nope", "zzz"` {
		t.Errorf("Select: %v", err)
	}
	_, err = Config{Only: []string{"board.nope"}}.Execute(context.Background(), &bytes.Buffer{}, &bytes.Buffer{})
	var ue *UsageError
	if !errors.As(err, &ue) || ue.Setting != "Only" || ue.Value != "board.nope" || !errors.As(err, &uc) || strings.Contains(err.Error(), "--") {
		t.Errorf("Execute: %v", err)
	}
	_, err = Config{Capture: filepath.Join(t.TempDir(), "no", "c.tar.gz")}.Execute(context.Background(), &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.As(err, &ue) || ue.Setting != "Capture" || strings.Contains(err.Error(), "--") {
		t.Errorf("Execute with a capture in no directory: %v", err)
	}
}
