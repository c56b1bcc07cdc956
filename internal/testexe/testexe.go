// Package testexe writes executables that tests then run.
//
// A file being written is open for writing in the test process; a fork by
// any other goroutine in that moment (a server the test started running
// the go command, a parallel test) copies the descriptor into the child,
// which holds it until it execs. Running the file meanwhile fails with
// ETXTBSY, "text file busy" (golang.org/issue/22315). WriteFile holds
// syscall.ForkLock for reading while the file is open, which every fork
// takes for writing, so no child can inherit the descriptor.
package testexe

import (
	"os"
	"syscall"
)

// WriteFile is os.WriteFile for a file that will be executed.
func WriteFile(name string, data []byte, perm os.FileMode) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(name, data, perm)
}
