//go:build !amd64 && !arm64

package bench

// ntStores is empty: this architecture (32-bit arm among them) has no
// kernel with non-temporal stores here, and ntCopy is copy.
const ntStores = ""

func ntCopyBlocks(dst, src *byte, n uintptr) { panic("unreachable") }

func ntFence() {}
