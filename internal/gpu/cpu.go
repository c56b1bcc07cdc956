package gpu

import (
	"runtime"
	"sync"
)

// minChunk is the fewest SAXPY elements one goroutine takes: below it
// starting a goroutine costs more than the work.
const minChunk = 16 << 10

// parallel runs f over [0,n) in up to GOMAXPROCS contiguous chunks of at
// least min items each.
func parallel(n, min int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if w := n / max(min, 1); w < workers {
		workers = max(w, 1)
	}
	if workers == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// SAXPY computes y = a*x + y on the CPU with GOMAXPROCS goroutines.
func SAXPY(a float32, x, y []float32) {
	y = y[:len(x)]
	parallel(len(x), minChunk, func(lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		for i := range xs {
			ys[i] += a * xs[i]
		}
	})
}

// SGEMM computes c = a*b for row-major m×k a, k×n b and m×n c on the CPU,
// rows of c split among GOMAXPROCS goroutines (i-k-j order, so the inner
// loop streams through rows of b and c).
func SGEMM(m, n, k int, a, b, c []float32) {
	parallel(m, max(1, (64<<10)/max(n*k, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ci := c[i*n : (i+1)*n]
			clear(ci)
			for p := range k {
				aip := a[i*k+p]
				bp := b[p*n : (p+1)*n]
				for j := range ci {
					ci[j] += aip * bp[j]
				}
			}
		}
	})
}
