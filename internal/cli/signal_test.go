package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// TestInterruptedCode: a run a signal cancelled exits 130 after Ctrl-C
// (saying "interrupted" instead of "context canceled"), 143 after SIGTERM
// when the command failed, and keeps 0 when it stopped cleanly on SIGTERM.
func TestInterruptedCode(t *testing.T) {
	cancelled := func(sig os.Signal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(&signalCause{sig: sig})
		return ctx
	}
	for _, tc := range []struct {
		name    string
		ctx     context.Context
		err     error
		code    int
		handled bool
		stderr  string
	}{
		{"no signal", context.Background(), errors.New("boom"), 0, false, ""},
		{"ctrl-c, cancelled", cancelled(os.Interrupt), fmt.Errorf("downloading: %w", context.Canceled), 130, true, "pitstop: interrupted\n"},
		{"ctrl-c, other error", cancelled(os.Interrupt), errors.New("disk full"), 130, true, "pitstop: disk full (interrupted)\n"},
		{"ctrl-c, stopped cleanly", cancelled(os.Interrupt), nil, 130, true, "pitstop: interrupted\n"},
		{"ctrl-c, already said", cancelled(os.Interrupt), &ExitError{Code: 1}, 130, true, ""},
		{"sigterm, clean stop", cancelled(syscall.SIGTERM), nil, 0, false, ""},
		{"sigterm, failed", cancelled(syscall.SIGTERM), context.Canceled, 143, true, "pitstop: interrupted\n"},
	} {
		var stderr bytes.Buffer
		code, handled := interruptedCode(tc.ctx, tc.err, &stderr)
		if code != tc.code || handled != tc.handled || stderr.String() != tc.stderr {
			t.Errorf("%s: (%d, %v) stderr %q; want (%d, %v) %q", tc.name, code, handled, stderr.String(), tc.code, tc.handled, tc.stderr)
		}
	}
}
