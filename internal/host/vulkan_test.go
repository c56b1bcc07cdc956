package host

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, s := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestVulkan(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"/dev/dri/renderD128":                               "",
		"/dev/dri/card0":                                    "",
		"/usr/lib/aarch64-linux-gnu/libvulkan.so.1":         "ELF",
		"/usr/lib/aarch64-linux-gnu/libvulkan_broadcom.so":  "ELF",
		"/usr/share/vulkan/icd.d/broadcom_icd.aarch64.json": `{"ICD": {"api_version": "1.2.255", "library_path": "/usr/lib/aarch64-linux-gnu/libvulkan_broadcom.so"}, "file_format_version": "1.0.0"}`,
		"/usr/share/vulkan/icd.d/lvp_icd.x86_64.json":       `{"ICD": {"api_version": "1.1.230", "library_path": "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"}}`,
		"/etc/vulkan/icd.d/vendor.json":                     `{"ICD": {"library_path": "libvendor_vk.so"}}`,
		"/etc/vulkan/icd.d/broken_icd.json":                 `{"ICD": `,
	})
	v := At(dir).Vulkan()
	if !reflect.DeepEqual(v.RenderNodes, []string{"/dev/dri/renderD128"}) {
		t.Errorf("render nodes %v", v.RenderNodes)
	}
	if !reflect.DeepEqual(v.Loaders, []VulkanLib{{Path: "/usr/lib/aarch64-linux-gnu/libvulkan.so.1", GOARCH: "arm64"}}) {
		t.Errorf("loaders %+v", v.Loaders)
	}
	want := []VulkanICD{
		{Manifest: "/usr/share/vulkan/icd.d/broadcom_icd.aarch64.json", Driver: "v3dv", Library: "/usr/lib/aarch64-linux-gnu/libvulkan_broadcom.so", APIVersion: "1.2.255", GOARCH: "arm64", Present: true},
		{Manifest: "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json", Driver: "lavapipe", Library: "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so", APIVersion: "1.1.230", GOARCH: "amd64"},
		{Manifest: "/etc/vulkan/icd.d/broken_icd.json", Driver: "broken", Err: "not a Vulkan ICD manifest: unexpected end of JSON input"},
		{Manifest: "/etc/vulkan/icd.d/vendor.json", Driver: "vendor", Library: "libvendor_vk.so", Present: true},
	}
	if !reflect.DeepEqual(v.ICDs, want) {
		t.Errorf("ICDs\n got %+v\nwant %+v", v.ICDs, want)
	}
	loaders, icds := v.ForArch("arm64")
	if len(loaders) != 1 || len(icds) != 2 || icds[0].Driver != "v3dv" || icds[1].Driver != "vendor" {
		t.Errorf("ForArch(arm64) = %+v, %+v", loaders, icds)
	}
	// The x86 lavapipe's library is missing: not usable even on amd64.
	if loaders, icds := v.ForArch("amd64"); len(loaders) != 0 || len(icds) != 1 || icds[0].Driver != "vendor" {
		t.Errorf("ForArch(amd64) = %+v, %+v", loaders, icds)
	}
	if e := At(t.TempDir()).Vulkan(); len(e.RenderNodes)+len(e.Loaders)+len(e.ICDs) != 0 {
		t.Errorf("an empty root has Vulkan: %+v", e)
	}
}

func TestPiVulkanDriver(t *testing.T) {
	for model, want := range map[string]string{
		"Raspberry Pi 5 Model B Rev 1.0":             "v3dv",
		"Raspberry Pi 500 Rev 1.0":                   "v3dv",
		"Raspberry Pi Compute Module 5 Rev 1.0":      "v3dv",
		"Raspberry Pi 4 Model B Rev 1.4":             "v3dv",
		"Raspberry Pi 400 Rev 1.0":                   "v3dv",
		"Raspberry Pi Compute Module 4 Rev 1.0":      "v3dv",
		"Raspberry Pi 3 Model B Plus Rev 1.3":        "",
		"Raspberry Pi Zero 2 W Rev 1.0":              "",
		"Raspberry Pi Compute Module 3 Plus Rev 1.0": "",
		"":                      "",
		"Pine64 RockPro64 v2.1": "",
	} {
		if got := PiVulkanDriver(model); got != want {
			t.Errorf("PiVulkanDriver(%q) = %q, want %q", model, got, want)
		}
	}
}
