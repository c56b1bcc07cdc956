package doctor

import (
	"testing"

	"github.com/pitstop-go/pitstop/internal/goenv"
)

// TestGPUCheck: the gpu.vulkan check on trees of a Pi 5 with and without
// v3dv, its render node and loader, an old Pi, and a PC.
func TestGPUCheck(t *testing.T) {
	const (
		pi5      = "Raspberry Pi 5 Model B Rev 1.0\x00"
		loader   = "/usr/lib/aarch64-linux-gnu/libvulkan.so.1"
		v3dvJSON = `{"ICD": {"api_version": "1.2.255", "library_path": "/usr/lib/aarch64-linux-gnu/libvulkan_broadcom.so"}}`
		v3dvLib  = "/usr/lib/aarch64-linux-gnu/libvulkan_broadcom.so"
		v3dvMan  = "/usr/share/vulkan/icd.d/broadcom_icd.aarch64.json"
		lvpJSON  = `{"ICD": {"api_version": "1.1.230", "library_path": "/usr/lib/aarch64-linux-gnu/libvulkan_lvp.so"}}`
		lvpLib   = "/usr/lib/aarch64-linux-gnu/libvulkan_lvp.so"
		lvpMan   = "/usr/share/vulkan/icd.d/lvp_icd.aarch64.json"
	)
	full := map[string]string{"/proc/device-tree/model": pi5, "/dev/dri/renderD128": "", loader: "ELF", v3dvMan: v3dvJSON, v3dvLib: "ELF", lvpMan: lvpJSON, lvpLib: "ELF"}
	without := func(drop ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for _, d := range drop {
			delete(m, d)
		}
		return m
	}
	for _, tt := range []struct {
		name    string
		files   map[string]string
		status  Status
		finding []string
	}{
		{"pi5 complete", full, OK, []string{"render node /dev/dri/renderD128", "loader " + loader, "v3dv (broadcom_icd.aarch64.json)", "lavapipe", "pitstop gpu info"}},
		{"pi5 without v3dv", without(v3dvMan, v3dvLib), Warn, []string{"Raspberry Pi 5 Model B Rev 1.0 should have Mesa's v3dv", "found lavapipe", "sudo apt install mesa-vulkan-drivers"}},
		{"pi5 v3dv manifest but no library", without(v3dvLib), Warn, []string{"should have Mesa's v3dv", "sudo apt install mesa-vulkan-drivers"}},
		{"pi5 without loader", without(loader), Warn, []string{"no Vulkan loader (libvulkan.so.1) for this arm64 userland", "libvulkan1"}},
		{"pi5 without render node", without("/dev/dri/renderD128"), Warn, []string{"no GPU render node under /dev/dri", "dtoverlay=vc4-kms-v3d"}},
		{"pi3", map[string]string{"/proc/device-tree/model": "Raspberry Pi 3 Model B Rev 1.2\x00"}, Skip, []string{"Raspberry Pi 3 Model B Rev 1.2 has no Vulkan driver (Mesa's v3dv needs a Pi 4 or 5)"}},
		{"pc without vulkan", map[string]string{}, Skip, []string{"no Vulkan loader or driver installed (optional"}},
		{"pc with lavapipe", without("/proc/device-tree/model", v3dvMan, v3dvLib, "/dev/dri/renderD128"), OK, []string{"no render node under /dev/dri", "lavapipe (lvp_icd.aarch64.json)"}},
		{"pc with a driver but no loader", without("/proc/device-tree/model", loader), Warn, []string{"no Vulkan loader (libvulkan.so.1) for arm64", "sudo apt install mesa-vulkan-drivers libvulkan1"}},
		{"pc with a loader but no driver for it", without("/proc/device-tree/model", v3dvLib, lvpLib), Warn, []string{"a Vulkan loader but no driver (ICD) for arm64"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// No /bin/sh in these trees: the userland's architecture comes
			// from go env GOHOSTARCH.
			env := fakeHost{files: tt.files, goenv: goenv.Env{"GOHOSTARCH": "arm64"}}.build(t)
			r := runCk(t, gpuChecks(), "gpu.vulkan", env)
			expectCk(t, r, tt.status, tt.finding...)
		})
	}
}
