package bench

// ntStores names the instructions ntCopyBlocks stores with.
const ntStores = "MOVNTDQ (SSE2)"

// ntCopyBlocks copies n bytes, a positive multiple of 64, from src to dst,
// which is 64-byte aligned, with non-temporal stores.
//
//go:noescape
func ntCopyBlocks(dst, src *byte, n uintptr)

// ntFence orders the non-temporal stores before whatever follows (SFENCE):
// they are weakly ordered on x86.
func ntFence()
