// Command local benchmarks pitstop's two local bulk writers against the
// raw tools doing the same work to the same disk, in one run, interleaved:
//
//   - sync: `pitstop ramdisk sync` (Manager.Sync of a real tmpfs+overlay
//     ramdisk, crash-safe: staged, flushed, journaled, applied) of N new
//     4 KiB files, against `rsync -a` of the same kind of tree from a
//     tmpfs to the same disk followed by `sync -f` (syncfs of that disk;
//     what log2ram does, without crash safety). Needs root: it runs itself
//     again in a private mount namespace (unshare -m).
//   - install: `pitstop go install` (toolchain.Installer, verification
//     included: zip checks, h1: hash, checksum database) of a real
//     toolchain zip from a warm local proxy (internal/testupstream serving
//     it from memory, with its own checksum database), against a bare
//     `unzip -q` of the same zip to the same disk. Best of 3 each per
//     round, as issue 14 asks.
//
// Each round runs both sides, alternating which goes first; every timed
// run starts after a `sync`, so neither pays for the other's writeback.
// It prints each round, the median ratio, the median CPU-time ratio
// (user+system of pitstop's process against the tools'), the ratio of
// the best times (least disturbed by other load), and the load average.
//
//	go run ./bench/local                          # both, 5 rounds
//	go run ./bench/local -what sync -files 10000 -rounds 7
//	go run ./bench/local -what install -zip /path/to/v0.0.1-go1.22.5.linux-amd64.zip
//
// The toolchain zip defaults to go1.22.5 for this machine from the module
// cache (`GOTOOLCHAIN=go1.22.5 go version` puts it there). -dir chooses the
// disk (default /var/tmp: a disk, where /tmp may be a tmpfs).
// -cpuprofile writes a CPU profile of pitstop's side only.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/host"
	"github.com/pitstop-go/pitstop/internal/ramdisk"
	"github.com/pitstop-go/pitstop/internal/testupstream"
	"github.com/pitstop-go/pitstop/internal/toolchain"
)

var (
	what       = flag.String("what", "sync,install", "which benchmarks: sync, install or both (comma-separated)")
	rounds     = flag.Int("rounds", 5, "interleaved rounds (the median ratio is reported)")
	files      = flag.Int("files", 10000, "sync: new files per round")
	fileSize   = flag.Int("size", 4096, "sync: bytes per file")
	zipFile    = flag.String("zip", "", "install: a golang.org/toolchain zip (default: go1.22.5 for this machine from the module cache)")
	goVers     = flag.String("go", "1.22.5", "install: the Go version the zip holds")
	best       = flag.Int("best", 3, "install: runs per side and round (the best counts)")
	baseDir    = flag.String("dir", "/var/tmp", "the disk directory the benchmarks write under")
	cpuProfile = flag.String("cpuprofile", "", "write a CPU profile of pitstop's side to this file (sync: add .sync, install: .install)")
	only       = flag.String("only", "", "profile helper: run only pitstop's side (pitstop) or only the baseline (base)")
)

const nsEnv = "PITSTOP_BENCH_LOCAL_NS"

func main() {
	flag.Parse()
	for _, w := range strings.Split(*what, ",") {
		var err error
		switch strings.TrimSpace(w) {
		case "sync":
			err = benchSync()
		case "install":
			err = benchInstall()
		default:
			err = fmt.Errorf("-what %q: want sync, install or both", w)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/local:", err)
			os.Exit(1)
		}
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cpuNow is the CPU time (user+system) this process and its waited-for
// children have used: a figure the machine's load barely moves, printed
// beside the wall times, which it moves a lot.
func cpuNow() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(kids.Utime) + tv(kids.Stime)
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// profiled runs fn under the CPU profiler when -cpuprofile is set.
func profiled(suffix string, fn func() error) error {
	if *cpuProfile == "" {
		return fn()
	}
	f, err := os.OpenFile(*cpuProfile+suffix, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	// One profile per process: the last timed run of pitstop's side.
	f.Truncate(0)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// --- sync ---

func benchSync() error {
	if os.Getenv(nsEnv) != "1" {
		if os.Geteuid() != 0 {
			return fmt.Errorf("sync: needs root (it mounts a tmpfs and an overlay in a private mount namespace)")
		}
		for _, tool := range []string{"unshare", "rsync"} {
			if _, err := exec.LookPath(tool); err != nil {
				return fmt.Errorf("sync: needs %s (apt-get install %s)", tool, map[string]string{"unshare": "util-linux", "rsync": "rsync"}[tool])
			}
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		args := append([]string{"-m", "--propagation", "private", exe}, os.Args[1:]...)
		args = append(args, "-what", "sync")
		cmd := exec.Command("unshare", args...)
		cmd.Env = append(os.Environ(), nsEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	ctx := context.Background()
	base, err := os.MkdirTemp(*baseDir, "pitstop-bench-sync-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	cache := filepath.Join(base, "cache")
	src := filepath.Join(base, "src") // the baseline's tmpfs
	dst := filepath.Join(base, "rsynced")
	for _, d := range []string{cache, src, dst} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	size := uint64(*files)*uint64(*fileSize+4096)*uint64(*rounds+1) + 64<<20
	if err := syscall.Mount("tmpfs", src, "tmpfs", 0, "size="+strconv.FormatUint(size, 10)); err != nil {
		return fmt.Errorf("mounting a tmpfs for the baseline: %w", err)
	}
	defer syscall.Unmount(src, syscall.MNT_DETACH)
	m := &ramdisk.Manager{
		Root:       host.Live(),
		RunDir:     filepath.Join(base, "run"),
		ConfigFile: filepath.Join(base, "etc", "ramdisk.conf"),
		Log:        slog.New(slog.DiscardHandler),
		Out:        io.Discard,
	}
	if err := m.Enable(ctx, []ramdisk.Path{{Dir: cache, Size: size}}, 0); err != nil {
		return fmt.Errorf("enabling the ramdisk: %w", err)
	}
	defer m.Disable(ctx, nil, false)

	fmt.Printf("== sync: %d new files of %d bytes per round, disk %s, %d CPUs, load %s\n", *files, *fileSize, *baseDir, runtime.NumCPU(), loadavg())
	var rs roundTimes
	for r := 0; r < *rounds; r++ {
		sub := "r" + strconv.Itoa(r)
		if err := writeTree(filepath.Join(cache, sub)); err != nil {
			return err
		}
		if err := writeTree(filepath.Join(src, sub)); err != nil {
			return err
		}
		var pt, bt, pc, bc time.Duration
		pitstop := func() error {
			run("sync")
			start, c0 := time.Now(), cpuNow()
			defer func() { pc = cpuNow() - c0 }()
			err := profiled(".sync", func() error {
				recs, err := m.Sync(ctx, nil, "bench")
				if err == nil && (len(recs) != 1 || recs[0].Files != int64(*files)) {
					err = fmt.Errorf("sync wrote %+v, want %d files", recs, *files)
				}
				return err
			})
			pt = time.Since(start)
			return err
		}
		baseline := func() error {
			run("sync")
			start, c0 := time.Now(), cpuNow()
			defer func() { bc = cpuNow() - c0 }()
			if err := run("rsync", "-a", filepath.Join(src, sub)+"/", filepath.Join(dst, sub)+"/"); err != nil {
				return err
			}
			err := run("sync", "-f", dst)
			bt = time.Since(start)
			return err
		}
		first, second := pitstop, baseline
		if r%2 == 1 {
			first, second = baseline, pitstop
		}
		if *only == "pitstop" {
			first, second = pitstop, nil
		} else if *only == "base" {
			first, second = baseline, nil
		}
		for _, side := range []func() error{first, second} {
			if side == nil {
				continue
			}
			if err := side(); err != nil {
				return err
			}
		}
		if *only != "" {
			fmt.Printf("round %d: pitstop %v, rsync+sync %v\n", r+1, pt.Round(time.Millisecond), bt.Round(time.Millisecond))
			continue
		}
		rs.add(r, "pitstop ramdisk sync", "rsync -a + sync -f", pt, pc, bt, bc)
	}
	rs.report("sync", "rsync+sync")
	return nil
}

// writeTree writes the round's new files, 100 to a directory.
func writeTree(dir string) error {
	data := make([]byte, *fileSize)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for i := 0; i < *files; i++ {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		copy(data, strconv.Itoa(i))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// --- install ---

func benchInstall() error {
	ctx := context.Background()
	native, err := toolchain.DetectTarget(nil)
	if err != nil {
		return err
	}
	v, err := toolchain.ParseVersion(*goVers)
	if err != nil {
		return err
	}
	mv := toolchain.ModuleVersion(v, native)
	zp := *zipFile
	if zp == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return fmt.Errorf("go env GOMODCACHE: %v", err)
		}
		zp = filepath.Join(strings.TrimSpace(string(out)), "cache", "download", toolchain.ModulePath, "@v", mv+".zip")
	}
	data, err := os.ReadFile(zp)
	if err != nil {
		return fmt.Errorf("install: %v (get it with GOTOOLCHAIN=go%s go version, or pass -zip)", err, strings.TrimPrefix(*goVers, "go"))
	}
	if _, err := exec.LookPath("unzip"); err != nil {
		return fmt.Errorf("install: needs unzip (apt-get install unzip)")
	}
	up, err := testupstream.New(testupstream.Options{}, testupstream.Module{
		Path: toolchain.ModulePath, Version: mv, Zip: data,
		Files: map[string]string{"go.mod": "module golang.org/toolchain\n"},
	})
	if err != nil {
		return err
	}
	if err := up.Start(); err != nil {
		return err
	}
	defer up.Stop()
	env := goenv.Env{"GOPROXY": up.URL, "GOSUMDB": up.GOSUMDB}

	base, err := os.MkdirTemp(*baseDir, "pitstop-bench-install-")
	if err != nil {
		return err
	}
	defer toolchain.RemoveTree(base)
	fmt.Printf("== install: %s (%.1f MB) from a warm local proxy, disk %s, best of %d, %d CPUs, load %s\n",
		filepath.Base(zp), float64(len(data))/1e6, *baseDir, *best, runtime.NumCPU(), loadavg())

	var cpu time.Duration // of the last run
	pitstopOnce := func(i int) (time.Duration, error) {
		dir := filepath.Join(base, "layout"+strconv.Itoa(i))
		in := &toolchain.Installer{Layout: toolchain.DirLayout(dir), Env: env, Native: native}
		run("sync")
		start, c0 := time.Now(), cpuNow()
		var res *toolchain.Result
		err := profiled(".install", func() error {
			var err error
			res, err = in.Install(ctx, toolchain.Query{Kind: toolchain.QueryExact, Version: v, Text: v.Go()})
			return err
		})
		d := time.Since(start)
		cpu = cpuNow() - c0
		if err == nil && (res.Hash == "" || !res.Active) {
			err = fmt.Errorf("install did not verify and activate: %+v", res)
		}
		toolchain.RemoveTree(dir)
		return d, err
	}
	unzipOnce := func(i int) (time.Duration, error) {
		dir := filepath.Join(base, "unzip"+strconv.Itoa(i))
		run("sync")
		start, c0 := time.Now(), cpuNow()
		err := run("unzip", "-q", zp, "-d", dir)
		d := time.Since(start)
		cpu = cpuNow() - c0
		toolchain.RemoveTree(dir)
		return d, err
	}
	// bestOf returns the best wall time of -best runs and the least CPU
	// time among them.
	bestOf := func(f func(int) (time.Duration, error)) (time.Duration, time.Duration, error) {
		var b, bc time.Duration
		for i := 0; i < *best; i++ {
			d, err := f(i)
			if err != nil {
				return 0, 0, err
			}
			if b == 0 || d < b {
				b = d
			}
			if bc == 0 || cpu < bc {
				bc = cpu
			}
		}
		return b, bc, nil
	}
	var rs roundTimes
	for r := 0; r < *rounds; r++ {
		var pt, bt, pc, bc time.Duration
		var err error
		if *only != "base" {
			if r%2 == 0 {
				pt, pc, err = bestOf(pitstopOnce)
			}
		}
		if err == nil && *only != "pitstop" {
			bt, bc, err = bestOf(unzipOnce)
		}
		if err == nil && *only != "base" && r%2 == 1 {
			pt, pc, err = bestOf(pitstopOnce)
		}
		if err != nil {
			return err
		}
		if *only != "" {
			fmt.Printf("round %d: pitstop %v, unzip %v\n", r+1, pt.Round(time.Millisecond), bt.Round(time.Millisecond))
			continue
		}
		rs.add(r, "pitstop go install", "unzip", pt, pc, bt, bc)
	}
	rs.report("install", "unzip")
	return nil
}

// roundTimes collects pitstop's and the baseline's wall and CPU times, a round
// at a time, for the medians and bests the last line reports.
type roundTimes struct{ ratios, cpuRatios, pts, bts []float64 }

// add records round r (0-based) and prints it.
func (rs *roundTimes) add(r int, pitstop, base string, pt, pc, bt, bc time.Duration) {
	ratio, cpu := pt.Seconds()/bt.Seconds(), pc.Seconds()/bc.Seconds()
	rs.ratios, rs.cpuRatios = append(rs.ratios, ratio), append(rs.cpuRatios, cpu)
	rs.pts, rs.bts = append(rs.pts, pt.Seconds()), append(rs.bts, bt.Seconds())
	fmt.Printf("round %d: %s %6.3f s (cpu %.3f s)   %s %6.3f s (cpu %.3f s)   ratio %.2f (cpu %.2f)   load %s\n",
		r+1, pitstop, pt.Seconds(), pc.Seconds(), base, bt.Seconds(), bc.Seconds(), ratio, cpu, loadavg())
}

// report prints the medians and bests of what add recorded, if anything.
func (rs *roundTimes) report(what, base string) {
	if len(rs.ratios) == 0 {
		return
	}
	fmt.Printf("%s: median pitstop %.3f s, %s %.3f s, median ratio %.2f× (issue 14: at most 1.3×); median CPU-time ratio %.2f×; best %.3f s vs %.3f s (%.2f×)\n",
		what, median(rs.pts), base, median(rs.bts), median(rs.ratios), median(rs.cpuRatios), slices.Min(rs.pts), slices.Min(rs.bts), slices.Min(rs.pts)/slices.Min(rs.bts))
}
