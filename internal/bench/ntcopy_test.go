package bench

import (
	"bytes"
	"testing"
)

// TestNTCopy: ntCopy copies exactly the bytes copy would, at every
// alignment of source and destination within a cache line and lengths
// around every edge the kernel has (below two blocks, heads, whole blocks,
// tails, more than one chunk), and writes nothing outside the destination.
// Under qemu-aarch64 (test.sh's arm64 pass) this runs the STNP kernel.
func TestNTCopy(t *testing.T) {
	const guard = 64
	lengths := []int{0, 1, 63, 64, 65, 127, 128, 129, 191, 192, 255, 256, 257, 1000, 4096, 4097, 8191, 8192, 8256, 8300, 16384 + 64*5 + 3,
		ntChunk - 1, ntChunk, ntChunk + 64, 3*ntChunk + 100}
	buf := make([]byte, 2*guard+3*ntChunk+200)
	srcBuf := make([]byte, len(buf))
	for i := range srcBuf {
		srcBuf[i] = byte(uint32(i)*2654435761>>13) | 1 // never 0: a missed byte shows
	}
	for _, n := range lengths {
		for _, d := range []int{0, 1, 7, 8, 15, 16, 31, 32, 33, 48, 63} {
			for _, s := range []int{0, 1, 8, 17, 32, 63} {
				if n > 5000 && (d%8 != 0 || s%16 != 1) && !(d == 1 && s == 0) {
					continue // the big lengths at a few alignments keep the test short
				}
				clear(buf)
				dst := buf[guard+d : guard+d+n]
				src := srcBuf[s : s+n]
				ntCopy(dst, src)
				if !bytes.Equal(dst, src) {
					i := 0
					for i < n && dst[i] == src[i] {
						i++
					}
					t.Fatalf("n=%d dst+%d src+%d: first wrong byte at %d", n, d, s, i)
				}
				for i, b := range buf {
					if (i < guard+d || i >= guard+d+n) && b != 0 {
						t.Fatalf("n=%d dst+%d src+%d: byte %d outside the destination written", n, d, s, i-guard-d)
					}
				}
			}
		}
	}
	t.Logf("non-temporal stores on this architecture: %q", ntStores)
}
