package systemd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanInstallRemove(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var calls []string
	in := &Installer{Dir: dir, Systemctl: func(a ...string) error {
		calls = append(calls, strings.Join(a, " "))
		return nil
	}}
	body, err := Render("[Service]\nExecStart={{.Bin}} proxy serve\n", map[string]string{"Bin": "/usr/local/bin/pitstop"})
	if err != nil {
		t.Fatal(err)
	}
	units := []Unit{{Name: "pitstop-proxy.service", Content: body}, {Name: "user@.service.d/pitstop.conf", Content: "[Service]\nLimitNOFILE=65536\n"}}

	// Planning changes nothing; the printed plan shows the unit.
	p, err := in.PlanInstall(units, "pitstop-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Write(&out)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("planning wrote %d entries", len(ents))
	}
	unit := filepath.Join(dir, "pitstop-proxy.service")
	for _, want := range []string{"1. write " + unit + "\n", "       ExecStart=/usr/local/bin/pitstop proxy serve\n",
		"2. write " + filepath.Join(dir, "user@.service.d", "pitstop.conf"), "3. run systemctl daemon-reload", "4. run systemctl enable --now pitstop-proxy.service"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if len(calls) != 0 {
		t.Errorf("planning ran systemctl %v", calls)
	}

	if err := p.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unit)
	if err != nil || !strings.Contains(string(b), "ExecStart=/usr/local/bin/pitstop proxy serve") {
		t.Fatalf("unit = %q, %v", b, err)
	}
	if strings.Join(calls, ";") != "daemon-reload;enable --now pitstop-proxy.service" {
		t.Errorf("systemctl calls = %v", calls)
	}

	// Installed again: nothing to write, the units are only enabled.
	p, err = in.PlanInstall(units, "pitstop-proxy.service")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Target != "systemctl enable --now pitstop-proxy.service" || len(p.Notes) != 2 || p.Notes[0] != "unchanged "+unit {
		t.Errorf("second install: steps %v notes %q", p.Steps, p.Notes)
	}

	calls = nil
	p, err = in.PlanRemove("pitstop-proxy.service", "user@.service.d/pitstop.conf", "never-installed.service")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 || p.Steps[1].Action != "remove" || p.Steps[1].From != body {
		t.Fatalf("remove plan: %v", p.Steps)
	}
	if err := p.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("remove left %d entries", len(ents))
	}
	if strings.Join(calls, ";") != "disable --now pitstop-proxy.service;daemon-reload" {
		t.Errorf("systemctl calls = %v", calls)
	}
	if p, err := in.PlanRemove("pitstop-proxy.service"); err != nil || !p.Empty() {
		t.Errorf("removing what is not installed: %v, %v", p.Steps, err)
	}
	if _, err := in.PlanInstall([]Unit{{Name: "../evil", Content: "x"}}); err == nil {
		t.Error("unit name with .. accepted")
	}
	if _, err := in.PlanRemove("../evil"); err == nil {
		t.Error("unit name with .. accepted by remove")
	}
}

// A failing systemctl enable undoes the install: the new unit is removed,
// a changed one gets its old content back.
func TestInstallUndo(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "a.service")
	os.WriteFile(old, []byte("[Service]\nold\n"), 0o644)
	boom := errors.New("boom")
	in := &Installer{Dir: dir, Systemctl: func(a ...string) error {
		if a[0] == "enable" {
			return boom
		}
		return nil
	}}
	p, err := in.PlanInstall([]Unit{{Name: "a.service", Content: "[Service]\nnew\n"}, {Name: "b.service", Content: "[Service]\nb\n"}}, "a.service", "b.service")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(context.Background(), nil); !errors.Is(err, boom) {
		t.Fatalf("apply = %v", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "[Service]\nold\n" {
		t.Errorf("a.service after undo: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.service")); err == nil {
		t.Error("b.service left after undo")
	}
}

// Without systemd (a container) the systemctl steps are records.
func TestPlanWithoutSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here")
	}
	in := &Installer{Dir: t.TempDir()}
	p, err := in.PlanInstall([]Unit{{Name: "a.service", Content: "x\n"}}, "a.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Steps[1:] {
		if s.Do != nil || !strings.Contains(s.Note, "systemd is not running") {
			t.Errorf("step %s runs without systemd", s)
		}
	}
	if err := p.Apply(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
