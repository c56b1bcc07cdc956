package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pitstop-go/pitstop/internal/host"
)

// Config is one `pitstop doctor` invocation. The zero value runs every
// check on the live machine and prints the text report without colour.
type Config struct {
	// Root replays a capture (a directory or a .tar.gz) instead of the
	// live machine; "" is the live machine.
	Root string
	// Capture, when set, writes a capture of this run to that file.
	Capture string
	// Only keeps the checks with these IDs or sections.
	Only []string
	// JSON prints the report (or, with List, the list) as JSON.
	JSON bool
	// List prints the checks instead of running them.
	List bool
	// Verbose prints each result's details.
	Verbose bool
	// Color paints the text report (set it only for a terminal).
	Color bool
	// Timeout bounds each check that has no timeout of its own;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// Checks to choose from; nil means All().
	Checks []Check
	// Tuning and RamdiskActive are handed to the checks (see Env): what
	// other parts of pitstop know, which the doctor does not import.
	Tuning        Tuning
	RamdiskActive func(root *host.Root, path string) bool
	// Fleet is the join of this machine (live runs only).
	Fleet *Fleet
}

// UsageError is a Config setting the doctor cannot use (an unknown check
// in Only, a Root that is no capture, a Capture file in no directory),
// found before any check runs. Setting names the Config field ("Only",
// "Root", "Capture"), Value its value and Err what is wrong with it; the
// CLI words it with its flag and exits 2.
type UsageError struct {
	Setting string
	Value   string
	Err     error
}

func (e *UsageError) Error() string { return fmt.Sprintf("%s %q: %v", e.Setting, e.Value, e.Err) }
func (e *UsageError) Unwrap() error { return e.Err }

// Execute runs the doctor as c says, writes the report to stdout and
// returns the exit code the report asks for (0 ok, 1 warnings, 2
// failures). Errors are *UsageError for bad input.
func (c Config) Execute(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	all := c.Checks
	if all == nil {
		all = All()
	}
	checks, err := Select(all, c.Only)
	if err != nil {
		return 2, &UsageError{Setting: "Only", Value: strings.Join(c.Only, ","), Err: err}
	}
	if c.List {
		if c.JSON {
			return 0, WriteListJSON(stdout, checks)
		}
		return 0, WriteList(stdout, checks)
	}
	if c.Capture != "" {
		if fi, err := os.Stat(filepath.Dir(c.Capture)); err != nil || !fi.IsDir() {
			return 2, &UsageError{Setting: "Capture", Value: c.Capture,
				Err: fmt.Errorf("directory %s does not exist; name a file in an existing directory", filepath.Dir(c.Capture))}
		}
		if fi, err := os.Stat(c.Capture); err == nil && fi.IsDir() {
			return 2, &UsageError{Setting: "Capture", Value: c.Capture,
				Err: fmt.Errorf("is a directory: name a file in it, e.g. %s", filepath.Join(c.Capture, "doctor.tar.gz"))}
		}
	}
	var env *Env
	if c.Root != "" {
		e, cleanup, err := OpenCapture(c.Root)
		if err != nil {
			return 2, rootError(c.Root, err)
		}
		defer cleanup()
		env = e
	} else {
		env = NewLive(ctx)
	}
	env.Tuning, env.RamdiskActive = c.Tuning, c.RamdiskActive
	if c.Root == "" {
		env.Fleet = c.Fleet
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rep := run(ctx, env, checks, timeout)
	if c.Root != "" {
		rep.Root = c.Root
	}
	if c.JSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout, TextOptions{Color: c.Color, Verbose: c.Verbose})
	}
	if err != nil {
		return 2, err
	}
	if c.Capture != "" {
		n, err := WriteCaptureFile(c.Capture, env)
		if err != nil {
			return 2, fmt.Errorf("writing the capture %s: %v", c.Capture, err)
		}
		fmt.Fprintf(stderr, "capture written to %s (%d files and links, %d probes); attach it to a bug report, replay it with: pitstop doctor --root %s\n",
			c.Capture, n, len(env.Probes()), c.Capture)
	}
	return rep.ExitCode(), nil
}

// rootError is the UsageError of a Root that cannot be replayed: err
// matches fs.ErrNotExist for a missing one, ErrNotCapture for one that is
// no capture.
func rootError(root string, err error) *UsageError {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == root {
		err = pe.Err // "no such file or directory": Value names the path
	}
	return &UsageError{Setting: "Root", Value: root, Err: err}
}
