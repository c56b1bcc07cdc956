package gpu_test

// Tests against the real companion: cmd/pitstop-gpu built with cgo by the
// go command, talking to the Vulkan loader and drivers test.sh installs
// (Mesa's lavapipe). Native runs drive lavapipe for the host; the suite's
// arm64 pass (test binaries under qemu-aarch64) cross-builds the companion
// for arm64 with aarch64-linux-gnu-gcc and drives arm64 lavapipe under
// emulation through binfmt. The vulkaninfo comparison always builds the
// companion for vulkaninfo's own architecture, so both sides see the same
// driver.

import (
	"context"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/gpu"
	"github.com/pitstop-go/pitstop/internal/host"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// companion builds cmd/pitstop-gpu for goarch (once per test binary) and
// returns its path. It skips, saying what to install, only when the
// go command, the C compiler or the Vulkan headers are absent.
func companion(t *testing.T, goarch string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[goarch]; ok {
		return p
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command to build the companion: %v", err)
	}
	if _, err := os.Stat("/usr/include/vulkan/vulkan.h"); err != nil {
		t.Skipf("needs the Vulkan headers to build the companion (apt-get install libvulkan-dev): %v", err)
	}
	hostArch, err := exec.Command(gocmd, "env", "GOHOSTARCH").Output()
	if err != nil {
		t.Fatalf("go env GOHOSTARCH: %v", err)
	}
	cc := "gcc"
	if goarch != strings.TrimSpace(string(hostArch)) {
		a, ok := host.ArchFor(goarch, 0)
		if !ok {
			t.Fatalf("no architecture %s in host's table", goarch)
		}
		cc = a.Triplet + "-gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("needs %s to build the companion for linux/%s (apt-get install gcc-%s): %v", cc, goarch, strings.ReplaceAll(strings.TrimSuffix(cc, "-gcc"), "_", "-"), err)
	}
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOOS", "GOARCH", "GOARM", "CGO_ENABLED", "CC":
			continue
		}
		env = append(env, kv)
	}
	out := filepath.Join(os.TempDir(), "pitstop-gpu-test-"+goarch+"-"+strconv.Itoa(os.Getpid()))
	cmd := exec.Command(gocmd, "build", "-o", out, "github.com/pitstop-go/pitstop/cmd/pitstop-gpu")
	cmd.Env = append(env, "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=1", "CC="+cc)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=1 GOARCH=%s CC=%s go build ./cmd/pitstop-gpu: %v\n%s", goarch, cc, err, b)
	}
	built[goarch] = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range built {
		os.Remove(p)
	}
	os.Exit(code)
}

// elfArch is the GOARCH of an executable.
func elfArch(t *testing.T, path string) string {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	m := host.ELFMachine{Machine: uint16(f.Machine), Class: 64, BigEndian: f.Data == elf.ELFDATA2MSB}
	if f.Class == elf.ELFCLASS32 {
		m.Class = 32
	}
	a, ok := host.ArchByELF(m, host.FloatNone)
	if !ok {
		t.Fatalf("%s: no Go port for ELF machine %v", path, f.Machine)
	}
	return a.GOARCH
}

// vkDevice is what vulkaninfo says about one device.
type vkDevice struct {
	fields   map[string]string // --summary's key = value lines
	queues   []gpu.QueueFamily
	heaps    []uint64
	types    []gpu.MemoryType
	limits   map[string]string
	limitArr map[string][]string
}

var (
	summaryGPU = regexp.MustCompile(`^GPU(\d+):$`)
	kvLine     = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9 ]*?)\s*=\s*(.*)$`)
	indexLine  = regexp.MustCompile(`^\s*(queueProperties|memoryHeaps|memoryTypes)\[(\d+)\]:$`)
	countLine  = regexp.MustCompile(`^\s*(maxComputeWorkGroupCount|maxComputeWorkGroupSize): count = 3$`)
)

// parseVulkaninfo reads `vulkaninfo --summary` (device fields) and the
// full text output (queue families, memory, compute limits) as
// vulkan-tools 1.3 prints them.
func parseVulkaninfo(summary, full string) []vkDevice {
	var devs []vkDevice
	inDevices := false
	for _, l := range strings.Split(summary, "\n") {
		if strings.HasPrefix(l, "Devices:") {
			inDevices = true
		}
		if !inDevices {
			continue
		}
		if summaryGPU.MatchString(strings.TrimSpace(l)) {
			devs = append(devs, vkDevice{fields: map[string]string{}, limits: map[string]string{}, limitArr: map[string][]string{}})
			continue
		}
		if m := kvLine.FindStringSubmatch(l); m != nil && len(devs) > 0 {
			devs[len(devs)-1].fields[m[1]] = strings.TrimSpace(m[2])
		}
	}
	_, rest, _ := strings.Cut(full, "Device Properties and Extensions:")
	cur, section, idx := -1, "", -1
	arr := ""
	for _, l := range strings.Split(rest, "\n") {
		if m := summaryGPU.FindStringSubmatch(l); m != nil {
			cur, _ = strconv.Atoi(m[1])
			section, arr = "", ""
			continue
		}
		if cur < 0 || cur >= len(devs) {
			continue
		}
		d := &devs[cur]
		if m := indexLine.FindStringSubmatch(l); m != nil {
			section, arr = m[1], ""
			idx, _ = strconv.Atoi(m[2])
			switch section {
			case "queueProperties":
				d.queues = append(d.queues, gpu.QueueFamily{Index: idx})
			case "memoryHeaps":
				d.heaps = append(d.heaps, 0)
			case "memoryTypes":
				d.types = append(d.types, gpu.MemoryType{Index: idx, Flags: []string{}})
			}
			continue
		}
		if m := countLine.FindStringSubmatch(l); m != nil {
			arr = m[1]
			continue
		}
		t := strings.TrimSpace(l)
		if arr != "" {
			if _, err := strconv.Atoi(t); err == nil {
				d.limitArr[arr] = append(d.limitArr[arr], t)
				continue
			}
			arr = ""
		}
		m := kvLine.FindStringSubmatch(l)
		switch {
		case m != nil && strings.HasPrefix(m[1], "maxCompute"):
			d.limits[m[1]] = strings.Fields(m[2])[0]
		case m != nil && section == "queueProperties" && m[1] == "queueCount":
			n, _ := strconv.Atoi(m[2])
			d.queues[len(d.queues)-1].Queues = uint32(n)
		case m != nil && section == "queueProperties" && m[1] == "queueFlags":
			for _, f := range strings.Split(m[2], "|") {
				f = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(f), "QUEUE_"))
				d.queues[len(d.queues)-1].Flags = append(d.queues[len(d.queues)-1].Flags, strings.ReplaceAll(f, "_", "-"))
			}
		case m != nil && section == "memoryHeaps" && m[1] == "size":
			n, _ := strconv.ParseUint(strings.Fields(m[2])[0], 10, 64)
			d.heaps[len(d.heaps)-1] = n
		case m != nil && section == "memoryTypes" && m[1] == "heapIndex":
			d.types[len(d.types)-1].Heap, _ = strconv.Atoi(m[2])
		case section == "memoryTypes" && strings.HasPrefix(t, "MEMORY_PROPERTY_") && strings.HasSuffix(t, "_BIT"):
			f := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(t, "MEMORY_PROPERTY_"), "_BIT"))
			mt := &d.types[len(d.types)-1]
			mt.Flags = append(mt.Flags, strings.ReplaceAll(f, "_", "-"))
		case strings.HasSuffix(t, ":") && !strings.HasPrefix(t, "flags") && !strings.HasPrefix(t, "propertyFlags") && section == "memoryTypes" && strings.HasPrefix(t, "usable for"):
			section = ""
		}
	}
	return devs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// TestInfoMatchesVulkaninfo: every device, queue family, memory heap and
// type and compute limit pitstop-gpu reports is what vulkaninfo reports.
func TestInfoMatchesVulkaninfo(t *testing.T) {
	vi, err := exec.LookPath("vulkaninfo")
	if err != nil {
		t.Skipf("needs vulkaninfo (apt-get install vulkan-tools): %v", err)
	}
	// The companion for vulkaninfo's architecture sees the same drivers.
	bin := companion(t, elfArch(t, vi))
	info, err := gpu.Companion{Path: bin}.Info(context.Background())
	if err != nil {
		t.Fatalf("pitstop-gpu info: %v (test.sh installs mesa-vulkan-drivers, whose lavapipe needs no GPU)", err)
	}
	want := parseVulkaninfo(run(t, vi, "--summary"), run(t, vi))
	if len(want) == 0 {
		t.Fatal("parsed no device from vulkaninfo's output: its format changed")
	}
	if len(info.Devices) != len(want) {
		t.Fatalf("pitstop-gpu found %d devices, vulkaninfo %d", len(info.Devices), len(want))
	}
	for i, d := range info.Devices {
		w := want[i]
		wantType := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(w.fields["deviceType"], "PHYSICAL_DEVICE_TYPE_")), "_", "-")
		for _, c := range []struct{ what, got, want string }{
			{"deviceName", d.Name, w.fields["deviceName"]},
			{"deviceType", d.Type, wantType},
			{"apiVersion", d.APIVersion, w.fields["apiVersion"]},
			{"driverVersion", d.DriverVersion, w.fields["driverVersion"]},
			{"driverName", d.DriverName, w.fields["driverName"]},
			{"driverInfo", d.DriverInfo, w.fields["driverInfo"]},
			{"vendorID", "0x" + strconv.FormatUint(uint64(d.VendorID), 16), strings.TrimLeft(strings.ToLower(w.fields["vendorID"]), "")},
			{"maxComputeSharedMemorySize", strconv.Itoa(int(d.Compute.MaxSharedMemorySize)), w.limits["maxComputeSharedMemorySize"]},
			{"maxComputeWorkGroupInvocations", strconv.Itoa(int(d.Compute.MaxWorkGroupInvocations)), w.limits["maxComputeWorkGroupInvocations"]},
			{"maxComputeWorkGroupSize", joinU(d.Compute.MaxWorkGroupSize), strings.Join(w.limitArr["maxComputeWorkGroupSize"], ",")},
			{"maxComputeWorkGroupCount", joinU(d.Compute.MaxWorkGroupCount), strings.Join(w.limitArr["maxComputeWorkGroupCount"], ",")},
			{"queue families", fmtQueues(d.QueueFamilies), fmtQueues(w.queues)},
			{"memory heaps", fmtHeaps(d.MemoryHeaps), fmtSizes(w.heaps)},
			{"memory types", fmtTypes(d.MemoryTypes), fmtTypes(w.types)},
		} {
			if c.got != c.want || c.want == "" {
				t.Errorf("GPU%d %s: pitstop-gpu says %q, vulkaninfo %q", i, c.what, c.got, c.want)
			}
		}
	}
	t.Logf("compared %d device(s) with vulkaninfo: %s", len(info.Devices), info.Devices[0].Name)
}

func joinU(v [3]uint32) string {
	return strconv.Itoa(int(v[0])) + "," + strconv.Itoa(int(v[1])) + "," + strconv.Itoa(int(v[2]))
}

func fmtQueues(q []gpu.QueueFamily) string {
	var s []string
	for _, f := range q {
		s = append(s, strconv.Itoa(f.Index)+":"+strconv.Itoa(int(f.Queues))+"×"+strings.Join(f.Flags, "+"))
	}
	return strings.Join(s, " ")
}

func fmtHeaps(h []gpu.MemoryHeap) string {
	var s []uint64
	for _, x := range h {
		s = append(s, x.Size)
	}
	return fmtSizes(s)
}

func fmtSizes(h []uint64) string {
	var s []string
	for _, x := range h {
		s = append(s, strconv.FormatUint(x, 10))
	}
	return strings.Join(s, " ")
}

func fmtTypes(ts []gpu.MemoryType) string {
	var s []string
	for _, x := range ts {
		s = append(s, strconv.Itoa(x.Index)+"@"+strconv.Itoa(x.Heap)+":"+strings.Join(x.Flags, "+"))
	}
	return strings.Join(s, " ")
}

// TestBenchMatchesCPU runs the benchmark, small and quick, through the
// companion built for this test's architecture: every GPU result must
// match the CPU's within the tolerance, with every phase timed.
func TestBenchMatchesCPU(t *testing.T) {
	bin := companion(t, runtime.GOARCH)
	cfg := gpu.QuickBenchConfig()
	cfg.SAXPYSizes, cfg.SGEMMSizes, cfg.Reps = []int{100, 4096, 70001}, []int{5, 17, 40}, 2
	b, err := gpu.Companion{Path: bin}.Bench(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pitstop-gpu bench: %v", err)
	}
	if !b.OK {
		t.Errorf("bench not OK: results differ from the CPU's beyond %g", b.Tolerance)
	}
	if len(b.Kernels) != 2 || b.Kernels[0].Name != gpu.KernelSAXPY || b.Kernels[1].Name != gpu.KernelSGEMM {
		t.Fatalf("kernels %+v, want saxpy then sgemm", b.Kernels)
	}
	for _, k := range b.Kernels {
		if len(k.Runs) != 3 {
			t.Errorf("%s: %d runs, want 3", k.Name, len(k.Runs))
		}
		for _, r := range k.Runs {
			if !r.OK || r.RelErr > cfg.Tolerance || r.CPUNs <= 0 || r.UploadNs <= 0 || r.DispatchNs <= 0 || r.ReadbackNs <= 0 || r.GPUNs < r.DispatchNs {
				t.Errorf("%s n=%d: %+v", k.Name, r.Size, r)
			}
		}
		t.Logf("%s: crossover %d, rel errs %v", k.Name, k.Crossover, relErrs(k.Runs))
	}
	if b.Device == "" || len(b.MemoryUsed) == 0 || !strings.Contains(strings.Join(b.MemoryUsed, " "), "host-visible") {
		t.Errorf("device %q memory %v", b.Device, b.MemoryUsed)
	}
}

func relErrs(runs []gpu.Run) []float64 {
	var e []float64
	for _, r := range runs {
		e = append(e, r.RelErr)
	}
	return e
}

// TestNoVulkan: without a loader, and with a loader but no driver, the
// companion answers with the problem, the fix and exit status 3 (and
// Companion turns that into an unavailable *gpu.Error).
func TestNoVulkan(t *testing.T) {
	bin := companion(t, runtime.GOARCH)
	for _, tt := range []struct {
		env      string
		kind     string
		contains string
	}{
		{"PITSTOP_VULKAN_LIBRARY=/nonexistent/libvulkan.so.1", gpu.NoLoader, "no Vulkan loader: /nonexistent/libvulkan.so.1"},
		// The loader's own variable: only this (absent) manifest.
		{"VK_DRIVER_FILES=/nonexistent/icd.json", gpu.NoDevice, "found no Vulkan"},
	} {
		for _, sub := range []string{"info", "bench"} {
			c := gpu.Companion{Path: bin, Env: append(os.Environ(), tt.env, "VK_ICD_FILENAMES=/nonexistent/icd.json")}
			var err error
			if sub == "info" {
				_, err = c.Info(context.Background())
			} else {
				_, err = c.Bench(context.Background(), gpu.QuickBenchConfig())
			}
			var ge *gpu.Error
			if !errors.As(err, &ge) || ge.Kind != tt.kind || !strings.Contains(ge.Message, tt.contains) || ge.Fix != gpu.DriverFix || !gpu.IsUnavailable(err) {
				t.Errorf("%s with %s: %v (%#v), want %s %q", sub, tt.env, err, ge, tt.kind, tt.contains)
			}
			cmd := exec.Command(bin, sub)
			cmd.Env = c.Env
			if err := cmd.Run(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != gpu.ExitUnavailable {
				t.Errorf("%s with %s exits %v, want %d", sub, tt.env, err, gpu.ExitUnavailable)
			}
		}
	}
}
