// Command treecpu runs a command and writes the CPU time its whole process
// tree used, for bench/cache/run.sh.
//
// /usr/bin/time counts only the descendants that were waited for. The go
// command never waits for its GOCACHEPROG helper (it closes the helper's
// stdin and returns), so the helper's CPU time, and its children's, were
// left out of the benchmark's CPU figures. treecpu makes itself the
// subreaper of the tree (PR_SET_CHILD_SUBREAPER): orphans are reparented to
// it, and it reaps every one of them before it reads RUSAGE_CHILDREN.
//
//	treecpu -o FILE command [args...]
//
// FILE gets "USER SYS WALL" in seconds: user and system time of the whole
// tree, and the wall time until the command itself exited (what a user
// waits for; the reaping after it is not counted). treecpu exits with the
// command's status.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	out := flag.String("o", "", "write \"USER SYS WALL\" (seconds) to this file")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: treecpu -o FILE command [args...]")
		os.Exit(2)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "treecpu: becoming a subreaper:", err)
		os.Exit(1)
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		fmt.Fprintln(os.Stderr, "treecpu:", err)
		os.Exit(1)
	}
	// Reap the orphans (a GOCACHEPROG helper exits once its stdin closes).
	for {
		_, err := unix.Wait4(-1, nil, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break // ECHILD: none left
		}
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "treecpu:", err)
		os.Exit(1)
	}
	sec := func(tv unix.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	if err := os.WriteFile(*out, fmt.Appendf(nil, "%.3f %.3f %.3f\n", sec(ru.Utime), sec(ru.Stime), wall.Seconds()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "treecpu:", err)
		os.Exit(1)
	}
	os.Exit(code)
}
