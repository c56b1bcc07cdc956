package toolchain

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pitstop-go/pitstop/internal/testexe"
	"github.com/pitstop-go/pitstop/internal/testupstream"
)

// TestInstallOfBrokenInstalledVersionKeepsCurrent: installing a version
// that is already installed but whose bin/go is broken (a bad copy, a
// damaged card) fails without switching `current` to it, and fetches
// nothing.
func TestInstallOfBrokenInstalledVersionKeepsCurrent(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"fails", "#!/bin/sh\necho 'bin/go: cannot execute' >&2\nexit 1\n"},
		{"wrong version", "#!/bin/sh\necho go version go1.21.0 linux/arm64\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "1.22.4", "1.22.5")
			ctx := context.Background()
			broken, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.in.Install(ctx, mustQuery(t, "1.22.4")); err != nil {
				t.Fatal(err)
			}
			if a := f.in.Layout.Active(); a != "go1.22.4" {
				t.Fatalf("active = %q, want go1.22.4", a)
			}
			if err := testexe.WriteFile(filepath.Join(broken.Path, "bin", "go"), []byte(tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, f.in.Layout.Dir)
			f.up.ResetCounts()

			res, err := f.in.Install(ctx, mustQuery(t, "1.22.5"))
			if err == nil {
				t.Fatalf("install of a broken installed version succeeded: %+v", res)
			}
			if a := f.in.Layout.Active(); a != "go1.22.4" {
				t.Fatalf("after a failed install of a broken go1.22.5, active = %q, want go1.22.4 still", a)
			}
			if got := runGo(t, filepath.Join(f.in.Layout.BinDir(), "go")); got != "go version go1.22.4 "+f.native.Slash() {
				t.Fatalf("current/bin/go version = %q after the failed install", got)
			}
			if after := snapshot(t, f.in.Layout.Dir); after != before {
				t.Fatalf("layout changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			zp := testupstream.ZipPath(ModulePath, ModuleVersion(broken.Version, f.native))
			if n := f.up.Count(zp); n != 0 {
				t.Errorf("the zip was fetched %d times for an installed version", n)
			}
		})
	}
}

// TestRemoveActiveKeepsIt: removing the active toolchain is refused and
// leaves it installed and active (not only an error that says so).
func TestRemoveActiveKeepsIt(t *testing.T) {
	f := newFixture(t, "1.22.4")
	res, err := f.in.Install(context.Background(), mustQuery(t, "1.22.4"))
	if err != nil {
		t.Fatal(err)
	}
	l := f.in.Layout
	before := snapshot(t, l.Dir)
	if err := l.Remove(res.Name); err == nil {
		t.Fatal("removing the active toolchain succeeded")
	}
	if after := snapshot(t, l.Dir); after != before {
		t.Fatalf("layout changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if a := l.Active(); a != res.Name {
		t.Fatalf("active = %q, want %q", a, res.Name)
	}
	if got := runGo(t, filepath.Join(l.BinDir(), "go")); got != "go version go1.22.4 "+f.native.Slash() {
		t.Fatalf("current/bin/go version = %q", got)
	}
}
