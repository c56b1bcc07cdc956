package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/pitstop-go/pitstop/internal/units"
)

// IOResult is the io benchmark on one directory: the module cache's
// workload on the device behind it.
type IOResult struct {
	Dir    string `json:"dir"`
	Device string `json:"device"` // host's device class: microSD, USB, NVMe, tmpfs, ...
	FSType string `json:"fstype,omitempty"`

	// Unpack writes Files files (TreeBytes in all) as a module zip's
	// extraction does, then syncs the filesystem; the rates include the
	// sync.
	Files             int     `json:"files"`
	TreeBytes         int64   `json:"tree_bytes"`
	UnpackFilesPerSec float64 `json:"unpack_files_per_sec"`
	UnpackMBps        float64 `json:"unpack_mbps"`
	// Walk lists and lstats the tree, as go list and go build's staleness
	// checks do; one rate per walk.
	WalkFilesPerSec []float64 `json:"walk_files_per_sec"`
	// RandRead reads 4 KiB blocks at random aligned offsets of a
	// RandReadFileBytes file, one at a time, with O_DIRECT where the
	// filesystem allows (RandReadDirect) so that the page cache does not
	// answer; one rate per fifth of the run.
	RandReadFileBytes int64     `json:"randread_file_bytes"`
	RandReadDirect    bool      `json:"randread_direct"`
	RandReadIOPS      []float64 `json:"randread_iops"`
	// SeqWrite writes SeqWriteBytes in 1 MiB blocks and fsyncs.
	SeqWriteBytes int64   `json:"seqwrite_bytes"`
	SeqWriteMBps  float64 `json:"seqwrite_mbps"`
	// FsyncWrite creates new 4 KiB files, each written, fsync'd and
	// closed, as the go command writes a module's .info, .mod and .zip
	// into the cache (a new file, fsync, then rename); one rate per fifth
	// of the run and each file's create+write+fsync+close latency.
	FsyncWriteIOPS []float64 `json:"fsyncwrite_iops"`
	FsyncP50Ns     float64   `json:"fsync_p50_ns"`
	FsyncP99Ns     float64   `json:"fsync_p99_ns"`
	FsyncMaxNs     float64   `json:"fsync_max_ns"`
}

// NoSpaceError is a directory with less free space than the io benchmark
// writes.
type NoSpaceError struct {
	Dir        string
	Free, Need int64
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("%s has %s free; the io benchmark writes %s there: free some space or measure another directory",
		e.Dir, units.HumanSize(e.Free), units.HumanSize(e.Need))
}

// DirError is a directory the io benchmark cannot measure: missing, not
// a directory, or unreadable.
type DirError struct {
	Dir string
	Err error
}

func (e *DirError) Error() string { return fmt.Sprintf("io directory %s: %v", e.Dir, e.Err) }
func (e *DirError) Unwrap() error { return e.Err }

// ioPlan is the sizes and durations of one io run.
type ioPlan struct {
	files          int
	randFile       int64
	seqFile        int64
	fsyncFiles     int // at most this many new files in the fsync phase
	randDur, fsDur time.Duration
	walks          int
}

func newIOPlan(quick bool) ioPlan {
	if quick {
		return ioPlan{files: 400, randFile: 8 << 20, seqFile: 8 << 20, fsyncFiles: 1000, randDur: 300 * time.Millisecond, fsDur: 300 * time.Millisecond, walks: 3}
	}
	return ioPlan{files: 3000, randFile: 64 << 20, seqFile: 64 << 20, fsyncFiles: 4000, randDur: 2 * time.Second, fsDur: 2 * time.Second, walks: 3}
}

// treeFiles returns the module-shaped tree: relative paths and sizes,
// the same for every run. Sizes spread as Go modules' files do: most a few
// KiB, a long tail to 1 MiB (testdata, generated tables).
func treeFiles(n int) (paths []string, sizes []int64) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range n {
		mod, pkg := i/150, (i/15)%10
		p := fmt.Sprintf("example.com/org%d/mod%d@v1.%d.0/pkg%d/file%d.go", mod%7, mod, mod%5, pkg, i)
		var size int64
		if rng.IntN(100) < 3 {
			size = 64<<10 + rng.Int64N(960<<10)
		} else {
			// log-uniform between 200 B and 64 KiB: median about 3.6 KiB
			size = int64(200 * math.Pow(float64(64<<10)/200, rng.Float64()))
		}
		paths, sizes = append(paths, p), append(sizes, size)
	}
	return paths, sizes
}

// IONeed is the free space the io benchmark needs in a directory.
func IONeed(quick bool) int64 {
	p := newIOPlan(quick)
	_, sizes := treeFiles(p.files)
	var tree int64
	for _, s := range sizes {
		tree += s
	}
	need := tree + int64(p.files)*4096 + p.randFile + p.seqFile + int64(p.fsyncFiles)*4096
	return need + need/10
}

// RunIO runs the io benchmark on each of cfg.Dirs in turn.
func RunIO(ctx context.Context, cfg Config) ([]IOResult, error) {
	dirs := slices.Clone(cfg.Dirs)
	if len(dirs) == 0 {
		dirs = []string{os.TempDir()}
	}
	need := IONeed(cfg.Quick)
	// Check every directory before writing to any.
	for i, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, &DirError{d, err}
		}
		dirs[i] = abs
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, &DirError{abs, errors.Unwrap(err)}
		}
		if !fi.IsDir() {
			return nil, &DirError{abs, errors.New("not a directory")}
		}
		var st unix.Statfs_t
		if err := unix.Statfs(abs, &st); err != nil {
			return nil, &DirError{abs, err}
		}
		if free := int64(st.Bavail) * int64(st.Bsize); free < need {
			return nil, &NoSpaceError{Dir: abs, Free: free, Need: need}
		}
	}
	var out []IOResult
	for _, d := range dirs {
		r, err := runIODir(ctx, cfg, d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func runIODir(ctx context.Context, cfg Config, dir string) (res IOResult, err error) {
	p := newIOPlan(cfg.Quick)
	res = IOResult{Dir: dir, Device: "unknown", RandReadFileBytes: p.randFile, SeqWriteBytes: p.seqFile}
	if s, err := cfg.root().StorageOf(dir); err == nil {
		res.Device, res.FSType = string(s.Class), s.Mount.FSType
	}
	tmp, err := os.MkdirTemp(dir, ".pitstop-bench-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = rerr
		}
	}()

	cfg.logf("io: %s (%s): unpacking %d files", dir, res.Device, p.files)
	tree := filepath.Join(tmp, "mod")
	if err := unpack(ctx, tree, p.files, &res); err != nil {
		return res, err
	}
	cfg.logf("io: %s: walking the tree %d times", dir, p.walks)
	for range p.walks {
		t0 := time.Now()
		n := 0
		err := filepath.WalkDir(tree, func(_ string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := d.Info(); err != nil {
				return err
			}
			n++
			return ctx.Err()
		})
		if err != nil {
			return res, err
		}
		res.WalkFilesPerSec = append(res.WalkFilesPerSec, float64(n)/time.Since(t0).Seconds())
	}

	cfg.logf("io: %s: random 4 KiB reads of a %s file for %v", dir, units.HumanSize(p.randFile), p.randDur)
	rf := filepath.Join(tmp, "randread")
	if err := writeFile(ctx, rf, p.randFile); err != nil {
		return res, err
	}
	if res.RandReadIOPS, res.RandReadDirect, err = RandRead(ctx, rf, p.randDur); err != nil {
		return res, err
	}
	if err := os.Remove(rf); err != nil {
		return res, err
	}

	cfg.logf("io: %s: sequential write of %s with fsync", dir, units.HumanSize(p.seqFile))
	t0 := time.Now()
	if err := writeFile(ctx, filepath.Join(tmp, "seq"), p.seqFile); err != nil {
		return res, err
	}
	res.SeqWriteMBps = float64(p.seqFile) / time.Since(t0).Seconds() / 1e6
	if err := os.Remove(filepath.Join(tmp, "seq")); err != nil {
		return res, err
	}

	cfg.logf("io: %s: new 4 KiB files written and fsync'd for %v (at most %d)", dir, p.fsDur, p.fsyncFiles)
	lat, iops, err := FsyncWrite(ctx, filepath.Join(tmp, "fsync"), p.fsyncFiles, p.fsDur)
	if err != nil {
		return res, err
	}
	res.FsyncWriteIOPS = iops
	slices.Sort(lat)
	res.FsyncP50Ns, res.FsyncP99Ns, res.FsyncMaxNs = pct(lat, 0.5), pct(lat, 0.99), pct(lat, 1)
	return res, nil
}

// pct is quantile q of sorted durations, in nanoseconds.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return float64(sorted[min(max(i, 0), len(sorted)-1)].Nanoseconds())
}

func unpack(ctx context.Context, tree string, files int, res *IOResult) error {
	paths, sizes := treeFiles(files)
	buf := make([]byte, 1<<20)
	fill(buf, 1)
	made := map[string]bool{}
	t0 := time.Now()
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := filepath.Join(tree, p)
		if d := filepath.Dir(full); !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			made[d] = true
		}
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = f.Write(buf[:sizes[i]])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		res.TreeBytes += sizes[i]
	}
	d, err := os.Open(tree)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	d.Close()
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", tree, err)
	}
	secs := time.Since(t0).Seconds()
	res.Files = files
	res.UnpackFilesPerSec = float64(files) / secs
	res.UnpackMBps = float64(res.TreeBytes) / secs / 1e6
	return nil
}

// writeFile writes size bytes of random data in 1 MiB blocks and fsyncs.
func writeFile(ctx context.Context, name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	fill(buf, 2)
	for n := int64(0); n < size; n += int64(len(buf)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// aligned returns a 4 KiB buffer aligned to 4 KiB, as O_DIRECT needs.
func aligned() []byte {
	b := make([]byte, 8192)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & 4095)
	return b[off : off+4096]
}

// RandRead reads random 4 KiB-aligned blocks of the file name for d, one
// at a time, with O_DIRECT where the filesystem allows. It returns the
// rate in each fifth of d and whether the reads were direct.
func RandRead(ctx context.Context, name string, d time.Duration) ([]float64, bool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, false, err
	}
	blocks := fi.Size() / 4096
	if blocks == 0 {
		return nil, false, fmt.Errorf("%s is smaller than 4 KiB", name)
	}
	direct := true
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		direct = false
		if fd, err = unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, false, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	defer unix.Close(fd)
	buf := aligned()
	rng := rand.New(rand.NewPCG(11, 12))
	var rates []float64
	for range 5 {
		n, t0 := 0, time.Now()
		for end := t0.Add(d / 5); n%64 != 0 || time.Now().Before(end); n++ {
			if n%64 == 0 && ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			off := rng.Int64N(blocks) * 4096
			if _, err := unix.Pread(fd, buf, off); err != nil {
				if direct && errors.Is(err, unix.EINVAL) {
					// A filesystem that accepts O_DIRECT at open but
					// not on read: read through the page cache.
					unix.Close(fd)
					if fd, err = unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
						return nil, false, &fs.PathError{Op: "open", Path: name, Err: err}
					}
					direct = false
					continue
				}
				return nil, false, &fs.PathError{Op: "read", Path: name, Err: err}
			}
		}
		rates = append(rates, float64(n)/time.Since(t0).Seconds())
	}
	return rates, direct, nil
}

// FsyncWrite creates new files in the directory dir (made here, removed
// afterwards), each opened with O_CREAT|O_EXCL, given 4 KiB with one
// write, fsync'd and closed, one after another: the module cache's way of
// writing (the go command writes each downloaded file new and fsyncs it
// before renaming it into place). It runs for d or until files files are
// written, in five equal parts (each d/5 or files/5 files), and returns
// every file's create-to-close latency and each part's rate in files/s.
func FsyncWrite(ctx context.Context, dir string, files int, d time.Duration) ([]time.Duration, []float64, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	buf := make([]byte, 4096)
	fill(buf, 3)
	var lat []time.Duration
	var rates []float64
	per := max(files/5, 1)
	for part := range 5 {
		n, t0 := 0, time.Now()
		for end := t0.Add(d / 5); n < per && time.Now().Before(end); n++ {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			s := time.Now()
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("f%d.%d", part, n)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return nil, nil, err
			}
			_, err = f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, nil, err
			}
			lat = append(lat, time.Since(s))
		}
		rates = append(rates, float64(n)/time.Since(t0).Seconds())
	}
	return lat, rates, nil
}

// fill fills b with pseudo-random bytes (incompressible, for filesystems
// that compress), the same for the same seed.
func fill(b []byte, seed byte) {
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
}
