//go:build cgo

package main

/*
#include <stdlib.h>
#include "vk.h"
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/pitstop-go/pitstop/internal/gpu"
)

// vulkan is the benchmark's gpu.Accelerator: one compute queue on the
// first device, buffers in host-visible coherent memory (device-local too
// where the device has it, as a Pi's unified memory does), so upload and
// read-back are the copies a Go program makes into and out of mapped
// memory.
type vulkan struct {
	ctx  *C.pg_ctx
	dev  gpu.Device
	maxX uint32 // maxComputeWorkGroupCount[0]
	mem  uint32 // memory flags of the last buffer allocated
}

func bench(cfg gpu.BenchConfig) (*gpu.Bench, error) {
	if _, err := open(); err != nil {
		return nil, err
	}
	defer C.pg_destroy_instance()
	devs, err := physicalDevices()
	if err != nil {
		return nil, err
	}
	v := &vulkan{dev: describe(0, devs[0])}
	v.maxX = v.dev.Compute.MaxWorkGroupCount[0]
	if err := check("vkCreateDevice", C.pg_ctx_create(devs[0], &v.ctx)); err != nil {
		return nil, err
	}
	defer C.pg_ctx_destroy(v.ctx)
	b, err := gpu.RunBench(v, cfg)
	if err != nil {
		return nil, err
	}
	b.Device = v.dev.Name
	b.Driver = v.dev.DriverInfo
	if b.Driver == "" {
		b.Driver = v.dev.DriverName + " " + v.dev.DriverVersion
	}
	b.MemoryUsed = gpu.MemoryFlags(v.mem)
	return b, nil
}

type prepared struct {
	v      *vulkan
	kernel string
	size   int
	bufs   []*C.pg_buf
	k      *C.pg_kernel
	push   []byte
	groups [3]uint32
}

func (v *vulkan) Prepare(kernel string, size int) (gpu.Prepared, error) {
	p := &prepared{v: v, kernel: kernel, size: size}
	var spirv []byte
	var lens []int
	switch kernel {
	case gpu.KernelSAXPY:
		spirv, lens = gpu.SAXPYSPIRV, []int{size, size}
		p.push = binary.LittleEndian.AppendUint32(nil, uint32(size))
		p.push = binary.LittleEndian.AppendUint32(p.push, math.Float32bits(gpu.SAXPYAlpha))
		groups := (uint32(size) + gpu.SAXPYLocalSize - 1) / gpu.SAXPYLocalSize
		p.groups = [3]uint32{min(groups, v.maxX), 1, 1} // the shader loops over the rest
	case gpu.KernelSGEMM:
		spirv, lens = gpu.SGEMMSPIRV, []int{size * size, size * size, size * size}
		for range 3 {
			p.push = binary.LittleEndian.AppendUint32(p.push, uint32(size))
		}
		g := uint32((size + gpu.SGEMMTile - 1) / gpu.SGEMMTile)
		if g > v.dev.Compute.MaxWorkGroupCount[0] || g > v.dev.Compute.MaxWorkGroupCount[1] {
			return nil, fmt.Errorf("sgemm of order %d needs %d×%d workgroups, more than the device's maxComputeWorkGroupCount", size, g, g)
		}
		p.groups = [3]uint32{g, g, 1}
	default:
		return nil, errors.New("unknown kernel " + kernel)
	}
	for _, n := range lens {
		var b *C.pg_buf
		if err := check("allocate a storage buffer", C.pg_buf_create(v.ctx, C.VkDeviceSize(4*n), &b)); err != nil {
			p.Close()
			return nil, err
		}
		v.mem = uint32(C.pg_buf_memory_flags(b))
		p.bufs = append(p.bufs, b)
	}
	code := C.CBytes(spirv) // SPIR-V must be 4-byte aligned: malloc's is
	defer C.free(code)
	if err := check("create the compute pipeline", C.pg_kernel_create(v.ctx, (*C.uint32_t)(code), C.size_t(len(spirv)),
		C.uint32_t(len(p.bufs)), C.uint32_t(len(p.push)), &p.bufs[0], &p.k)); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// mapped is buffer i's mapped memory as floats.
func (p *prepared) mapped(i int) []float32 {
	n := p.size
	if p.kernel == gpu.KernelSGEMM {
		n = p.size * p.size
	}
	return unsafe.Slice((*float32)(C.pg_buf_ptr(p.bufs[i])), n)
}

func (p *prepared) Upload(inputs [][]float32) error {
	for i, in := range inputs {
		copy(p.mapped(i), in)
	}
	return nil
}

func (p *prepared) Dispatch() error {
	return check("vkQueueSubmit of the dispatch", C.pg_dispatch(p.v.ctx, p.k, unsafe.Pointer(&p.push[0]),
		C.uint32_t(p.groups[0]), C.uint32_t(p.groups[1]), C.uint32_t(p.groups[2])))
}

func (p *prepared) Readback(out []float32) error {
	// saxpy writes y (buffer 1), sgemm C (buffer 2): the last buffer.
	copy(out, p.mapped(len(p.bufs)-1))
	return nil
}

func (p *prepared) Close() {
	C.pg_kernel_destroy(p.v.ctx, p.k)
	for _, b := range p.bufs {
		C.pg_buf_destroy(p.v.ctx, b)
	}
	p.bufs, p.k = nil, nil
}
