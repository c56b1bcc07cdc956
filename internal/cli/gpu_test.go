package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pitstop-go/pitstop/internal/gpu"
	"github.com/pitstop-go/pitstop/internal/testexe"
)

// fakeCompanion puts a pitstop-gpu on an otherwise empty PATH that
// records its arguments, prints reply and exits with code. (The real
// companion is tested against Vulkan in internal/gpu; this tests the
// CLI's wiring: exit codes, messages, --json.)
func fakeCompanion(t *testing.T, reply any, code int) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	out, err := json.Marshal(reply)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := reply.(string); ok {
		out = []byte(s)
	}
	replyFile, argsFile := filepath.Join(dir, "reply"), filepath.Join(dir, "args")
	if err := os.WriteFile(replyFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n/bin/cat " + replyFile + "\nexit " + string(rune('0'+code)) + "\n"
	if err := testexe.WriteFile(filepath.Join(dir, gpu.CompanionName), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	return argsFile
}

func runPitstopGPU(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGPUCommand(t *testing.T) {
	info := gpu.Reply{Schema: gpu.Schema, Info: &gpu.Info{Loader: gpu.Loader{Path: "/usr/lib/aarch64-linux-gnu/libvulkan.so.1", Version: "1.3.239"}, InstanceVersion: "1.3.0",
		Devices: []gpu.Device{{Name: "V3D 7.1.7", Type: "integrated-gpu", APIVersion: "1.2.255", DriverName: "V3DV Mesa", DriverVersion: "23.2.1",
			QueueFamilies: []gpu.QueueFamily{{Index: 0, Flags: []string{"graphics", "compute", "transfer"}, Queues: 1}}}}}}
	noDevice := gpu.Reply{Schema: gpu.Schema, Problem: &gpu.Problem{Kind: gpu.NoDevice, Message: "libvulkan.so.1 found no Vulkan device", Fix: gpu.DriverFix}}
	badBench := gpu.Reply{Schema: gpu.Schema, Bench: &gpu.Bench{Device: "x", Tolerance: 1e-4, OK: false,
		Kernels: []gpu.Kernel{{Name: gpu.KernelSAXPY, Runs: []gpu.Run{{Size: 256, RelErr: 0.5, OK: false}}}}}}

	t.Run("no companion", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		code, stdout, stderr := runPitstopGPU("gpu", "info")
		if code != 3 || stdout != "" || strings.Count(stderr, "\n") != 1 ||
			!strings.Contains(stderr, "pitstop-gpu (Vulkan through cgo) is not installed") || !strings.Contains(stderr, "CGO_ENABLED=1 go install") {
			t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
		}
		code, stdout, _ = runPitstopGPU("gpu", "bench", "--json")
		var rep gpu.Reply
		if code != 3 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Problem == nil || rep.Problem.Kind != gpu.NoCompanion {
			t.Errorf("--json: exit %d, stdout %q", code, stdout)
		}
	})
	t.Run("no device", func(t *testing.T) {
		fakeCompanion(t, noDevice, 3)
		code, _, stderr := runPitstopGPU("gpu", "info")
		if code != 3 || stderr != "pitstop: libvulkan.so.1 found no Vulkan device: sudo apt install mesa-vulkan-drivers libvulkan1\n" {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("info", func(t *testing.T) {
		args := fakeCompanion(t, info, 0)
		code, stdout, stderr := runPitstopGPU("gpu", "info")
		if code != 0 || stderr != "" || !strings.Contains(stdout, "GPU0: V3D 7.1.7 (integrated-gpu)") || !strings.Contains(stdout, "queue family 0: 1 queue(s), graphics compute transfer") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
		if b, _ := os.ReadFile(args); string(b) != "info\n" {
			t.Errorf("companion ran with %q", b)
		}
		code, stdout, _ = runPitstopGPU("gpu", "info", "--json")
		var rep gpu.Reply
		if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Schema != gpu.Schema || rep.Info.Devices[0].QueueFamilies[0].Queues != 1 {
			t.Errorf("--json: exit %d, %s", code, stdout)
		}
	})
	t.Run("bench off", func(t *testing.T) {
		args := fakeCompanion(t, badBench, 1)
		code, stdout, stderr := runPitstopGPU("gpu", "bench", "--quick", "--sgemm", "8,16")
		if code != 1 || !strings.Contains(stdout, "FAIL: some results differ") || !strings.Contains(stderr, "differ from the CPU's by more than relative error 0.0001") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
		if b, _ := os.ReadFile(args); string(b) != "bench --saxpy 256,4096,65536 --sgemm 8,16 --reps 3 --tolerance 0.0001 --seed 1\n" {
			t.Errorf("companion ran with %q", b)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		fakeCompanion(t, "Segmentation fault", 1)
		code, _, stderr := runPitstopGPU("gpu", "info")
		if code != 1 || !strings.Contains(stderr, "pitstop-gpu info: exit status 1") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("usage", func(t *testing.T) {
		fakeCompanion(t, info, 0)
		for _, args := range [][]string{{"gpu", "bench", "--saxpy", "x"}, {"gpu", "bench", "--sgemm", "0"}, {"gpu", "bench", "--tolerance", "2"}, {"gpu", "frob"}, {"gpu", "info", "extra"}} {
			code, stdout, stderr := runPitstopGPU(args...)
			if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
		}
	})
}
