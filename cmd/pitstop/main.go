// Command pitstop diagnoses, installs and speeds up Go on Raspberry Pi boards
// and the machines that build for them. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pitstop-go/pitstop/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
