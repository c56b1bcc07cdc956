package ramdisk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
)

// capture builds a captured root whose mountinfo has extra lines.
func capture(t *testing.T, mountinfo, filesystems string, memAvailKB int) *host.Root {
	t.Helper()
	dir := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/mountinfo", "22 1 179:2 / / rw,noatime shared:1 - ext4 /dev/mmcblk0p2 rw\n"+mountinfo)
	write("proc/filesystems", filesystems)
	write("proc/meminfo", "MemTotal:        8245940 kB\nMemAvailable:    "+strconv.Itoa(memAvailKB)+" kB\n")
	write("proc/sys/kernel/osrelease", "6.12.25+rpt-rpi-2712\n")
	return host.At(dir)
}

const fsWithOverlay = "nodev\ttmpfs\nnodev\toverlay\n\text4\n"

// TestGuards checks each refusal: one clear line, and nothing changed
// (no config written, no run directory made).
func TestGuards(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "mod")
	os.Mkdir(cache, 0o755)
	inTmpfs := filepath.Join(dir, "ram", "mod")
	os.MkdirAll(inTmpfs, 0o755)
	file := filepath.Join(dir, "afile")
	os.WriteFile(file, nil, 0o644)
	ctx := context.Background()
	for _, tt := range []struct {
		name      string
		euid      int
		mountinfo string
		fs        string
		memKB     int
		path      Path
		want      string
	}{
		{"not root", 1000, "", fsWithOverlay, 4000000, Path{Dir: cache, Size: 64 << 20}, "must run as root"},
		{"no overlay", 0, "", "nodev\ttmpfs\n\text4\n", 4000000, Path{Dir: cache, Size: 64 << 20}, "no overlay filesystem"},
		{"already a mount", 0, "30 22 0:40 / " + cache + " rw - ext4 /dev/sda1 rw\n", fsWithOverlay, 4000000, Path{Dir: cache, Size: 64 << 20}, "already a mount point (ext4 from /dev/sda1)"},
		{"on tmpfs", 0, "31 22 0:41 / " + filepath.Join(dir, "ram") + " rw - tmpfs tmpfs rw,size=1024k\n", fsWithOverlay, 4000000, Path{Dir: inTmpfs, Size: 64 << 20}, "already in RAM"},
		{"too large", 0, "", fsWithOverlay, 1000000, Path{Dir: cache, Size: 2 << 30}, "more than this machine can spare: 976.6 MiB of RAM is available and at most half of it (488.3 MiB) may go to RAM disks; pick a smaller size"},
		{"missing", 0, "", fsWithOverlay, 4000000, Path{Dir: filepath.Join(dir, "nope"), Size: 64 << 20}, "does not exist"},
		{"not a dir", 0, "", fsWithOverlay, 4000000, Path{Dir: file, Size: 64 << 20}, "not a directory"},
		{"max below size", 0, "", fsWithOverlay, 4000000, Path{Dir: cache, Size: 64 << 20, MaxSize: 1 << 20}, "max-size 1M is smaller than size 64M"},
		{"inside ours", 0, "32 22 0:42 / " + dir + " rw - overlay pitstop-ramdisk rw,lowerdir=/x,upperdir=/run/pitstop/ramdisk/a/ram/upper,workdir=/w\n", fsWithOverlay, 4000000, Path{Dir: cache, Size: 64 << 20}, "inside the pitstop ramdisk"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "etc", "ramdisk.conf")
			run := filepath.Join(t.TempDir(), "run")
			var out bytes.Buffer
			m := &Manager{Root: capture(t, tt.mountinfo, tt.fs, tt.memKB), RunDir: run, ConfigFile: conf, Out: &out, Euid: func() int { return tt.euid }}
			err := m.Enable(ctx, []Path{tt.path}, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Enable = %v, want an error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
			for _, p := range []string{conf, run} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created by a refused enable", p)
				}
			}
			if out.Len() != 0 {
				t.Errorf("refused enable printed %q", out.String())
			}
		})
	}
}

// TestPlanEnable shows the plan and changes nothing; the plan of a
// captured machine refuses to run.
func TestPlanEnable(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "mod")
	os.Mkdir(cache, 0o755)
	fresh := filepath.Join(dir, "home", ".cache", "go-build")
	conf := filepath.Join(dir, "etc", "ramdisk.conf")
	run := filepath.Join(dir, "run")
	var out bytes.Buffer
	m := &Manager{Root: capture(t, "", fsWithOverlay, 4000000), RunDir: run, ConfigFile: conf, Out: &out, Euid: func() int { return 0 }}
	p, err := m.PlanEnable(context.Background(), []Path{{Dir: cache, Size: 256 << 20, MaxSize: 512 << 20}, {Dir: fresh, Size: 64 << 20, Create: true}}, 80)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	p.Write(&b)
	l := newLayout(run, cache)
	for _, want := range []string{
		"keep in RAM: " + cache + ", " + fresh + "\n",
		"  1. bind-mount " + l.DiskParent + ": " + dir + " (private; the disk copy stays reachable there)\n",
		"  2. mount " + l.RAM + ": tmpfs of 256 MiB (exec allowed",
		"  3. mount " + cache + ": overlay (lower " + l.Disk + ", upper " + l.Upper + ") (changes go to a 256 MiB tmpfs, which grows up to 512 MiB at the 80% high-water mark",
		"  4. mkdir " + fresh + " (owned like its parent, as Go would make it)\n",
		"  8. write " + conf + "\n",
		"       high-water 80\n",
		`       path "` + cache + `" size=256M max-size=512M` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
	if err := p.Apply(context.Background(), &out); !errors.Is(err, ErrCaptured) {
		t.Errorf("applying a captured machine's plan: %v", err)
	}
	for _, p := range []string{conf, run, fresh} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("planning created %s", p)
		}
	}
	// Too large: the error names the setting, which a CLI renames.
	_, err = m.PlanEnable(context.Background(), []Path{{Dir: cache, Size: 4 << 30}}, 0)
	var se *SettingError
	if !errors.As(err, &se) || se.Setting != "size" || !strings.HasSuffix(se.Named("--size"), "may go to RAM disks; pick a smaller --size") {
		t.Errorf("too large: %v", err)
	}
}

// TestPlanAsUser: a preview only reads, so another user than root gets
// the plans of enable and disable; applying them is still refused.
func TestPlanAsUser(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "mod")
	os.Mkdir(cache, 0o755)
	conf := filepath.Join(dir, "etc", "ramdisk.conf")
	m := &Manager{Root: capture(t, "", fsWithOverlay, 4000000), RunDir: filepath.Join(dir, "run"), ConfigFile: conf, Euid: func() int { return 1000 }}
	p, err := m.PlanEnable(context.Background(), []Path{{Dir: cache, Size: 64 << 20}}, 0)
	if err != nil {
		t.Fatalf("PlanEnable as a user: %v", err)
	}
	if len(p.Steps) == 0 || !strings.HasPrefix(p.Title, "keep in RAM: "+cache) {
		t.Errorf("plan %q with %d steps", p.Title, len(p.Steps))
	}
	if _, err := m.PlanDisable(context.Background(), nil); err != nil {
		t.Errorf("PlanDisable as a user: %v", err)
	}
	if err := m.Enable(context.Background(), []Path{{Dir: cache, Size: 64 << 20}}, 0); err == nil || !strings.Contains(err.Error(), "must run as root") {
		t.Errorf("Enable as a user = %v, want a refusal", err)
	}
	if err := m.Disable(context.Background(), nil, false); err == nil || !strings.Contains(err.Error(), "must run as root") {
		t.Errorf("Disable as a user = %v, want a refusal", err)
	}
}

// TestPlanDisableConfiguredOnly: a directory that is configured but not
// mounted (after a failed start) is only dropped from the config, and the
// plan says so.
func TestPlanDisableConfiguredOnly(t *testing.T) {
	dir := t.TempDir()
	cache, other := filepath.Join(dir, "mod"), filepath.Join(dir, "build")
	conf := filepath.Join(dir, "ramdisk.conf")
	text := "path \"" + cache + "\" size=64M\npath \"" + other + "\" size=64M\n"
	os.WriteFile(conf, []byte(text), 0o644)
	m := &Manager{Root: capture(t, "", fsWithOverlay, 4000000), RunDir: filepath.Join(dir, "run"), ConfigFile: conf, Euid: func() int { return 0 }}
	p, err := m.PlanDisable(context.Background(), []string{cache})
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "take out of RAM: "+cache || len(p.Steps) != 1 || p.Steps[0].Action != "write" || p.Steps[0].Target != conf ||
		p.Steps[0].From != text || strings.Contains(p.Steps[0].To, cache) || !strings.Contains(p.Steps[0].To, other) {
		t.Fatalf("plan %q: %+v", p.Title, p.Steps)
	}
	p, err = m.PlanDisable(context.Background(), nil)
	if err != nil || p.Title != "take out of RAM: "+cache+", "+other || len(p.Steps) != 1 || p.Steps[0].Action != "remove" {
		t.Fatalf("disable all: %v %q %+v", err, p.Title, p.Steps)
	}
	if err := p.Apply(context.Background(), nil); !errors.Is(err, ErrCaptured) {
		t.Errorf("applying a captured machine's plan: %v", err)
	}
	if b, _ := os.ReadFile(conf); string(b) != text {
		t.Errorf("config changed: %q", b)
	}
	if _, err := m.PlanDisable(context.Background(), []string{filepath.Join(dir, "nope")}); err == nil || !strings.Contains(err.Error(), "is not a pitstop ramdisk") {
		t.Errorf("disable of an unknown directory: %v", err)
	}
}

func TestActiveFromCapture(t *testing.T) {
	mi := `40 22 0:50 / /run/pitstop/ramdisk/home-pi-go-pkg-mod.1a2b3c4d/disk rw - ext4 /dev/mmcblk0p2 rw
41 22 0:51 / /run/pitstop/ramdisk/home-pi-go-pkg-mod.1a2b3c4d/ram rw,nosuid,nodev - tmpfs pitstop-ramdisk-tmpfs rw,size=524288k,mode=755
42 22 0:52 / /home/pi/go/pkg/mod rw - overlay pitstop-ramdisk rw,lowerdir=/run/pitstop/ramdisk/home-pi-go-pkg-mod.1a2b3c4d/disk/mod,upperdir=/run/pitstop/ramdisk/home-pi-go-pkg-mod.1a2b3c4d/ram/upper,workdir=/run/pitstop/ramdisk/home-pi-go-pkg-mod.1a2b3c4d/ram/work,redirect_dir=off
43 22 0:53 / /var/lib/docker/x/merged rw - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c
`
	r := capture(t, mi, fsWithOverlay, 4000000)
	if !Active(r, "/home/pi/go/pkg/mod") || !Active(r, "/home/pi/go/pkg/mod/cache/download") {
		t.Error("the module cache is not reported active")
	}
	if Active(r, "/home/pi/.cache/go-build") || Active(r, "/var/lib/docker/x/merged") || Active(r, "/home/pi/go/pkg") {
		t.Error("a path outside pitstop's overlay is reported active")
	}
	in, ok := Lookup(r, "/home/pi/go/pkg/mod/x")
	if !ok || in.Size != 512<<20 || in.Dir != "/home/pi/go/pkg/mod" || !strings.HasSuffix(in.Lower, "/disk/mod") {
		t.Errorf("Lookup = %+v, %v", in, ok)
	}
	ms, err := Mounts(r)
	if err != nil || len(ms) != 1 {
		t.Errorf("Mounts = %+v, %v", ms, err)
	}
}

func TestPathID(t *testing.T) {
	a, b := pathID("/a-b"), pathID("/a/b")
	if a == b || !strings.HasPrefix(a, "a-b.") {
		t.Errorf("pathID: %q %q", a, b)
	}
	if id := pathID("/home/pi/go/pkg/mod"); strings.ContainsAny(id, "/ ") {
		t.Errorf("pathID = %q", id)
	}
}
