// Package systemd renders systemd unit files for pitstop's services,
// timers and drop-ins, and plans their installation and removal (see
// internal/plan): a dry run prints the plan, a real run applies exactly it.
package systemd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// DefaultDir is where administrators' unit files live.
const DefaultDir = "/etc/systemd/system"

// NetworkService is the [Service] tail every pitstop network server's unit
// shares: restart on failure, a bounded stop, and the sandboxing such a
// server can live with (its state only under its CacheDirectory).
const NetworkService = `Restart=on-failure
RestartSec=2
TimeoutStopSec=20
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
LimitNOFILE=65536`

// Unit is one file to install: a name such as "pitstop-proxy.service" (or
// "user@.service.d/pitstop.conf" for a drop-in) and its content.
type Unit struct {
	Name    string
	Content string
}

// Render executes a text/template unit body with data.
func Render(text string, data any) (string, error) {
	t, err := template.New("unit").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Installer plans the installation and removal of unit files in Dir:
// PlanInstall and PlanRemove inspect the directory and return the steps
// (write a file from its old content to the new, run systemctl ...) that
// a dry run prints and a real run applies. The zero Installer works on
// DefaultDir with the real systemctl.
type Installer struct {
	// Dir is the unit directory; "" means DefaultDir.
	Dir string
	// Systemctl runs systemctl with args; nil runs the real one when
	// systemd is running. When it is not (a container, a chroot), the
	// plan still lists the systemctl steps, as records that do nothing.
	Systemctl func(args ...string) error
}

func (in *Installer) dir() string {
	if in.Dir == "" {
		return DefaultDir
	}
	return in.Dir
}

// running reports whether the systemctl steps can run.
func (in *Installer) running() bool {
	if in.Systemctl != nil {
		return true
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

func (in *Installer) systemctl(args ...string) error {
	if in.Systemctl != nil {
		return in.Systemctl(args...)
	}
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// systemctlStep runs systemctl with args; with ignoreErr its failure is
// not one of the plan's (disabling units that were never enabled).
func (in *Installer) systemctlStep(note string, ignoreErr bool, args ...string) plan.Step {
	s := plan.Step{Action: "run", Target: "systemctl " + strings.Join(args, " "), Note: note}
	if !in.running() {
		s.Note = "systemd is not running here: skipped"
		return s
	}
	s.Do = func(context.Context) error {
		err := in.systemctl(args...)
		if ignoreErr {
			return nil
		}
		return err
	}
	return s
}

// PlanInstall plans writing each unit (those already identical are left
// alone and said so in a note), reloading systemd when a file changes, and
// `systemctl enable --now` of the units named by enable. Its Steps can be
// appended to a larger plan.
func (in *Installer) PlanInstall(units []Unit, enable ...string) (*plan.Plan, error) {
	p := &plan.Plan{Title: "install systemd units in " + in.dir()}
	for _, u := range units {
		if err := checkName(u.Name); err != nil {
			return nil, err
		}
		path := filepath.Join(in.dir(), u.Name)
		old, err := os.ReadFile(path)
		switch {
		case err == nil && string(old) == u.Content:
			p.Note("unchanged %s", path)
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
		p.Add(writeStep(path, old, err == nil, u.Content))
	}
	if !p.Empty() {
		p.Add(in.systemctlStep("unit files changed", false, "daemon-reload"))
	}
	for _, n := range enable {
		if err := checkName(n); err != nil {
			return nil, err
		}
	}
	if len(enable) > 0 {
		s := in.systemctlStep("start now and at every boot", false, append([]string{"enable", "--now"}, enable...)...)
		if s.Do != nil {
			disable := append([]string{"disable", "--now"}, enable...)
			s.Undo = func(context.Context) error { return in.systemctl(disable...) }
		}
		p.Add(s)
	}
	return p, nil
}

// writeStep writes content to path, which held old (had) before; undo
// puts old back or removes the file.
func writeStep(path string, old []byte, had bool, content string) plan.Step {
	return plan.Step{Action: "write", Target: path, From: string(old), To: content,
		Do: func(context.Context) error {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			return atomicfile.WriteFile(path, []byte(content), 0o644)
		},
		Undo: func(context.Context) error {
			if had {
				return atomicfile.WriteFile(path, old, 0o644)
			}
			return removeUnitFile(path)
		},
	}
}

// removeUnitFile removes path (a missing file is not an error) and its
// drop-in directory when that is left empty.
func removeUnitFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if d := filepath.Dir(path); strings.HasSuffix(d, ".d") {
		os.Remove(d) // only if empty
	}
	return nil
}

// PlanRemove plans disabling and stopping the named units, deleting
// their files (those that exist) and reloading systemd. With none of
// them installed the plan is empty.
func (in *Installer) PlanRemove(names ...string) (*plan.Plan, error) {
	p := &plan.Plan{Title: "remove systemd units from " + in.dir()}
	var present []string
	var contents [][]byte
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(in.dir(), n))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		present = append(present, n)
		contents = append(contents, b)
	}
	if len(present) == 0 {
		return p, nil
	}
	var enabled []string
	for _, n := range present {
		if !strings.Contains(n, "/") {
			enabled = append(enabled, n)
		}
	}
	if len(enabled) > 0 {
		// Units may never have been enabled: ignore the answer.
		p.Add(in.systemctlStep("stop them; units that were not enabled are fine", true, append([]string{"disable", "--now"}, enabled...)...))
	}
	for i, n := range present {
		path, old := filepath.Join(in.dir(), n), contents[i]
		p.Add(plan.Step{Action: "remove", Target: path, From: string(old),
			Do: func(context.Context) error { return removeUnitFile(path) },
			Undo: func(context.Context) error {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					return err
				}
				return atomicfile.WriteFile(path, old, 0o644)
			}})
	}
	p.Add(in.systemctlStep("unit files changed", false, "daemon-reload"))
	return p, nil
}

// Install applies PlanInstall's plan without a word: for a step of a
// larger plan that installs units as one change.
func (in *Installer) Install(ctx context.Context, units []Unit, enable ...string) error {
	p, err := in.PlanInstall(units, enable...)
	if err != nil {
		return err
	}
	return p.Apply(ctx, nil)
}

// Remove applies PlanRemove's plan without a word.
func (in *Installer) Remove(ctx context.Context, names ...string) error {
	p, err := in.PlanRemove(names...)
	if err != nil {
		return err
	}
	return p.Apply(ctx, nil)
}

func checkName(n string) error {
	if n == "" || filepath.IsAbs(n) || strings.Contains(n, "..") || strings.Count(n, "/") > 1 {
		return fmt.Errorf("invalid unit name %q", n)
	}
	return nil
}

// UnitState reports whether the unit file name is in dir (installed) and
// whether it is enabled for target as systemctl enable records it: a link
// dir/<target>.wants/name. dir "" means DefaultDir.
func UnitState(dir, name, target string) (installed, enabled bool) {
	if dir == "" {
		dir = DefaultDir
	}
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		return false, false
	}
	_, err := os.Lstat(filepath.Join(dir, target+".wants", name))
	return true, err == nil
}
