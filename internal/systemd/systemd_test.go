package systemd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallDryRunRemove(t *testing.T) {
	dir := t.TempDir()
	var calls []string
	var out bytes.Buffer
	in := &Installer{Dir: dir, Out: &out, Systemctl: func(a ...string) error {
		calls = append(calls, strings.Join(a, " "))
		return nil
	}}
	body, err := Render("[Service]\nExecStart={{.Bin}} proxy serve\n", map[string]string{"Bin": "/usr/local/bin/pitstop"})
	if err != nil {
		t.Fatal(err)
	}
	units := []Unit{{Name: "pitstop-proxy.service", Content: body}, {Name: "user@.service.d/pitstop.conf", Content: "[Service]\nLimitNOFILE=65536\n"}}

	in.DryRun = true
	if err := in.Install(units, "pitstop-proxy.service"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("dry run wrote %d entries", len(ents))
	}
	if !strings.Contains(out.String(), "would write "+filepath.Join(dir, "pitstop-proxy.service")) || len(calls) != 0 {
		t.Errorf("dry run output %q, calls %v", out.String(), calls)
	}

	in.DryRun = false
	if err := in.Install(units, "pitstop-proxy.service"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pitstop-proxy.service"))
	if err != nil || !strings.Contains(string(b), "ExecStart=/usr/local/bin/pitstop proxy serve") {
		t.Fatalf("unit = %q, %v", b, err)
	}
	if strings.Join(calls, ";") != "daemon-reload;enable --now pitstop-proxy.service" {
		t.Errorf("systemctl calls = %v", calls)
	}

	calls = nil
	if err := in.Remove("pitstop-proxy.service", "user@.service.d/pitstop.conf"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("remove left %d entries", len(ents))
	}
	if strings.Join(calls, ";") != "disable --now pitstop-proxy.service;daemon-reload" {
		t.Errorf("systemctl calls = %v", calls)
	}
	if err := in.Install([]Unit{{Name: "../evil", Content: "x"}}); err == nil {
		t.Error("unit name with .. accepted")
	}
}
