package bench

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/pitstop-go/pitstop/internal/units"
)

// The HTML report is one file with no scripts and nothing fetched: the
// charts are SVG drawn here, so it opens the same offline, from a mail
// attachment or years later.

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

type htmlSection struct {
	Title  string
	Note   string
	Charts []template.HTML
}

type htmlPage struct {
	R        *Report
	Text     string
	Sections []htmlSection
}

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pitstop bench: {{.R.Start.BoardName}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table.env{border-collapse:collapse}table.env td,table.env th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{background:#fafafa;border:1px solid #ddd}
.note{color:#555}details pre{font-size:12px;overflow-x:auto;background:#f4f4f4;padding:8px}
</style></head><body>
<h1>pitstop bench: {{.R.Start.BoardName}}</h1>
<table class="env">
<tr><th></th><th>start</th><th>end</th></tr>
<tr><td>time</td><td>{{.R.Start.Time.Format "2006-01-02 15:04:05 MST"}}</td><td>{{.R.End.Time.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><td>kernel</td><td colspan="2">{{.R.Start.Kernel}}</td></tr>
<tr><td>Go</td><td colspan="2">{{.R.Start.GoVersion}} {{.R.Start.GOOS}}/{{.R.Start.GOARCH}}, {{.R.Start.CPUs}} CPUs</td></tr>
<tr><td>governor</td><td>{{or .R.Start.Governor "-"}}</td><td>{{or .R.End.Governor "-"}}</td></tr>
<tr><td>state</td><td>{{.R.Start.Line}}</td><td>{{.R.End.Line}}</td></tr>
<tr><td>run</td><td colspan="2">{{printf "%.0f" .R.Seconds}}s{{if .R.Quick}} (quick){{end}}</td></tr>
</table>
{{range .Sections}}<h2>{{.Title}}</h2>{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>
{{end}}
<details><summary>the table</summary><pre>{{.Text}}</pre></details>
</body></html>
`))

// WriteHTML writes the report as one self-contained HTML page with charts.
func (r *Report) WriteHTML(w io.Writer) error {
	var text strings.Builder
	if err := r.WriteText(&text); err != nil {
		return err
	}
	p := htmlPage{R: r, Text: text.String()}
	if m := r.Mem; m != nil {
		var labels []string
		var vals []float64
		for _, k := range m.Kernels {
			labels, vals = append(labels, fmt.Sprintf("%s P=%d", k.Kernel, k.Procs)), append(vals, k.BestMBps)
		}
		p.Sections = append(p.Sections, htmlSection{Title: "Memory bandwidth",
			Note:   fmt.Sprintf("STREAM kernels over 3 arrays of %s, best of %d, at each GOMAXPROCS (P); copy is Go's copy, copy-nt the same with non-temporal stores (%s); pointer-chase latency %.1f ns per load.", units.HumanSize(m.ArrayBytes), m.Runs, orDash(m.NTStores), m.LatencyNs),
			Charts: []template.HTML{hbars("best MB/s", labels, vals)}})
	}
	if g := r.GC; g != nil {
		var labels []string
		var frac, p99 []float64
		var hists []template.HTML
		for _, c := range g.Configs() {
			l := fmt.Sprintf("%s %s P=%d", c.Workload, c.Setting, c.Procs)
			var f, q []float64
			var bs []Bucket
			for _, x := range c.Runs {
				f, q, bs = append(f, 100*x.GCCPUFraction), append(q, x.PauseP99Ns/1e3), append(bs, x.Pauses...)
			}
			labels, frac, p99 = append(labels, l), append(frac, median(f)), append(p99, median(q))
			hists = append(hists, pauseHist(l, bs))
		}
		p.Sections = append(p.Sections, htmlSection{Title: "Garbage collector",
			Note:   fmt.Sprintf("Each configuration ran in a process of its own for %.1fs per run (P is GOMAXPROCS); GC CPU and pauses from runtime/metrics.", g.Seconds),
			Charts: append([]template.HTML{hbars("GC CPU %", labels, frac), hbars("pause p99 µs", labels, p99)}, hists...)})
	}
	if len(r.IO) > 0 {
		var labels []string
		var unpack, walk, rr, seq, fs, p99 []float64
		for _, o := range r.IO {
			labels = append(labels, o.Dir+" ("+o.Device+")")
			unpack, walk, rr = append(unpack, o.UnpackFilesPerSec), append(walk, median(o.WalkFilesPerSec)), append(rr, median(o.RandReadIOPS))
			seq, fs, p99 = append(seq, o.SeqWriteMBps), append(fs, median(o.FsyncWriteIOPS)), append(p99, o.FsyncP99Ns/1e3)
		}
		p.Sections = append(p.Sections, htmlSection{Title: "Storage: the module-cache workload",
			Charts: []template.HTML{hbars("unpack files/s", labels, unpack), hbars("walk files/s", labels, walk),
				hbars("random 4 KiB read IOPS", labels, rr), hbars("sequential write MB/s", labels, seq),
				hbars("fsync'd 4 KiB write IOPS", labels, fs), hbars("fsync p99 µs", labels, p99)}})
	}
	if sc := r.Sched; sc != nil {
		var ops, temp, freq []line
		for i, run := range sc.Runs {
			name := fmt.Sprintf("GOMAXPROCS=%d", run.Procs)
			o, t, f := line{Name: name, Color: palette[i%len(palette)]}, line{Name: name, Color: palette[i%len(palette)]}, line{Name: name, Color: palette[i%len(palette)]}
			for _, s := range run.Samples {
				o.X, o.Y = append(o.X, s.T), append(o.Y, s.OpsPerSec)
				if s.TempC != nil {
					t.X, t.Y = append(t.X, s.T), append(t.Y, *s.TempC)
				}
				if s.FreqMHz > 0 {
					f.X, f.Y = append(f.X, s.T), append(f.Y, s.FreqMHz)
				}
			}
			ops, temp, freq = append(ops, o), append(temp, t), append(freq, f)
		}
		charts := []template.HTML{lines("throughput (work units/s) over seconds", ops)}
		charts = append(charts, lines("temperature °C over seconds", temp), lines("CPU 0 frequency MHz over seconds", freq))
		p.Sections = append(p.Sections, htmlSection{Title: "Throughput under heat",
			Note: fmt.Sprintf("Four CPU-bound goroutines per GOMAXPROCS, sampled every %.0f ms.", sc.IntervalMs), Charts: charts})
	}
	return pageTmpl.Execute(w, p)
}

func esc(s string) string { return html.EscapeString(s) }

// hbars draws one horizontal bar per label.
func hbars(title string, labels []string, vals []float64) template.HTML {
	const w, lw, bh = 540, 300, 18
	h := 30 + len(labels)*(bh+6) + 10
	hi := 0.0
	for _, v := range vals {
		hi = max(hi, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`, w, h, esc(title))
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="13" font-weight="bold">%s</text>`, esc(title))
	for i, l := range labels {
		y := 30 + i*(bh+6)
		bw := 0.0
		if hi > 0 {
			bw = vals[i] / hi * float64(w-lw-50)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end">%s</text>`, lw-6, y+13, esc(l))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>`, lw, y, bw, bh, palette[0], esc(l), num(vals[i]))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%s</text>`, float64(lw)+bw+4, y+13, num(vals[i]))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// pauseHist draws a pause histogram: counts over log-spaced buckets.
func pauseHist(title string, bs []Bucket) template.HTML {
	const w, h, pad = 400, 170, 30
	counts := map[float64]uint64{}
	for _, x := range bs {
		counts[x.HiNs] += x.Count
	}
	var keys []float64
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="pauses: %s">`, w, h, esc(title))
	fmt.Fprintf(&b, `<text x="8" y="16" font-size="12" font-weight="bold">pauses: %s</text>`, esc(title))
	if len(keys) == 0 {
		b.WriteString(`<text x="20" y="80" font-size="12">no GC pauses</text></svg>`)
		return template.HTML(b.String())
	}
	lo, hi := math.Log10(keys[0]), math.Log10(keys[len(keys)-1])
	if hi-lo < 1 {
		hi = lo + 1
	}
	var top uint64
	for _, c := range counts {
		top = max(top, c)
	}
	x := func(ns float64) float64 { return pad + (math.Log10(ns)-lo)/(hi-lo)*(w-2*pad) }
	base := float64(h - pad)
	for _, k := range keys {
		bh := float64(counts[k]) / float64(top) * (base - 30)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="6" height="%.1f" fill="%s"><title>≤%s: %d</title></rect>`, x(k)-3, base-bh, bh, palette[1], dur(k), counts[k])
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="#888"/>`, pad, base, w-pad, base)
	for e := math.Ceil(lo); e <= math.Floor(hi); e++ {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%s</text>`, x(math.Pow(10, e)), base+14, dur(math.Pow(10, e)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

type line struct {
	Name, Color string
	X, Y        []float64
}

// lines draws series over a shared x axis, with a legend.
func lines(title string, ls []line) template.HTML {
	const w, h, pad = 540, 260, 50
	var xs, ys []float64
	for _, l := range ls {
		xs, ys = append(xs, l.X...), append(ys, l.Y...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s">`, w, h, esc(title))
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="13" font-weight="bold">%s</text>`, esc(title))
	if len(xs) == 0 {
		b.WriteString(`<text x="20" y="100" font-size="12">not exposed by this machine</text></svg>`)
		return template.HTML(b.String())
	}
	x0, x1, y0, y1 := slices.Min(xs), slices.Max(xs), slices.Min(ys), slices.Max(ys)
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y0, y1 = y0-1, y1+1
	}
	y0, y1 = y0-(y1-y0)*0.05, y1+(y1-y0)*0.05
	px := func(v float64) float64 { return pad + (v-x0)/(x1-x0)*(w-pad-20) }
	py := func(v float64) float64 { return h - pad + 10 - (v-y0)/(y1-y0)*(h-pad-40) }
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`, pad, h-pad+10, w-20, h-pad+10)
	fmt.Fprintf(&b, `<line x1="%d" y1="30" x2="%d" y2="%d" stroke="#888"/>`, pad, pad, h-pad+10)
	for i := range 5 {
		v := y0 + (y1-y0)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, pad-4, py(v)+3, num(v))
		t := x0 + (x1-x0)*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%.1fs</text>`, px(t), h-pad+24, t)
	}
	for i, l := range ls {
		if len(l.X) == 0 {
			continue
		}
		var pts []string
		for j := range l.X {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(l.X[j]), py(l.Y[j])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, l.Color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			pad+10+i*130, h-14, l.Color, pad+24+i*130, h-5, esc(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
