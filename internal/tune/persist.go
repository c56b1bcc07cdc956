package tune

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/systemd"
)

// persistTargets returns the files and systemd drop-ins (relative to
// SystemdDir) that persist writes for the plan.
func (t *Tuner) persistTargets(name string, persist bool, sysctls, limits []step) (files, dropIns []string) {
	if !persist {
		return nil, nil
	}
	n := persistName(name)
	for _, s := range sysctls {
		if !s.Linked {
			files = append(files, filepath.Join(orDefault(t.SysctlDir, DefaultSysctlDir), n))
			break
		}
	}
	if len(limits) > 0 {
		files = append(files, filepath.Join(orDefault(t.LimitsDir, DefaultLimitsDir), n))
		dropIns = []string{"system.conf.d/" + n, "user.conf.d/" + n}
	}
	return files, dropIns
}

func (t *Tuner) dropInPaths(dropIns []string) []string {
	var out []string
	for _, d := range dropIns {
		out = append(out, filepath.Join(orDefault(t.SystemdDir, DefaultSystemdDir), d))
	}
	return out
}

// installer writes and removes drop-ins in dir, quietly: the plan's steps
// say what they do.
func (t *Tuner) installer(dir string) *systemd.Installer {
	return &systemd.Installer{Dir: dir, Systemctl: t.Systemctl}
}

func header(name string) string {
	return fmt.Sprintf("# Written by `pitstop tune apply %s --persist`; `pitstop tune revert` removes it.\n", name)
}

// renderFile renders the sysctl.d or limits.d file at path f.
func (t *Tuner) renderFile(name, f string, sysctls, limits []step) string {
	var b strings.Builder
	b.WriteString(header(name))
	if filepath.Dir(f) == filepath.Clean(orDefault(t.SysctlDir, DefaultSysctlDir)) {
		for _, s := range sysctls {
			if s.Linked {
				continue
			}
			fmt.Fprintf(&b, "\n# %s\n%s = %s\n", s.Reason, s.Key, s.Target)
		}
		return b.String()
	}
	for _, l := range limits {
		soft, hard, _ := ParseNofile(l.Target)
		fmt.Fprintf(&b, "# %s\n", l.Reason)
		for _, who := range []string{"*", "root"} { // pam_limits' * does not cover root
			fmt.Fprintf(&b, "%-4s soft %s %d\n%-4s hard %s %d\n", who, l.Key, soft, who, l.Key, hard)
		}
	}
	return b.String()
}

// dropInUnits renders the systemd manager drop-ins for limits.
func (t *Tuner) dropInUnits(name string, dropIns []string, limits []step) []systemd.Unit {
	if len(dropIns) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(header(name))
	b.WriteString("[Manager]\n")
	for _, l := range limits {
		soft, hard, _ := ParseNofile(l.Target)
		fmt.Fprintf(&b, "# %s\nDefaultLimit%s=%d:%d\n", l.Reason, strings.ToUpper(l.Key), soft, hard)
	}
	var units []systemd.Unit
	for _, d := range dropIns {
		units = append(units, systemd.Unit{Name: d, Content: b.String()})
	}
	return units
}

func (t *Tuner) writeFile(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, []byte(content), 0o644)
}

// currentLimit reads the DefaultLimitNOFILE= systemd's manager is
// configured with (system.conf, then system.conf.d/*.conf in order; the
// last wins); "" when none sets it (systemd's built-in default applies).
func (t *Tuner) currentLimit(key string) string {
	dir := orDefault(t.SystemdDir, DefaultSystemdDir)
	files := []string{filepath.Join(dir, "system.conf")}
	more, _ := filepath.Glob(filepath.Join(dir, "system.conf.d", "*.conf"))
	sort.Slice(more, func(i, j int) bool { return filepath.Base(more[i]) < filepath.Base(more[j]) })
	files = append(files, more...)
	want := "DefaultLimit" + strings.ToUpper(key) + "="
	val := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if v, ok := strings.CutPrefix(l, want); ok {
				val = strings.TrimSpace(v)
			}
		}
	}
	return val
}
