package cli

import "github.com/rogpeppe/go-internal/testscript"

// scriptSetups run, in order, at the start of every script after
// TestScripts' own set-up. A capability whose scripts need a fixture (a
// test upstream on 127.0.0.1, say) appends one from its own _test.go file
// in an init function; it can tell its scripts by the work directory's
// name, "script-<name>".
var scriptSetups []func(env *testscript.Env) error
