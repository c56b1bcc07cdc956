package cross

import (
	"os/exec"
	"testing"
	"time"
)

// BenchmarkCheck measures checking a real dynamically linked program
// (/usr/bin/ls, or the go command) against glibc 2.31, and as the baseline
// in the same run what the check replaces by hand: readelf for the
// program headers, the dynamic section and the versioned symbols. It
// reports baseline/check as x-faster.
func BenchmarkCheck(b *testing.B) {
	prog := "/usr/bin/ls"
	readelf, err := exec.LookPath("readelf")
	if err != nil {
		b.Skip("readelf (binutils) not installed")
	}
	u := nativeTarget(b)
	u.Glibc = "2.31"
	var check, base time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := Check(prog, u); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := exec.Command(readelf, "-W", "-l", "-d", "--dyn-syms", prog).Run(); err != nil {
			b.Fatal(err)
		}
		check, base = check+t1.Sub(t0), base+time.Since(t1)
	}
	b.ReportMetric(float64(check.Nanoseconds())/float64(b.N), "check-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N), "readelf-ns/op")
	b.ReportMetric(float64(base)/float64(check), "x-faster")
}
