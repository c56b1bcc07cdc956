package gpu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Companion exit codes: what pitstop-gpu exits with, and what
// `pitstop gpu` passes on.
const (
	ExitOK          = 0 // answered (and, for bench, every result within tolerance)
	ExitFailed      = 1 // a Vulkan call failed, or a bench result was off
	ExitUnavailable = 3 // no Vulkan here: no companion, no loader or no device
)

// CompanionFix is how to get the companion.
const CompanionFix = "build it with cgo and put it next to pitstop or on PATH: " +
	"CGO_ENABLED=1 go install github.com/pitstop-go/pitstop/cmd/pitstop-gpu@latest " +
	"(needs gcc and libvulkan-dev; docs/gpu.md says how to cross-build it for a Pi)"

// Companion finds and runs pitstop-gpu. The zero value looks next to the
// running executable, then on PATH.
type Companion struct {
	// Path is the companion to run; empty means FindCompanion's answer.
	Path string
	// Env is the companion's environment; nil means pitstop's own.
	Env []string
}

// FindCompanion returns pitstop-gpu next to the running executable
// (symbolic links resolved), or else the one on PATH.
func FindCompanion() (string, error) {
	var dir string
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		dir = filepath.Dir(exe)
		p := filepath.Join(dir, CompanionName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(CompanionName); err == nil {
		return p, nil
	}
	msg := CompanionName + " (Vulkan through cgo) is not installed: not next to pitstop"
	if dir != "" {
		msg += " (" + dir + ")"
	}
	return "", &Error{Problem{Kind: NoCompanion, Message: msg + " nor on PATH", Fix: CompanionFix}}
}

// Query runs the companion with args and returns its reply: a Problem in
// the reply comes back as an *Error.
func (c Companion) Query(ctx context.Context, args ...string) (*Reply, error) {
	path := c.Path
	if path == "" {
		p, err := FindCompanion()
		if err != nil {
			return nil, err
		}
		path = p
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = c.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep Reply
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Schema != Schema {
		why := strings.TrimSpace(stderr.String())
		if runErr != nil {
			why = strings.TrimSpace(runErr.Error() + ": " + why)
		}
		if why == "" {
			why = fmt.Sprintf("printed %q, not a %s reply", firstLine(stdout.String()), Schema)
		}
		return nil, fmt.Errorf("%s %s: %s", path, strings.Join(args, " "), why)
	}
	if rep.Problem != nil {
		return &rep, &Error{*rep.Problem}
	}
	return &rep, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// Info asks the companion for the loader, instance and devices.
func (c Companion) Info(ctx context.Context) (*Info, error) {
	rep, err := c.Query(ctx, "info")
	if err != nil {
		return nil, err
	}
	if rep.Info == nil {
		return nil, errors.New(CompanionName + " info answered without an info object")
	}
	return rep.Info, nil
}

// FormatSizes writes sizes as the comma-separated list ParseSizes reads.
func FormatSizes(sizes []int) string {
	s := make([]string, len(sizes))
	for i, n := range sizes {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// ParseSizes reads a comma-separated list of whole numbers (1024,65536).
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("sizes %q: want comma-separated whole numbers such as 1024,65536", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// BenchArgs are the companion's arguments for cfg.
func BenchArgs(cfg BenchConfig) []string {
	return []string{"bench", "--saxpy", FormatSizes(cfg.SAXPYSizes), "--sgemm", FormatSizes(cfg.SGEMMSizes),
		"--reps", strconv.Itoa(cfg.Reps), "--tolerance", strconv.FormatFloat(cfg.Tolerance, 'g', -1, 64),
		"--seed", strconv.FormatUint(cfg.Seed, 10)}
}

// Bench runs the benchmark in the companion. A bench whose results are
// off comes back with OK false and no error.
func (c Companion) Bench(ctx context.Context, cfg BenchConfig) (*Bench, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	rep, err := c.Query(ctx, BenchArgs(cfg)...)
	if err != nil {
		return nil, err
	}
	if rep.Bench == nil {
		return nil, errors.New(CompanionName + " bench answered without a bench object")
	}
	return rep.Bench, nil
}
