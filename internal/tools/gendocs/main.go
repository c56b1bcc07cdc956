// Command gendocs writes docs/reference: one Markdown page per pitstop
// command, generated from the command tree (every flag, its default and
// its help), so that the reference cannot drift from the binary. It is a
// separate program: cobra's doc package never links into pitstop.
//
//	go run ./internal/tools/gendocs            # rewrite docs/reference
//	go run ./internal/tools/gendocs -out DIR
//
// TestReferenceIsCurrent fails when the committed pages are stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/pitstop-go/pitstop/internal/cli"
)

func main() {
	out := flag.String("out", "docs/reference", "directory to write the pages to (its *.md are replaced)")
	flag.Parse()
	if err := generate(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

// generate replaces dir's pages with the command tree's.
func generate(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	// Defaults under the home directory read as a Pi user's, whoever
	// generates the pages.
	os.Setenv("HOME", "/home/pi")
	for _, k := range []string{"XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"} {
		os.Unsetenv(k)
	}
	root := cli.NewRoot(nil, os.Stdout, os.Stderr)
	neutral(root)
	root.DisableAutoGenTag = true // no date: the pages change only with the commands
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	hideHelp(root)
	return doc.GenMarkdownTreeCustom(root, dir, func(string) string { return "" }, func(name string) string { return name })
}

// neutral rewrites defaults that name the generating machine's platform
// (proxy warm's --toolchains ends with it) to say so instead, so the pages
// are the same on every machine.
//
// Help texts that show this binary's own path (a GOCACHEPROG value must be
// absolute) read as a release install's, /usr/local/bin/pitstop.
func neutral(c *cobra.Command) {
	host := runtime.GOOS + "-" + runtime.GOARCH
	for _, exe := range selfPaths() {
		c.Long = strings.ReplaceAll(c.Long, exe+" ", "/usr/local/bin/pitstop ")
		c.Example = strings.ReplaceAll(c.Example, exe+" ", "/usr/local/bin/pitstop ")
	}
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if v, ok := strings.CutSuffix(f.DefValue, ","+host); ok {
			f.DefValue = v + ",<this machine's platform>"
		}
	})
	for _, sub := range c.Commands() {
		neutral(sub)
	}
}

// selfPaths is this program's path as pitstop's help texts may print it.
func selfPaths() []string {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	// pitstopExe names the copy units run for a binary under /tmp, as
	// go run and go test build it.
	out := []string{exe, filepath.Join("/usr/local/bin", filepath.Base(exe))}
	if r, err := filepath.EvalSymlinks(exe); err == nil && r != exe {
		out = append(out, r)
	}
	return out
}

// hideHelp leaves cobra's own help and completion machinery out of the
// pages' "SEE ALSO" lists, except the completion command, which users want.
func hideHelp(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || strings.HasPrefix(sub.Name(), "__") {
			sub.Hidden = true
		}
		hideHelp(sub)
	}
}
