package gpu

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pitstop-go/pitstop/internal/units"
)

// WriteInfo prints info for people.
func WriteInfo(w io.Writer, info *Info) error {
	ew := &errWriter{w: w}
	ew.printf("Vulkan loader %s (%s), instance API %s, %d device(s)\n",
		info.Loader.Version, info.Loader.Path, info.InstanceVersion, len(info.Devices))
	for _, d := range info.Devices {
		ew.printf("\nGPU%d: %s (%s)\n", d.Index, d.Name, d.Type)
		drv := d.DriverName
		if drv == "" {
			drv = "driver"
		}
		ew.printf("  driver      %s %s", drv, d.DriverVersion)
		if d.DriverInfo != "" {
			ew.printf(" (%s)", d.DriverInfo)
		}
		ew.printf("\n  API         %s   vendor 0x%04x device 0x%04x\n", d.APIVersion, d.VendorID, d.DeviceID)
		for _, q := range d.QueueFamilies {
			ew.printf("  queue family %d: %d queue(s), %s\n", q.Index, q.Queues, strings.Join(q.Flags, " "))
		}
		for _, h := range d.MemoryHeaps {
			ew.printf("  memory heap %d: %s %s\n", h.Index, units.HumanSize(h.Size), strings.Join(h.Flags, " "))
		}
		for _, t := range d.MemoryTypes {
			ew.printf("  memory type %d: heap %d, %s\n", t.Index, t.Heap, orNone(t.Flags))
		}
		c := d.Compute
		ew.printf("  compute     workgroup size ≤ %d×%d×%d, ≤ %d invocations; count ≤ %d×%d×%d; shared memory %s\n",
			c.MaxWorkGroupSize[0], c.MaxWorkGroupSize[1], c.MaxWorkGroupSize[2], c.MaxWorkGroupInvocations,
			c.MaxWorkGroupCount[0], c.MaxWorkGroupCount[1], c.MaxWorkGroupCount[2], units.HumanSize(uint64(c.MaxSharedMemorySize)))
	}
	return ew.err
}

func orNone(f []string) string {
	if len(f) == 0 {
		return "(no flags)"
	}
	return strings.Join(f, " ")
}

// WriteBench prints a bench for people: per kernel a table of sizes with
// the CPU's time and rate, the device's three phases, its end-to-end time
// and rate, the relative error, and the crossover.
func WriteBench(w io.Writer, b *Bench) error {
	ew := &errWriter{w: w}
	ew.printf("device %s (%s), buffers in %s memory; CPU: %d goroutines (GOMAXPROCS); median of %d runs\n",
		b.Device, b.Driver, orNone(b.MemoryUsed), b.Threads, b.Reps)
	for _, k := range b.Kernels {
		ew.printf("\n%s\n", strings.ToUpper(k.Name))
		tw := tabwriter.NewWriter(ew, 2, 8, 2, ' ', tabwriter.AlignRight)
		if k.Name == KernelSAXPY {
			fmt.Fprintln(tw, "n\tCPU\tCPU GFLOP/s\tupload\tGB/s\tdispatch\tkernel GB/s\tread-back\tGB/s\tGPU total\tGPU GFLOP/s\trel err\t")
		} else {
			fmt.Fprintln(tw, "n×n\tCPU\tCPU GFLOP/s\tupload\tGB/s\tdispatch\tGFLOP/s\tread-back\tGB/s\tGPU total\tGPU GFLOP/s\trel err\t")
		}
		for _, r := range k.Runs {
			mid := r.KernelGBps()
			if k.Name != KernelSAXPY {
				mid = r.DispatchGFLOPS()
			}
			mark := ""
			if !r.OK {
				mark = " OVER"
			}
			fmt.Fprintf(tw, "%d\t%s\t%.2f\t%s\t%.2f\t%s\t%.2f\t%s\t%.2f\t%s\t%.2f\t%.1e%s\t\n", r.Size,
				dur(r.CPUNs), r.CPUGFLOPS(), dur(r.UploadNs), r.UploadGBps(), dur(r.DispatchNs), mid,
				dur(r.ReadbackNs), r.ReadbackGBps(), dur(r.GPUNs), r.GPUGFLOPS(), r.RelErr, mark)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if k.Crossover > 0 {
			ew.printf("crossover: from n=%d up, the GPU end to end beat the CPU at every size measured\n", k.Crossover)
		} else {
			ew.printf("crossover: none: the CPU won (or tied) at the largest size measured\n")
		}
	}
	if b.OK {
		ew.printf("\nresults match the CPU's within relative error %g\n", b.Tolerance)
	} else {
		ew.printf("\nFAIL: some results differ from the CPU's by more than relative error %g (rows marked OVER)\n", b.Tolerance)
	}
	return ew.err
}

func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }
