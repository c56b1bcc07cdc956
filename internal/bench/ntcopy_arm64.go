package bench

// ntStores names the instructions ntCopyBlocks stores with.
const ntStores = "STNP (128-bit pairs)"

// ntCopyBlocks copies n bytes, a positive multiple of 64, from src to dst,
// which is 64-byte aligned, with non-temporal store pairs.
//
//go:noescape
func ntCopyBlocks(dst, src *byte, n uintptr)

// ntFence is a full barrier (DMB ISH): STNP's stores are ordered like
// ordinary ones, so the goroutine handoff after the copy already orders
// them; the barrier keeps the two architectures' contracts alike.
func ntFence()
