//go:build cgo

// Command pitstop-gpu is the Vulkan side of `pitstop gpu`: built with cgo,
// it opens libvulkan.so.1 at run time (dlopen, so a machine without a
// loader gets an answer rather than a dynamic-linker error), and prints one
// JSON reply (schema pitstop-gpu/v1, internal/gpu.Reply) on stdout.
//
//	pitstop-gpu info
//	pitstop-gpu bench [--saxpy N,N,...] [--sgemm N,N,...] [--reps N] [--tolerance X] [--seed N]
//
// Exit status: 0 answered, 1 a Vulkan call failed or a bench result was
// off, 2 bad usage, 3 no Vulkan here (no loader or no device).
// PITSTOP_VULKAN_LIBRARY names another loader library to open.
//
// Build it with CGO_ENABLED=1 and Debian's libvulkan-dev headers; for a
// Pi: CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc go build.
package main

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "vk.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"unsafe"

	"github.com/pitstop-go/pitstop/internal/gpu"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "info" && args[0] != "bench") {
		fmt.Fprintln(stderr, "usage: pitstop-gpu info | bench [--saxpy N,...] [--sgemm N,...] [--reps N] [--tolerance X] [--seed N]")
		return 2
	}
	var rep gpu.Reply
	rep.Schema = gpu.Schema
	code := gpu.ExitOK
	var err error
	switch args[0] {
	case "info":
		rep.Info, err = info()
	case "bench":
		cfg := gpu.DefaultBenchConfig()
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.SetOutput(stderr)
		saxpy := fs.String("saxpy", gpu.FormatSizes(cfg.SAXPYSizes), "SAXPY sizes (elements)")
		sgemm := fs.String("sgemm", gpu.FormatSizes(cfg.SGEMMSizes), "SGEMM sizes (matrix order)")
		fs.IntVar(&cfg.Reps, "reps", cfg.Reps, "timed repetitions per size")
		fs.Float64Var(&cfg.Tolerance, "tolerance", cfg.Tolerance, "largest relative error accepted")
		fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the random inputs")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		var e1, e2 error
		cfg.SAXPYSizes, e1 = gpu.ParseSizes(*saxpy)
		cfg.SGEMMSizes, e2 = gpu.ParseSizes(*sgemm)
		if err := errors.Join(e1, e2, cfg.Check()); err != nil {
			fmt.Fprintln(stderr, "pitstop-gpu:", err)
			return 2
		}
		rep.Bench, err = bench(cfg)
		if err == nil && !rep.Bench.OK {
			code = gpu.ExitFailed
		}
	}
	if err != nil {
		var ge *gpu.Error
		if !errors.As(err, &ge) {
			ge = &gpu.Error{Problem: gpu.Problem{Kind: gpu.VulkanError, Message: err.Error()}}
		}
		rep.Problem, rep.Info, rep.Bench = &ge.Problem, nil, nil
		code = gpu.ExitFailed
		if ge.Unavailable() {
			code = gpu.ExitUnavailable
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		fmt.Fprintln(stderr, "pitstop-gpu:", err)
		return gpu.ExitFailed
	}
	return code
}

type vkError struct {
	call string
	r    C.VkResult
}

func (e *vkError) Error() string {
	return fmt.Sprintf("%s: %s", e.call, C.GoString(C.pg_result_name(e.r)))
}

func check(call string, r C.VkResult) error {
	if r == C.VK_SUCCESS {
		return nil
	}
	return &vkError{call, r}
}

// maxAPI is the newest API version the companion asks an instance for.
const maxAPI = 1<<22 | 3<<12 // 1.3

var loader gpu.Loader

// open loads the Vulkan loader and creates an instance.
func open() (string, error) {
	lib := os.Getenv("PITSTOP_VULKAN_LIBRARY")
	if lib == "" {
		lib = "libvulkan.so.1"
	}
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	var errb, pathb [1024]C.char
	if C.pg_load(clib, &errb[0], C.size_t(len(errb)), &pathb[0], C.size_t(len(pathb))) != 0 {
		return "", &gpu.Error{Problem: gpu.Problem{Kind: gpu.NoLoader,
			Message: "no Vulkan loader: " + C.GoString(&errb[0]), Fix: gpu.DriverFix}}
	}
	lv := uint32(C.pg_loader_version())
	loader = gpu.Loader{Path: C.GoString(&pathb[0]), Version: gpu.Version(lv).String()}
	api := min(lv&^0xfff, maxAPI)
	if r := C.pg_create_instance(C.uint32_t(api)); r != C.VK_SUCCESS {
		if r == C.VK_ERROR_INCOMPATIBLE_DRIVER {
			return "", noDevice(loader.Path + " found no Vulkan driver (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER)")
		}
		return "", check("vkCreateInstance", r)
	}
	return gpu.Version(api).String(), nil
}

func noDevice(msg string) error {
	return &gpu.Error{Problem: gpu.Problem{Kind: gpu.NoDevice, Message: msg, Fix: gpu.DriverFix}}
}

func physicalDevices() ([]C.VkPhysicalDevice, error) {
	var n C.uint32_t
	if err := check("vkEnumeratePhysicalDevices", C.pg_physical_devices(&n, nil)); err != nil {
		if e := (*vkError)(nil); errors.As(err, &e) && e.r == C.VK_ERROR_INITIALIZATION_FAILED {
			return nil, noDevice(loader.Path + " found no Vulkan device (vkEnumeratePhysicalDevices: VK_ERROR_INITIALIZATION_FAILED)")
		}
		return nil, err
	}
	if n == 0 {
		return nil, noDevice(loader.Path + " found no Vulkan device: no installed driver (ICD) drives a device here")
	}
	devs := make([]C.VkPhysicalDevice, n)
	err := check("vkEnumeratePhysicalDevices", C.pg_physical_devices(&n, &devs[0]))
	return devs[:n], err
}

func info() (*gpu.Info, error) {
	inst, err := open()
	if err != nil {
		return nil, err
	}
	defer C.pg_destroy_instance()
	devs, err := physicalDevices()
	if err != nil {
		return nil, err
	}
	out := &gpu.Info{Loader: loader, InstanceVersion: inst}
	for i, d := range devs {
		out.Devices = append(out.Devices, describe(i, d))
	}
	return out, nil
}

func describe(i int, d C.VkPhysicalDevice) gpu.Device {
	var p C.VkPhysicalDeviceProperties
	C.pg_properties(d, &p)
	dev := gpu.Device{
		Index: i, Name: C.GoString(&p.deviceName[0]), Type: gpu.DeviceType(uint32(p.deviceType)),
		VendorID: uint32(p.vendorID), DeviceID: uint32(p.deviceID),
		APIVersion: gpu.Version(p.apiVersion).String(), DriverVersion: gpu.Version(p.driverVersion).String(),
		DriverRaw: uint32(p.driverVersion),
	}
	var dp C.VkPhysicalDeviceDriverProperties
	if C.pg_driver_properties(d, &dp) != 0 {
		dev.DriverName, dev.DriverInfo = C.GoString(&dp.driverName[0]), C.GoString(&dp.driverInfo[0])
	}
	var n C.uint32_t
	C.pg_queue_families(d, &n, nil)
	if n > 0 {
		qf := make([]C.VkQueueFamilyProperties, n)
		C.pg_queue_families(d, &n, &qf[0])
		for j, q := range qf[:n] {
			dev.QueueFamilies = append(dev.QueueFamilies, gpu.QueueFamily{Index: j, Flags: gpu.QueueFlags(uint32(q.queueFlags)), Queues: uint32(q.queueCount)})
		}
	}
	var mp C.VkPhysicalDeviceMemoryProperties
	C.pg_memory_properties(d, &mp)
	for j := range int(mp.memoryHeapCount) {
		h := mp.memoryHeaps[j]
		dev.MemoryHeaps = append(dev.MemoryHeaps, gpu.MemoryHeap{Index: j, Size: uint64(h.size), Flags: gpu.HeapFlags(uint32(h.flags))})
	}
	for j := range int(mp.memoryTypeCount) {
		t := mp.memoryTypes[j]
		dev.MemoryTypes = append(dev.MemoryTypes, gpu.MemoryType{Index: j, Heap: int(t.heapIndex), Flags: gpu.MemoryFlags(uint32(t.propertyFlags))})
	}
	l := p.limits
	dev.Compute = gpu.Compute{
		MaxWorkGroupSize:        [3]uint32{uint32(l.maxComputeWorkGroupSize[0]), uint32(l.maxComputeWorkGroupSize[1]), uint32(l.maxComputeWorkGroupSize[2])},
		MaxWorkGroupCount:       [3]uint32{uint32(l.maxComputeWorkGroupCount[0]), uint32(l.maxComputeWorkGroupCount[1]), uint32(l.maxComputeWorkGroupCount[2])},
		MaxWorkGroupInvocations: uint32(l.maxComputeWorkGroupInvocations),
		MaxSharedMemorySize:     uint32(l.maxComputeSharedMemorySize),
	}
	return dev
}
