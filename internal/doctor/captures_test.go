package doctor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/host"
)

// replay runs every check on a committed capture.
func replay(t *testing.T, name string) *Report {
	t.Helper()
	env, cleanup, err := OpenCapture(filepath.Join("testdata", name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return Run(context.Background(), handIn(env), All())
}

type expect struct {
	id     string
	status Status
	has    []string // substrings of the finding
	fix    string   // substring of the fix
}

func assertFindings(t *testing.T, rep *Report, want []expect) {
	t.Helper()
	for _, w := range want {
		r, ok := rep.Find(w.id)
		if !ok {
			t.Errorf("%s: no result", w.id)
			continue
		}
		if r.Status != w.status {
			t.Errorf("%s: status %s, want %s (%s)", w.id, r.Status, w.status, r.Finding)
		}
		for _, h := range w.has {
			if !strings.Contains(r.Finding, h) {
				t.Errorf("%s: finding %q lacks %q", w.id, r.Finding, h)
			}
		}
		if !strings.Contains(r.Fix, w.fix) {
			t.Errorf("%s: fix %q lacks %q", w.id, r.Fix, w.fix)
		}
	}
	// No check may crash or time out on a capture.
	for _, r := range rep.Results {
		if strings.Contains(r.Finding, "check crashed") || strings.Contains(r.Finding, "did not finish") {
			t.Errorf("%s: %s", r.ID, r.Finding)
		}
	}
}

func TestCapturePi5SD(t *testing.T) {
	rep := replay(t, "pi5-sd")
	assertFindings(t, rep, []expect{
		{"board.model", OK, []string{"Raspberry Pi 5 Model B Rev 1.0", "d04170"}, ""},
		{"board.kernel", OK, []string{"6.12.25+rpt-rpi-2712", "aarch64"}, ""},
		{"board.pagesize", OK, []string{"16 KiB"}, ""},
		{"board.ram", OK, []string{"7.9 GiB total"}, ""},
		{"board.userland", OK, []string{"64-bit arm64 userland"}, ""},
		{"board.temperature", OK, []string{"70.0 °C"}, ""},
		{"board.throttle", Warn, []string{"none now", "since boot: under-voltage, throttled", "0x50000"}, "power supply"},
		{"board.cpufreq", OK, []string{"ondemand", "2.40 GHz"}, ""},
		{"storage.gomodcache", Warn, []string{"/home/pi/go/pkg/mod", "microSD mmcblk0"}, "pitstop ramdisk enable"},
		{"storage.gocache", OK, []string{"in RAM: pitstop ramdisk is active", "/run/pitstop/ramdisk/6c1f0e4a2b9d/ram/upper"}, ""},
		{"storage.gotmpdir", Warn, []string{"/tmp is on microSD"}, "tmp.mount"},
		{"storage.cwd", OK, []string{"/home/pi/src/hello is on microSD"}, ""},
		{"kernel.clone3", OK, []string{"available"}, ""},
		{"kernel.io_uring", OK, []string{"available"}, ""},
		{"kernel.somaxconn", OK, []string{"4096"}, ""},
		{"kernel.tcp_slow_start_after_idle", Warn, []string{"1:"}, "pitstop tune apply go-server"},
		{"kernel.ip_local_port_range", OK, []string{"28232"}, ""},
		{"kernel.nofile", OK, []string{"1048576"}, ""},
		{"go.version", OK, []string{"go1.23.4"}, ""},
		{"network.mdns", OK, []string{"mdns4_minimal"}, ""},
	})
}

func TestCapturePi5NVMe(t *testing.T) {
	rep := replay(t, "pi5-nvme")
	assertFindings(t, rep, []expect{
		{"board.model", OK, []string{"Raspberry Pi 5 Model B Rev 1.1"}, ""},
		{"board.pagesize", OK, []string{"16 KiB"}, ""},
		{"board.throttle", OK, []string{"no throttling or under-voltage since boot"}, ""},
		{"storage.gomodcache", OK, []string{"NVMe nvme0n1"}, ""},
		{"storage.gocache", OK, []string{"NVMe nvme0n1"}, ""},
		{"storage.gotmpdir", OK, []string{"NVMe nvme0n1"}, ""},
		{"go.version", OK, []string{"go1.24.2"}, ""},
	})
	// Probes a capture lacks are skipped, not failed.
	assertFindings(t, rep, []expect{{"network.dns", Skip, []string{"live host"}, ""}})
}

func TestCapturePi4ThirtyTwoBitUserland(t *testing.T) {
	rep := replay(t, "pi4-32bit")
	assertFindings(t, rep, []expect{
		{"board.model", OK, []string{"Raspberry Pi 4 Model B Rev 1.4"}, ""},
		{"board.pagesize", OK, []string{"4 KiB"}, ""},
		{"board.kernel", OK, []string{"6.6.51+rpt-rpi-v8"}, ""},
		{"board.userland", Warn, []string{"64-bit kernel (aarch64) with 32-bit userland", "ELF32 arm"}, "linux-armv6l"},
		// From vcgencmd: this capture has no sysfs get_throttled.
		{"board.throttle", OK, []string{"no throttling", "0x0"}, ""},
		{"go.shadow", Fail, []string{"/usr/bin/go", "go1.19.8", "golang-go", "shadows /usr/local/go/bin/go go1.23.4"}, "sudo apt remove golang-go"},
		{"go.version", Fail, []string{"go1.19.8"}, "pitstop go install"},
		{"go.arch", OK, []string{"GOARCH=arm", "32-bit armhf"}, ""},
		{"storage.gomodcache", Warn, []string{"microSD"}, "pitstop ramdisk enable"},
		{"storage.gocache", Warn, []string{"microSD"}, "pitstop ramdisk enable"},
		{"kernel.tcp_max_syn_backlog", Warn, []string{"512"}, "pitstop tune apply go-server"},
	})
	if rep.ExitCode() != 2 {
		t.Errorf("exit code %d, want 2 (failures)", rep.ExitCode())
	}
	if r, _ := rep.Find("board.throttle"); len(r.Details) == 0 || !strings.Contains(r.Details[0], "vcgencmd") {
		t.Errorf("throttle details %q do not name vcgencmd", r.Details)
	}
}

func TestCaptureX86Debian(t *testing.T) {
	rep := replay(t, "x86-debian")
	assertFindings(t, rep, []expect{
		{"board.model", Skip, []string{"not a Raspberry Pi"}, ""},
		{"board.temperature", Skip, []string{"not a Raspberry Pi"}, ""},
		{"board.throttle", Skip, []string{"not a Raspberry Pi"}, ""},
		{"board.cpufreq", Skip, []string{"not a Raspberry Pi"}, ""},
		{"board.userland", OK, []string{"64-bit amd64 userland", "x86_64"}, ""},
		{"board.pagesize", OK, []string{"4 KiB"}, ""},
		{"storage.gomodcache", OK, []string{"disk sda (ext4)"}, ""},
		{"kernel.nofile", OK, []string{"524288"}, ""},
	})
	for _, r := range rep.Results {
		if r.Section == "board" && r.Status == Fail {
			t.Errorf("%s fails on a machine that is not a Pi: %s", r.ID, r.Finding)
		}
	}
}

// TestCaptureJSON: --json of a capture parses and matches the schema.
func TestCaptureJSON(t *testing.T) {
	var out bytes.Buffer
	code, err := Config{Root: filepath.Join("testdata", "pi5-sd.tar.gz"), JSON: true}.Execute(context.Background(), &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	rep := checkJSON(t, out.Bytes())
	if code != 1 || rep.Summary.ExitCode != 1 || len(rep.Checks) != len(All()) {
		t.Errorf("exit %d, summary %+v, %d checks", code, rep.Summary, len(rep.Checks))
	}
	if !strings.HasSuffix(rep.Root, "pi5-sd.tar.gz") {
		t.Errorf("root = %q", rep.Root)
	}
}

// TestCaptureDirectory replays an extracted capture directory as well.
func TestCaptureDirectory(t *testing.T) {
	dir := t.TempDir()
	env, cleanup, err := OpenCapture(filepath.Join("testdata", "pi5-sd.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	// Re-capture the replayed capture and open the copy as a directory.
	checks, _ := Select(All(), []string{"board", "storage"})
	first := Run(context.Background(), env, checks)
	file := filepath.Join(dir, "again.tar.gz")
	if _, err := WriteCaptureFile(file, env); err != nil {
		t.Fatal(err)
	}
	env2, cleanup2, err := OpenCapture(file)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup2()
	second := Run(context.Background(), env2, checks)
	for i := range first.Results {
		if a, b := first.Results[i], second.Results[i]; a.Status != b.Status || a.Finding != b.Finding {
			t.Errorf("%s: %s %q, then %s %q", a.ID, a.Status, a.Finding, b.Status, b.Finding)
		}
	}
	env3, cleanup3, err := OpenCapture(env2.Root.Dir())
	if err != nil {
		t.Fatalf("directory capture: %v", err)
	}
	defer cleanup3()
	if m, _ := env3.Root.Model(); m != "Raspberry Pi 5 Model B Rev 1.0" {
		t.Errorf("directory capture model = %q", m)
	}
}

// TestSparseCapture replays a hand-made tree that has almost nothing in
// it: every check still gives a verdict, missing files are named by their
// path on the machine, and nothing that needs the live host runs.
func TestSparseCapture(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	env, cleanup, err := OpenCapture(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	rep := Run(context.Background(), env, All())
	for _, r := range rep.Results {
		if r.Status == "" || strings.Contains(r.Finding, dir) || strings.Contains(r.Finding, "crashed") || strings.Contains(r.Finding, "did not finish") {
			t.Errorf("%s: %s %q", r.ID, r.Status, r.Finding)
		}
	}
	assertFindings(t, rep, []expect{
		{"board.ram", Skip, []string{"/proc/meminfo missing"}, ""},
		{"board.model", Skip, []string{"not a Raspberry Pi"}, ""},
		{"board.pagesize", Skip, []string{"live host"}, ""},
		{"kernel.clone3", Skip, []string{"live host"}, ""},
		{"kernel.somaxconn", Skip, []string{"/proc/sys/net/core/somaxconn missing"}, ""},
	})
}

// TestRamdiskHandedIn: the storage checks name pitstop ramdisk only when
// the caller's RamdiskActive (the CLI hands in ramdisk.Active) says so.
func TestRamdiskHandedIn(t *testing.T) {
	env, cleanup, err := OpenCapture(filepath.Join("testdata", "pi5-sd.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	checks, _ := Select(All(), []string{"storage.gocache"})
	var asked []string
	env.RamdiskActive = func(root *host.Root, p string) bool {
		asked = append(asked, p)
		return false
	}
	assertFindings(t, Run(context.Background(), env, checks), []expect{
		{"storage.gocache", OK, []string{"in RAM: an overlay with its upper layer /run/pitstop/ramdisk/6c1f0e4a2b9d/ram/upper on tmpfs"}, ""},
	})
	if len(asked) != 1 || asked[0] != "/home/pi/.cache/go-build" {
		t.Errorf("RamdiskActive asked about %q", asked)
	}
	env.RamdiskActive = func(*host.Root, string) bool { return true }
	assertFindings(t, Run(context.Background(), env, checks), []expect{
		{"storage.gocache", OK, []string{"in RAM: pitstop ramdisk is active"}, ""},
	})
}
