package testexe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestNoTextFileBusy writes and runs 300 scripts while two goroutines fork
// without pause: with WriteFile none fails with ETXTBSY. The same with
// os.WriteFile is the control; how often it failed is logged (the race is
// a matter of timing, so it is not asserted).
func TestNoTextFileBusy(t *testing.T) {
	run := func(write func(string, []byte, os.FileMode) error) (busy int, err error) {
		dir := t.TempDir()
		var stop atomic.Bool
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					exec.Command("true").Run()
				}
			}()
		}
		defer func() { stop.Store(true); wg.Wait() }()
		for i := range 300 {
			p := filepath.Join(dir, fmt.Sprintf("s%d", i))
			if err := write(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				return busy, err
			}
			if err := exec.Command(p).Run(); errors.Is(err, syscall.ETXTBSY) {
				busy++
			} else if err != nil {
				return busy, err
			}
		}
		return busy, nil
	}
	busy, err := run(WriteFile)
	if err != nil {
		t.Fatal(err)
	}
	if busy > 0 {
		t.Errorf("%d of 300 scripts written with WriteFile failed to run: text file busy", busy)
	}
	control, err := run(os.WriteFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control: %d of 300 scripts written with os.WriteFile failed with text file busy", control)
}
