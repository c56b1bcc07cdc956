// Package systemd renders, installs and removes systemd unit files for
// pitstop's services, timers and drop-ins. Every change can be previewed
// (DryRun) and is undone by Remove.
package systemd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
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

// Installer writes and removes units.
type Installer struct {
	// Dir is the unit directory; "" means DefaultDir.
	Dir string
	// DryRun prints what would change to Out and changes nothing.
	DryRun bool
	// Out receives a line per change (and the content, in a dry run);
	// nil discards.
	Out io.Writer
	// Systemctl runs systemctl with args; nil runs the real one when it is
	// installed and systemd is running, and otherwise does nothing.
	Systemctl func(args ...string) error
}

func (in *Installer) dir() string {
	if in.Dir == "" {
		return DefaultDir
	}
	return in.Dir
}

func (in *Installer) out() io.Writer {
	if in.Out == nil {
		return io.Discard
	}
	return in.Out
}

func (in *Installer) systemctl(args ...string) error {
	if in.DryRun {
		fmt.Fprintf(in.out(), "would run: systemctl %s\n", strings.Join(args, " "))
		return nil
	}
	if in.Systemctl != nil {
		return in.Systemctl(args...)
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil // systemd is not running (a container, a test)
	}
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Install writes each unit atomically (skipping those already identical)
// and reloads systemd. enable names units to `systemctl enable --now`.
func (in *Installer) Install(units []Unit, enable ...string) error {
	changed := false
	for _, u := range units {
		if err := checkName(u.Name); err != nil {
			return err
		}
		p := filepath.Join(in.dir(), u.Name)
		old, err := os.ReadFile(p)
		if err == nil && string(old) == u.Content {
			fmt.Fprintf(in.out(), "unchanged %s\n", p)
			continue
		}
		changed = true
		if in.DryRun {
			fmt.Fprintf(in.out(), "would write %s:\n%s", p, indent(u.Content))
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p, []byte(u.Content), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(in.out(), "wrote %s\n", p)
	}
	if changed {
		if err := in.systemctl("daemon-reload"); err != nil {
			return err
		}
	}
	if len(enable) > 0 {
		return in.systemctl(append([]string{"enable", "--now"}, enable...)...)
	}
	return nil
}

// Remove disables and stops the named units, deletes their files (a
// missing file is not an error) and reloads systemd.
func (in *Installer) Remove(names ...string) error {
	var present []string
	for _, n := range names {
		if err := checkName(n); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(in.dir(), n)); err == nil {
			present = append(present, n)
		}
	}
	if len(present) == 0 {
		fmt.Fprintf(in.out(), "nothing to remove in %s\n", in.dir())
		return nil
	}
	var enabled []string
	for _, n := range present {
		if !strings.Contains(n, "/") {
			enabled = append(enabled, n)
		}
	}
	if len(enabled) > 0 {
		// Units may never have been enabled: ignore the answer.
		_ = in.systemctl(append([]string{"disable", "--now"}, enabled...)...)
	}
	for _, n := range present {
		p := filepath.Join(in.dir(), n)
		if in.DryRun {
			fmt.Fprintf(in.out(), "would remove %s\n", p)
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintf(in.out(), "removed %s\n", p)
		if d := filepath.Dir(p); strings.HasSuffix(d, ".d") {
			os.Remove(d) // only if empty
		}
	}
	return in.systemctl("daemon-reload")
}

func checkName(n string) error {
	if n == "" || filepath.IsAbs(n) || strings.Contains(n, "..") || strings.Count(n, "/") > 1 {
		return fmt.Errorf("invalid unit name %q", n)
	}
	return nil
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	if !strings.HasSuffix(s, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}
