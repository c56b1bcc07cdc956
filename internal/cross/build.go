package cross

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Env returns the environment variables a cgo build of t with tc needs:
// GOOS, GOARCH, GOARM, CGO_ENABLED, CC, CXX, the CGO_ flags and
// pkg-config's search path for the target's multiarch libraries
// (/usr/lib/<triplet>/pkgconfig, where Debian's libfoo-dev:<arch> put
// their .pc files).
func Env(t Target, tc Toolchain) []string {
	a := t.Arch
	env := []string{"GOOS=linux", "GOARCH=" + a.GOARCH, "CGO_ENABLED=1", "CC=" + tc.CC}
	if a.GOARM != 0 {
		env = append(env, fmt.Sprintf("GOARM=%d", a.GOARM))
	}
	if tc.CXX != "" {
		env = append(env, "CXX="+tc.CXX)
	}
	flags := strings.Join(append([]string{"-O2", "-g"}, tc.CFlags...), " ")
	env = append(env, "CGO_CFLAGS="+flags, "CGO_CXXFLAGS="+flags, "CGO_LDFLAGS="+flags)
	env = append(env,
		"PKG_CONFIG=pkg-config",
		"PKG_CONFIG_LIBDIR=/usr/lib/"+a.Triplet+"/pkgconfig:/usr/share/pkgconfig",
		"PKG_CONFIG_PATH=")
	return env
}

// staticLDFlags link the program statically through the C linker.
const staticLDFlags = "-linkmode=external -extldflags=-static"

// Build is one cross build: go build with Args (its flags and packages)
// in Dir, for Target, with Toolchain.
type Build struct {
	Target    Target
	Toolchain Toolchain
	// Dir is the directory go build runs in ("" the current one).
	Dir string
	// Args are go build's flags and packages; -o names the output (else
	// the package's directory name, as go build does).
	Args []string
	// Go is the go command ("go" when "").
	Go string
	// Stdout and Stderr receive go build's output.
	Stdout, Stderr io.Writer
}

// BuildError is a go build that failed.
type BuildError struct {
	Err    error
	Output string // the last lines go build printed
}

func (e *BuildError) Error() string {
	s := "go build failed: " + e.Err.Error()
	if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

func (e *BuildError) Unwrap() error { return e.Err }

// Output returns the file the build writes: -o's value, or the last
// package argument's directory name (the working directory's for none or
// "."), relative to Dir.
func (b *Build) Output() (string, error) {
	if o, _, ok := flagValue(b.Args, "o"); ok {
		if o == "" {
			return "", errors.New("-o has no value")
		}
		return o, nil
	}
	pkg := "."
	for _, a := range b.Args {
		if !strings.HasPrefix(a, "-") {
			pkg = a
		}
	}
	if pkg == "." || pkg == "./" {
		d, err := filepath.Abs(b.Dir)
		if err != nil {
			return "", err
		}
		return filepath.Base(d), nil
	}
	return filepath.Base(strings.TrimSuffix(pkg, "/...")), nil
}

// flagValue finds a go build flag (-o x, -o=x, --o=x) in args: its
// value, the indexes it takes, and whether it is there. Only flags that
// take a value are asked about.
func flagValue(args []string, name string) (string, []int, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		n := strings.TrimLeft(a, "-")
		if n == name && i+1 < len(args) {
			return args[i+1], []int{i, i + 1}, true
		}
		if v, ok := strings.CutPrefix(n, name+"="); ok {
			return v, []int{i}, true
		}
		if isBoolFlag(n) {
			continue
		}
		if !strings.Contains(n, "=") {
			i++ // the flag's value
		}
	}
	return "", nil, false
}

// isBoolFlag reports whether a go build flag takes no value.
func isBoolFlag(n string) bool {
	switch strings.SplitN(n, "=", 2)[0] {
	case "a", "n", "race", "msan", "asan", "cover", "v", "work", "x", "linkshared", "modcacherw", "trimpath", "buildvcs", "json":
		return true
	}
	return false
}

// buildArgs rewrites the arguments for the real run: -o becomes tmp, and
// a static libc adds the static link flags to -ldflags.
func (b *Build) buildArgs(tmp string) []string {
	args := append([]string(nil), b.Args...)
	if _, idx, ok := flagValue(args, "o"); ok {
		for i := len(idx) - 1; i >= 0; i-- {
			args = append(args[:idx[i]], args[idx[i]+1:]...)
		}
	}
	if b.Target.Libc != Glibc {
		if v, idx, ok := flagValue(args, "ldflags"); ok {
			if len(idx) == 2 {
				args[idx[1]] = v + " " + staticLDFlags
			} else {
				args[idx[0]] = "-ldflags=" + v + " " + staticLDFlags
			}
		} else {
			args = append([]string{"-ldflags=" + staticLDFlags}, args...)
		}
		if _, _, ok := flagValue(args, "tags"); !ok {
			// The pure-Go user and DNS lookups: static glibc's own need the
			// board's NSS libraries at run time.
			args = append([]string{"-tags=osusergo,netgo"}, args...)
		}
	}
	return append([]string{"build", "-o", tmp}, args...)
}

// Run builds into a temporary file beside the output and renames it into
// place when go build succeeds; on failure nothing is left. It returns the
// output's path.
func (b *Build) Run(ctx context.Context) (string, error) {
	out, err := b.Output()
	if err != nil {
		return "", &SettingError{Setting: "Args", Value: strings.Join(b.Args, " "), Err: err}
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(b.Dir, out)
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return "", &SettingError{Setting: "Args", Value: out, Err: errors.New("the output is a directory: name a file")}
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".pitstop-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp) // a no-op once renamed
	gocmd := b.Go
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.CommandContext(ctx, gocmd, b.buildArgs(tmp)...)
	cmd.Dir = b.Dir
	cmd.Env = append(os.Environ(), Env(b.Target, b.Toolchain)...)
	var tail tailBuffer
	cmd.Stdout = b.Stdout
	cmd.Stderr = io.MultiWriter(orDiscard(b.Stderr), &tail)
	if err := cmd.Run(); err != nil {
		return "", &BuildError{Err: err, Output: tail.summary()}
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-8<<10:]
	}
	return len(p), nil
}

// summary is the first line that says error, else the last line.
func (t *tailBuffer) summary() string {
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	for _, l := range lines {
		if strings.Contains(l, "error") || strings.Contains(l, "undefined") {
			return strings.TrimSpace(l)
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}
