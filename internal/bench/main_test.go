package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for pitstop in the children the
// benchmarks start: a gc configuration (RunGCChild), and the io benchmark
// run as a process that a test interrupts with SIGINT.
func TestMain(m *testing.M) {
	if IsGCChild() {
		if err := RunGCChild(context.Background(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv("PITSTOP_BENCH_TEST_IO"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		_, err := RunIO(ctx, Config{Dirs: []string{dir}})
		stop()
		fmt.Fprintln(os.Stderr, "RunIO:", err)
		os.Exit(3)
	}
	code := m.Run()
	if quickDir != "" {
		os.RemoveAll(quickDir)
	}
	os.Exit(code)
}

// emulated reports whether the suite runs under qemu-user (test.sh's
// second pass sets PITSTOP_EMULATED=1): benchmarks run their quick pass and
// no timing is compared.
func emulated() bool { return os.Getenv("PITSTOP_EMULATED") == "1" }

// testChild is Config.Child for tests: this binary, whose TestMain runs the
// gc child.
func testChild() []string { return []string{os.Args[0]} }

var (
	quickOnce sync.Once
	quickRep  *Report
	quickErr  error
	quickTime time.Duration
	// quickDir is the io benchmark's directory in the quick run: one of
	// its own, so that what it leaves is told apart from another
	// process's run in the shared temp dir.
	quickDir string
)

// quickReport runs every benchmark's quick pass once for the tests that
// read a real report.
func quickReport(t *testing.T) *Report {
	t.Helper()
	quickOnce.Do(func() {
		var log strings.Builder
		if quickDir, quickErr = os.MkdirTemp("", "pitstop-bench-quick-"); quickErr != nil {
			return
		}
		t0 := time.Now()
		quickRep, quickErr = Run(context.Background(), Config{Quick: true, Child: testChild(), Dirs: []string{quickDir}, Log: &log})
		quickTime = time.Since(t0)
	})
	if quickErr != nil {
		t.Fatalf("quick run: %v", quickErr)
	}
	return quickRep
}
