package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchmath"
)

// Comparison is one quantity measured in both reports.
type Comparison struct {
	Name, Unit string
	A, B       benchmath.Summary // medians with 95% confidence intervals
	// Delta is (B-A)/A of the medians; P the Mann-Whitney U test's
	// p-value; Significant whether P is below 0.05 with enough samples.
	Delta       float64
	P           float64
	Significant bool
	// Better says whether B improves on A, when Significant.
	Better bool
	// NA and NB are the sample counts.
	NA, NB int
}

// CompareSeries compares every quantity present in both reports, in a's
// order, making no assumption about the distributions (benchmath's
// AssumeNothing: medians, order-statistic confidence intervals, U test).
func CompareSeries(a, b *Report) []Comparison {
	bs := map[string]Series{}
	for _, s := range b.Series() {
		bs[s.Name+" "+s.Unit] = s
	}
	var out []Comparison
	th := &benchmath.DefaultThresholds
	for _, sa := range a.Series() {
		sb, ok := bs[sa.Name+" "+sa.Unit]
		if !ok {
			continue
		}
		x, y := benchmath.NewSample(sa.Values, th), benchmath.NewSample(sb.Values, th)
		c := Comparison{Name: sa.Name, Unit: sa.Unit, NA: len(sa.Values), NB: len(sb.Values),
			A: benchmath.AssumeNothing.Summary(x, 0.95), B: benchmath.AssumeNothing.Summary(y, 0.95)}
		cmp := benchmath.AssumeNothing.Compare(x, y)
		c.P = cmp.P
		c.Significant = len(cmp.Warnings) == 0 && cmp.P < cmp.Alpha
		if c.A.Center != 0 {
			c.Delta = (c.B.Center - c.A.Center) / c.A.Center
		}
		c.Better = c.Significant && (c.B.Center > c.A.Center) == sa.Higher
		out = append(out, c)
	}
	return out
}

// Compare prints what changed from a to b: medians with their 95%
// confidence intervals, the change, and its significance ("~" when the
// samples cannot tell the two apart, or are too few to).
func Compare(w io.Writer, a, b *Report) error {
	fmt.Fprintf(w, "A: %s, %s, %s, %s\n", a.Start.BoardName(), orDash(a.Start.Kernel), a.Start.GoVersion, a.Start.Time.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "B: %s, %s, %s, %s\n\n", b.Start.BoardName(), orDash(b.Start.Kernel), b.Start.GoVersion, b.Start.Time.Format("2006-01-02 15:04"))
	cs := CompareSeries(a, b)
	if len(cs) == 0 {
		return fmt.Errorf("the two reports measured nothing in common (run the same benchmarks on both)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tunit\tA median\t95% CI\tB median\t95% CI\tchange\tp")
	for _, c := range cs {
		change := "~"
		if c.Significant {
			change = fmt.Sprintf("%+.1f%%", 100*c.Delta)
			if c.Better {
				change += " better"
			} else {
				change += " worse"
			}
		}
		p := fmt.Sprintf("p=%.3f n=%d+%d", c.P, c.NA, c.NB)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Unit, num(c.A.Center), ci(c.A),
			num(c.B.Center), ci(c.B), change, p)
	}
	tw.Flush()
	var few []string
	for _, c := range cs {
		if !c.Significant && len(c.A.Warnings)+len(c.B.Warnings) > 0 {
			few = append(few, c.Name+" "+c.Unit)
		}
	}
	if len(few) > 0 {
		fmt.Fprintf(w, "\ntoo few samples for an interval or a significant change (\"?\", \"~\"): %s\n", strings.Join(few, ", "))
	}
	return nil
}

// ci prints a summary's confidence interval as the larger distance from
// the median, in percent; "?" when there are too few samples for one.
func ci(s benchmath.Summary) string {
	if math.IsInf(s.Lo, 0) || math.IsInf(s.Hi, 0) || math.IsNaN(s.Lo) || math.IsNaN(s.Hi) || s.Center == 0 {
		return "?"
	}
	return fmt.Sprintf("±%.1f%%", 100*max(s.Hi-s.Center, s.Center-s.Lo)/math.Abs(s.Center))
}
