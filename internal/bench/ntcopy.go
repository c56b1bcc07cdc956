package bench

import "unsafe"

// ntCopy copies src to dst (len(dst) bytes; src at least as long) with
// non-temporal stores where the architecture has them: stores that go to
// memory without first reading each destination line into the cache, the
// way glibc's memcpy copies above its non-temporal threshold and STREAM
// builds compiled for bandwidth copy. It is what the memory can do; Go's
// copy (the runtime's memmove) stores through the cache, which on a copy far
// past the last-level cache also reads every destination line it writes.
//
// The destination is brought to a cache-line boundary with copy, whole
// 64-byte blocks go through the assembly kernel in pieces of ntChunk bytes
// (an assembly function is never preempted, so a long one would hold up a
// garbage collection), and the tail goes through copy. Where the
// architecture has no kernel (ntStores is ""), it is copy throughout.
func ntCopy(dst, src []byte) {
	n := len(dst)
	src = src[:n]
	if ntStores == "" || n < 2*ntBlock {
		copy(dst, src)
		return
	}
	head := int(-uintptr(unsafe.Pointer(&dst[0])) & (ntBlock - 1))
	copy(dst[:head], src[:head])
	body := (n - head) &^ (ntBlock - 1)
	for off := head; off < head+body; off += ntChunk {
		m := min(ntChunk, head+body-off)
		ntCopyBlocks(&dst[off], &src[off], uintptr(m))
	}
	ntFence()
	copy(dst[head+body:], src[head+body:])
}

const (
	// ntBlock is what one pass of the kernels' loop copies, a cache line
	// on every board pitstop knows; the destination is aligned to it.
	ntBlock = 64
	// ntChunk is how much one call of the kernel copies at most: about
	// 100 µs at the memory bandwidth of a Pi.
	ntChunk = 256 << 10
)
