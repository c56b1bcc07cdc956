package bench

import (
	"bytes"
	"strings"
	"testing"
)

func memReport(copyMBps ...float64) *Report {
	return &Report{Schema: Schema, Mem: &MemResult{Kernels: []MemKernel{{Kernel: "copy", Procs: 1, RunsMBps: copyMBps}},
		LatencyRunsNs: []float64{100, 101, 99, 100, 102, 98, 100, 101, 99, 100}}}
}

// TestCompare: a clear change in one quantity is significant and in the
// right direction; an unchanged one is "~".
func TestCompare(t *testing.T) {
	a := memReport(1000, 1010, 990, 1005, 995, 1002, 998, 1001, 999, 1003)
	b := memReport(1500, 1510, 1490, 1505, 1495, 1502, 1498, 1501, 1499, 1503)
	cs := CompareSeries(a, b)
	if len(cs) != 2 {
		t.Fatalf("%d comparisons: %+v", len(cs), cs)
	}
	cp, lat := cs[0], cs[1]
	if cp.Name != "Mem/copy/procs=1" || !cp.Significant || !cp.Better || cp.Delta < 0.49 || cp.Delta > 0.51 || cp.P >= 0.05 {
		t.Errorf("copy: %+v", cp)
	}
	if cp.A.Lo > 1000 || cp.A.Hi < 1000 || cp.A.Center < 999 || cp.A.Center > 1002 {
		t.Errorf("copy A summary: %+v", cp.A)
	}
	if lat.Significant || lat.Delta != 0 {
		t.Errorf("latency unchanged, yet %+v", lat)
	}
	var out bytes.Buffer
	if err := Compare(&out, a, b); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "+50.0% better") || !strings.Contains(s, "Mem/latency") || !strings.Contains(s, " ~ ") {
		t.Errorf("compare printed:\n%s", s)
	}
	// Slower latency is worse even though the number went up.
	c := memReport(1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)
	c.Mem.LatencyRunsNs = []float64{150, 151, 149, 150, 152, 148, 150, 151, 149, 150}
	if l := CompareSeries(a, c)[1]; !l.Significant || l.Better {
		t.Errorf("latency 100 -> 150 ns: %+v", l)
	}
	if err := Compare(&out, a, &Report{Schema: Schema}); err == nil {
		t.Error("two reports with nothing in common compared without an error")
	}
}

// TestReadReportRefusesOtherJSON: a JSON file that is no bench report is
// refused, naming what it wanted.
func TestReadReportRefusesOtherJSON(t *testing.T) {
	_, err := ReadReport(strings.NewReader(`{"schema":"something/2"}`))
	if err == nil || !strings.Contains(err.Error(), Schema) {
		t.Errorf("got %v", err)
	}
}
