package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes for a run a signal ended, as shells report them (128+signal).
const (
	exitInterrupted = 130 // SIGINT: Ctrl-C
	exitTerminated  = 143 // SIGTERM
)

// signalCause is the cause of the context Run cancels when a signal arrives.
type signalCause struct{ sig os.Signal }

func (s *signalCause) Error() string { return "interrupted by " + s.sig.String() }

// Run is the whole of main: it runs pitstop with args under a context that
// SIGINT and SIGTERM cancel, and returns the exit code. A second signal is
// not caught, so it ends a run that is slow to stop.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		signal.Stop(sigs)
		cancel(&signalCause{sig: s})
	}()
	return Main(ctx, args, stdin, stdout, stderr)
}

// interruptedCode maps a run that a signal cancelled to its exit code: 130
// after Ctrl-C whatever the command returned (printing "interrupted" in place
// of the cancellation error it failed with), 143 after SIGTERM when the
// command failed; a command that stopped cleanly on SIGTERM (a server
// shutting down for systemd) keeps its 0.
func interruptedCode(ctx context.Context, err error, stderr io.Writer) (int, bool) {
	var sc *signalCause
	if !errors.As(context.Cause(ctx), &sc) {
		return 0, false
	}
	code := exitTerminated
	if sc.sig == os.Interrupt {
		code = exitInterrupted
	} else if err == nil {
		return 0, false
	}
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) && ee.Err == nil {
			// the command already said what it had to
		} else if errors.Is(err, context.Canceled) || errors.Is(err, sc) {
			fmt.Fprintln(stderr, "pitstop: interrupted")
		} else {
			fmt.Fprintf(stderr, "pitstop: %v (interrupted)\n", err)
		}
	} else {
		fmt.Fprintln(stderr, "pitstop: interrupted")
	}
	return code, true
}
