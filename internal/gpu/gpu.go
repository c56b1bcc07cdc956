// Package gpu is the static side of `pitstop gpu`: what a board's GPU
// offers to compute through Vulkan, and where it beats the CPU from Go.
//
// The Vulkan calls live in a companion command, pitstop-gpu
// (cmd/pitstop-gpu), built with cgo; pitstop itself stays a static
// CGO_ENABLED=0 binary that runs on boards with no Vulkan at all. This
// package finds the companion (next to the pitstop binary, then on PATH),
// runs it, reads the JSON it prints (schema pitstop-gpu/v1) and formats it.
// It also holds what both sides share: the reply types, the SPIR-V of the
// shaders, the Go CPU kernels and the benchmark's measuring loop (RunBench),
// which the companion drives with its Vulkan Accelerator.
package gpu

import (
	"errors"
	"fmt"
)

// Schema names the JSON the companion prints and `pitstop gpu --json`
// passes on.
const Schema = "pitstop-gpu/v1"

// CompanionName is the companion command's file name.
const CompanionName = "pitstop-gpu"

// Reply is what the companion prints on stdout, one JSON object: the info
// or bench answer, or the problem that stopped it.
type Reply struct {
	Schema  string   `json:"schema"`
	Problem *Problem `json:"problem,omitempty"`
	Info    *Info    `json:"info,omitempty"`
	Bench   *Bench   `json:"bench,omitempty"`
}

// Problem kinds.
const (
	NoCompanion = "no-companion" // pitstop found no pitstop-gpu
	NoLoader    = "no-loader"    // libvulkan.so.1 does not load
	NoDevice    = "no-device"    // the loader found no driver (ICD) with a device
	VulkanError = "vulkan-error" // a Vulkan call failed
)

// Problem says why the companion could not answer.
type Problem struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Error is a Problem as a Go error. Unavailable reports whether it means
// "no Vulkan here" (no companion, loader or device) rather than a failure.
type Error struct{ Problem }

func (e *Error) Error() string {
	if e.Fix != "" {
		return e.Message + ": " + e.Fix
	}
	return e.Message
}

// Unavailable reports whether the error means there is no Vulkan compute
// here to ask (companion, loader or driver missing).
func (e *Error) Unavailable() bool {
	return e.Kind == NoCompanion || e.Kind == NoLoader || e.Kind == NoDevice
}

// IsUnavailable reports whether err says there is no Vulkan compute here.
func IsUnavailable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unavailable()
}

// DriverFix is how to get a Vulkan loader and driver on Debian and
// Raspberry Pi OS: mesa-vulkan-drivers holds v3dv (Pi 4 and 5) and
// lavapipe (the CPU driver), libvulkan1 the loader.
const DriverFix = "sudo apt install mesa-vulkan-drivers libvulkan1"

// Version is a Vulkan version number, decoded from its packed form
// (VK_API_VERSION_MAJOR/MINOR/PATCH; the variant bits are dropped).
type Version uint32

func (v Version) String() string {
	u := uint32(v)
	return fmt.Sprintf("%d.%d.%d", (u>>22)&0x7f, (u>>12)&0x3ff, u&0xfff)
}

// Info is `pitstop gpu info`: the loader, the instance and every device.
type Info struct {
	Loader Loader `json:"loader"`
	// InstanceVersion is the API version the companion's instance asked
	// for: the loader's, capped at what the companion was built against.
	InstanceVersion string   `json:"instance_version"`
	Devices         []Device `json:"devices"`
}

// Loader is the Vulkan loader library that was opened.
type Loader struct {
	Path    string `json:"path"`    // the file, e.g. /lib/x86_64-linux-gnu/libvulkan.so.1
	Version string `json:"version"` // vkEnumerateInstanceVersion, e.g. 1.3.239
}

// Device is one physical device.
type Device struct {
	Index         int           `json:"index"`
	Name          string        `json:"name"`
	Type          string        `json:"type"` // integrated-gpu, discrete-gpu, virtual-gpu, cpu, other
	VendorID      uint32        `json:"vendor_id"`
	DeviceID      uint32        `json:"device_id"`
	APIVersion    string        `json:"api_version"`
	DriverVersion string        `json:"driver_version"`     // decoded as a Vulkan version (Mesa's convention)
	DriverRaw     uint32        `json:"driver_version_raw"` // as the driver reports it
	DriverName    string        `json:"driver_name,omitempty"`
	DriverInfo    string        `json:"driver_info,omitempty"`
	QueueFamilies []QueueFamily `json:"queue_families"`
	MemoryHeaps   []MemoryHeap  `json:"memory_heaps"`
	MemoryTypes   []MemoryType  `json:"memory_types"`
	Compute       Compute       `json:"compute"`
}

// QueueFamily is one queue family: its capabilities and queue count.
type QueueFamily struct {
	Index  int      `json:"index"`
	Flags  []string `json:"flags"` // graphics, compute, transfer, sparse-binding, protected, ...
	Queues uint32   `json:"queues"`
}

// MemoryHeap is one memory heap.
type MemoryHeap struct {
	Index int      `json:"index"`
	Size  uint64   `json:"size"`
	Flags []string `json:"flags"` // device-local, multi-instance
}

// MemoryType is one memory type and the heap it draws from.
type MemoryType struct {
	Index int      `json:"index"`
	Heap  int      `json:"heap"`
	Flags []string `json:"flags"` // device-local, host-visible, host-coherent, host-cached, ...
}

// Compute is a device's compute limits.
type Compute struct {
	MaxWorkGroupSize        [3]uint32 `json:"max_work_group_size"`
	MaxWorkGroupCount       [3]uint32 `json:"max_work_group_count"`
	MaxWorkGroupInvocations uint32    `json:"max_work_group_invocations"`
	MaxSharedMemorySize     uint32    `json:"max_shared_memory_size"`
}

// flagNames turns a bit mask into names, lowest bit first; bits without
// a name print as 0x.. .
func flagNames(mask uint32, names map[uint32]string) []string {
	out := []string{}
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if mask&bit == 0 {
			continue
		}
		if n, ok := names[bit]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("0x%x", bit))
		}
	}
	return out
}

// QueueFlags names VkQueueFlags.
func QueueFlags(mask uint32) []string {
	return flagNames(mask, map[uint32]string{1: "graphics", 2: "compute", 4: "transfer", 8: "sparse-binding",
		0x10: "protected", 0x20: "video-decode", 0x40: "video-encode", 0x100: "optical-flow"})
}

// HeapFlags names VkMemoryHeapFlags.
func HeapFlags(mask uint32) []string {
	return flagNames(mask, map[uint32]string{1: "device-local", 2: "multi-instance"})
}

// MemoryFlags names VkMemoryPropertyFlags.
func MemoryFlags(mask uint32) []string {
	return flagNames(mask, map[uint32]string{1: "device-local", 2: "host-visible", 4: "host-coherent",
		8: "host-cached", 0x10: "lazily-allocated", 0x20: "protected", 0x40: "device-coherent-amd",
		0x80: "device-uncached-amd", 0x100: "rdma-capable-nv"})
}

// DeviceType names VkPhysicalDeviceType.
func DeviceType(t uint32) string {
	switch t {
	case 1:
		return "integrated-gpu"
	case 2:
		return "discrete-gpu"
	case 3:
		return "virtual-gpu"
	case 4:
		return "cpu"
	}
	return "other"
}
