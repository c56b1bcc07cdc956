// Command pitstop diagnoses, installs and speeds up Go on Raspberry Pi boards
// and the machines that build for them. See README.md.
package main

import (
	"os"

	"github.com/pitstop-go/pitstop/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
