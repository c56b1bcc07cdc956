package doctor

// The gpu section: what Vulkan compute needs, read from files alone (no
// cgo, no library loaded): GPU render nodes, the Vulkan loader for this
// userland, the installed drivers (ICDs), and on a Pi 4 or 5 the driver it
// should have, v3dv. `pitstop gpu info` then asks the driver itself.

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/pitstop-go/pitstop/internal/host"
)

// gpuChecks returns the gpu section's checks.
func gpuChecks() []Check {
	return []Check{{ID: "gpu.vulkan", Section: "gpu", Title: "Vulkan compute (render nodes, loader, drivers)", Run: checkVulkan}}
}

const (
	fixVulkan   = "sudo apt install mesa-vulkan-drivers libvulkan1"
	fixV3DNodes = "enable the KMS driver: dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt (Raspberry Pi OS's default), then reboot"
)

func checkVulkan(ctx context.Context, env *Env) Result {
	goarch := ""
	if u, _, err := env.Root.Userland(); err == nil {
		goarch = u.GOARCH()
	}
	if goarch == "" {
		goarch = env.Go.Get("GOHOSTARCH")
	}
	v := env.Root.Vulkan()
	loaders, icds := v.ForArch(goarch)
	model, _ := env.Root.Model()
	want := host.PiVulkanDriver(model)

	var details []string
	for _, n := range v.RenderNodes {
		details = append(details, "render node "+n)
	}
	for _, l := range v.Loaders {
		details = append(details, "loader "+l.Path)
	}
	for _, i := range v.ICDs {
		d := fmt.Sprintf("driver %s: %s → %s", i.Driver, i.Manifest, i.Library)
		switch {
		case i.Err != "":
			d += " (" + i.Err + ")"
		case !i.Present:
			d += " (library missing)"
		case i.GOARCH != "" && i.GOARCH != goarch:
			d += " (for " + i.GOARCH + ", not this " + goarch + " userland)"
		}
		details = append(details, d)
	}
	var names []string
	have := false
	for _, i := range icds {
		names = append(names, i.Driver+" ("+path.Base(i.Manifest)+")")
		have = have || i.Driver == want
	}
	nodes := "no render node under /dev/dri"
	if len(v.RenderNodes) > 0 {
		nodes = "render node " + strings.Join(v.RenderNodes, ", ")
	}

	if want != "" {
		switch {
		case len(v.RenderNodes) == 0:
			return Result{Status: Warn, Finding: model + ": no GPU render node under /dev/dri, so " + want + " has no device to drive", Fix: fixV3DNodes, Details: details}
		case len(loaders) == 0:
			return Result{Status: Warn, Finding: "no Vulkan loader (libvulkan.so.1) for this " + goarch + " userland: Vulkan programs cannot start", Fix: fixVulkan, Details: details}
		case !have:
			return Result{Status: Warn, Finding: model + " should have Mesa's " + want + " Vulkan driver, which is not installed for " + goarch + foundDrivers(names), Fix: fixVulkan, Details: details}
		}
		return Result{Status: OK, Finding: fmt.Sprintf("%s, loader %s, drivers %s: `pitstop gpu info` asks the driver", nodes, loaders[0].Path, strings.Join(names, ", ")), Details: details}
	}
	if len(loaders) == 0 && len(icds) == 0 {
		f := "no Vulkan loader or driver installed (optional: only `pitstop gpu` and Vulkan programs need them)"
		if host.IsRaspberryPi(model) {
			f = model + " has no Vulkan driver (Mesa's v3dv needs a Pi 4 or 5); " + nodes
		}
		return Result{Status: Skip, Finding: f, Details: append(details, "to add them: "+fixVulkan)}
	}
	if len(loaders) == 0 || len(icds) == 0 {
		missing := "no Vulkan loader (libvulkan.so.1) for " + goarch
		if len(icds) == 0 {
			missing = "a Vulkan loader but no driver (ICD) for " + goarch
		}
		return Result{Status: Warn, Finding: missing + ": Vulkan programs find no device", Fix: fixVulkan, Details: details}
	}
	return Result{Status: OK, Finding: fmt.Sprintf("%s, loader %s, drivers %s", nodes, loaders[0].Path, strings.Join(names, ", ")), Details: details}
}

func foundDrivers(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (found " + strings.Join(names, ", ") + ")"
}
