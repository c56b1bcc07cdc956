// Command mutate checks that a package's tests catch realistic bugs: it
// puts each hand-written mutant of mutants.go (a small edit: a skipped
// fsync, an inverted condition, a dropped check, an off-by-one in a limit,
// a removed single flight) into a copy of the tree, one at a time, runs
// that package's tests and reports whether they failed (killed) or passed
// (survived). The worktree itself is never modified.
//
// Run it before calling a capability done (not part of CI; it runs each
// package's whole test suite once per mutant):
//
//	go run ./internal/tools/mutate                      # every mutant
//	go run ./internal/tools/mutate -pkg store,ramdisk   # some packages
//	go run ./internal/tools/mutate -rev main            # the tree as committed at main
//
// It exits 1 when a mutant survives or no longer applies.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// A mutant is one small bug put into one file.
type mutant struct {
	Pkg  string // package directory under internal/, e.g. "store"
	File string // file inside it
	Name string // what the bug is
	// Edits are alternatives (the code may differ between revisions): the
	// first whose Old occurs exactly once in File is applied.
	Edits []edit
	// Killer names the tests expected to catch it, for the report.
	Killer string
}

type edit struct{ Old, New string }

// result is what running a mutant gave.
type result struct {
	m       mutant
	outcome string // killed, survived, not applied, does not build, error
	failed  []string
	dur     time.Duration
}

func main() {
	pkgs := flag.String("pkg", "", "comma-separated packages under internal/ (default: every package with mutants)")
	name := flag.String("run", "", "only mutants whose name contains this")
	rev := flag.String("rev", "", "mutate the tree as committed at this git revision (default: the working tree, uncommitted files included)")
	timeout := flag.Duration("timeout", 10*time.Minute, "go test -timeout per mutant")
	keep := flag.Bool("keep", false, "keep the copy of the tree and print where it is")
	list := flag.Bool("list", false, "list the mutants and exit")
	skip := flag.String("skip", "", "go test -skip: tests not to run (say why in the report: e.g. a live test broken by this machine)")
	flag.Parse()
	ms := selectMutants(*pkgs, *name)
	if *list {
		for _, m := range ms {
			fmt.Printf("%-10s %-14s %s\n", m.Pkg, m.File, m.Name)
		}
		return
	}
	if len(ms) == 0 {
		fatal(errors.New("no mutants selected"))
	}
	root, err := moduleRoot()
	if err != nil {
		fatal(err)
	}
	tmp, err := os.MkdirTemp("", "pitstop-mutate-")
	if err != nil {
		fatal(err)
	}
	if *keep {
		fmt.Fprintln(os.Stderr, "copy of the tree:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if err := copyTree(root, tmp, *rev); err != nil {
		fatal(err)
	}
	label := *rev
	if label == "" {
		label = "working tree"
	}
	fmt.Fprintf(os.Stderr, "mutating a copy of %s (%s) in %s\n", root, label, tmp)

	var results []result
	baseline := map[string]error{}
	for _, m := range ms {
		if _, done := baseline[m.Pkg]; !done {
			fmt.Fprintf(os.Stderr, "%s: tests without mutants... ", m.Pkg)
			out, err := goTest(tmp, m.Pkg, *skip, *timeout)
			baseline[m.Pkg] = err
			if err != nil {
				fmt.Fprintf(os.Stderr, "FAIL\n%s\n", tail(out, 40))
			} else {
				fmt.Fprintln(os.Stderr, "ok")
			}
		}
		if baseline[m.Pkg] != nil {
			results = append(results, result{m: m, outcome: "error: tests fail without mutants"})
			continue
		}
		r := runMutant(tmp, m, *skip, *timeout)
		fmt.Fprintf(os.Stderr, "%-10s %-55s %s %s (%v)\n", m.Pkg, m.Name, r.outcome, strings.Join(r.failed, ","), r.dur.Round(time.Second))
		results = append(results, r)
	}
	report(os.Stdout, label, results)
	for _, r := range results {
		if r.outcome != "killed" {
			os.Exit(1)
		}
	}
}

func selectMutants(pkgs, name string) []mutant {
	var want []string
	if pkgs != "" {
		want = strings.Split(pkgs, ",")
	}
	var out []mutant
	for _, m := range mutants {
		if (want == nil || slices.Contains(want, m.Pkg)) && strings.Contains(m.Name, name) {
			out = append(out, m)
		}
	}
	return out
}

func runMutant(tree string, m mutant, skip string, timeout time.Duration) result {
	r := result{m: m}
	file := filepath.Join(tree, "internal", m.Pkg, m.File)
	orig, err := os.ReadFile(file)
	if err != nil {
		r.outcome = "error: " + err.Error()
		return r
	}
	var mutated []byte
	for _, e := range m.Edits {
		if bytes.Count(orig, []byte(e.Old)) == 1 {
			mutated = bytes.Replace(orig, []byte(e.Old), []byte(e.New), 1)
			break
		}
	}
	if mutated == nil {
		r.outcome = "not applied"
		return r
	}
	if err := os.WriteFile(file, mutated, 0o644); err != nil {
		r.outcome = "error: " + err.Error()
		return r
	}
	defer os.WriteFile(file, orig, 0o644)
	start := time.Now()
	out, err := goTest(tree, m.Pkg, skip, timeout)
	r.dur = time.Since(start)
	switch {
	case err == nil:
		r.outcome = "survived"
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		r.outcome = "does not build"
		fmt.Fprintf(os.Stderr, "%s\n", tail(out, 20))
	default:
		r.outcome = "killed"
		r.failed = failedTests(out)
	}
	return r
}

func goTest(tree, pkg, skip string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	args := []string{"test", "-count=1", "-failfast", "-timeout", timeout.String()}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./internal/"+pkg)...)
	cmd.Dir = tree
	return cmd.CombinedOutput()
}

var failRE = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failedTests lists the top-level tests that failed.
func failedTests(out []byte) []string {
	var names []string
	for _, m := range failRE.FindAllSubmatch(out, -1) {
		n, _, _ := strings.Cut(string(m[1]), "/")
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		names = []string{"(no test named: panic or timeout)"}
	}
	return names
}

func report(w io.Writer, label string, results []result) {
	counts := map[string]int{}
	for _, r := range results {
		counts[r.outcome]++
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sum []string
	for _, k := range keys {
		sum = append(sum, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(w, "Mutants of %s: %d run; %s.\n\n", label, len(results), strings.Join(sum, ", "))
	fmt.Fprintln(w, "| package | file | mutant | result | failing tests |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range results {
		res := r.outcome
		if res != "killed" {
			res = "**" + res + "**"
		}
		failed := strings.Join(r.failed, ", ")
		if r.outcome == "survived" {
			failed = "(expected: " + r.m.Killer + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.m.Pkg, r.m.File, r.m.Name, res, failed)
	}
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not in a Go module: run it inside the pitstop tree")
	}
	return filepath.Dir(mod), nil
}

// copyTree copies root's files into dst: the tree at rev (git archive), or
// the working tree's tracked and untracked, not ignored, files.
func copyTree(root, dst, rev string) error {
	if rev != "" {
		arch := exec.Command("git", "-C", root, "archive", "--format=tar", rev)
		tar := exec.Command("tar", "-x", "-C", dst)
		pipe, err := arch.StdoutPipe()
		if err != nil {
			return err
		}
		tar.Stdin = pipe
		arch.Stderr, tar.Stderr = os.Stderr, os.Stderr
		if err := tar.Start(); err != nil {
			return err
		}
		if err := arch.Run(); err != nil {
			return fmt.Errorf("git archive %s: %w", rev, err)
		}
		return tar.Wait()
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "-co", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if err != nil {
			continue // deleted but not yet committed
		}
		d := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, err := os.Readlink(src)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, d); err != nil {
				return err
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(d, b, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
