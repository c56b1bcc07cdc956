package toolchain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// Shells EnvLines knows.
var Shells = []string{"bash", "zsh", "fish"}

// Markers around the block pitstop writes into a shell's rc file.
const (
	BlockBegin = "# >>> pitstop go >>> (managed by `pitstop go shellenv --write`; remove with `pitstop go shellenv --remove`)"
	BlockEnd   = "# <<< pitstop go <<<"
)

// ShellFromEnv picks the shell from $SHELL, "bash" when unknown.
func ShellFromEnv() string {
	s := filepath.Base(os.Getenv("SHELL"))
	for _, k := range Shells {
		if s == k {
			return k
		}
	}
	return "bash"
}

// EnvLines returns the lines that put binDir first on PATH for shell,
// and each of after (such as GOPATH/bin, for commands from go install) at
// its end, written so that sourcing them twice adds nothing.
func EnvLines(shell, binDir string, after ...string) (string, error) {
	var b strings.Builder
	switch shell {
	case "bash", "zsh":
		q := ShellQuote(binDir)
		fmt.Fprintf(&b, "case \":$PATH:\" in\n  *:%s:*) ;;\n  *) export PATH=%s:\"$PATH\" ;;\nesac\n", q, q)
		for _, d := range after {
			q := ShellQuote(d)
			fmt.Fprintf(&b, "case \":$PATH:\" in\n  *:%s:*) ;;\n  *) export PATH=\"$PATH\":%s ;;\nesac\n", q, q)
		}
	case "fish":
		q := ShellQuote(binDir)
		fmt.Fprintf(&b, "contains -- %s $PATH; or set -gx PATH %s $PATH\n", q, q)
		for _, d := range after {
			q := ShellQuote(d)
			fmt.Fprintf(&b, "contains -- %s $PATH; or set -gx PATH $PATH %s\n", q, q)
		}
	default:
		return "", fmt.Errorf("unknown shell %q: want one of %s", shell, strings.Join(Shells, ", "))
	}
	return b.String(), nil
}

// ShellQuote quotes s for sh and fish alike when it needs quoting.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RCFile is the rc file a shell reads for interactive sessions.
func RCFile(shell, home string) (string, error) {
	switch shell {
	case "bash":
		return filepath.Join(home, ".bashrc"), nil
	case "zsh":
		if z := os.Getenv("ZDOTDIR"); z != "" && filepath.IsAbs(z) {
			return filepath.Join(z, ".zshrc"), nil
		}
		return filepath.Join(home, ".zshrc"), nil
	case "fish":
		base := os.Getenv("XDG_CONFIG_HOME")
		if base == "" || !filepath.IsAbs(base) {
			base = filepath.Join(home, ".config")
		}
		return filepath.Join(base, "fish", "config.fish"), nil
	}
	return "", fmt.Errorf("unknown shell %q: want one of %s", shell, strings.Join(Shells, ", "))
}

// ErrUnbalancedBlock says an rc file has a begin marker without an end
// marker (or the other way round): pitstop will not guess what to replace.
var ErrUnbalancedBlock = errors.New("has an unbalanced pitstop block: fix the markers by hand")

// findBlock splits content into lines and finds the pitstop block's first
// and last line; -1, -1 when there is none.
func findBlock(content string) (lines []string, begin, end int, err error) {
	lines = strings.SplitAfter(content, "\n")
	begin, end = -1, -1
	for i, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(t, "# >>> pitstop go >>>") {
			if begin >= 0 {
				return nil, 0, 0, ErrUnbalancedBlock
			}
			begin = i
		} else if t == BlockEnd {
			if begin < 0 || end >= 0 {
				return nil, 0, 0, ErrUnbalancedBlock
			}
			end = i
		}
	}
	if (begin >= 0) != (end >= 0) {
		return nil, 0, 0, ErrUnbalancedBlock
	}
	return lines, begin, end, nil
}

// SetBlock returns content with the pitstop block replaced by body (or
// appended, when there is none). body "" removes the block. changed is
// false when the result equals content.
func SetBlock(content, body string) (out string, changed bool, err error) {
	lines, begin, end, err := findBlock(content)
	if err != nil {
		return "", false, err
	}
	block := markBlock(body)
	if begin >= 0 {
		before := strings.Join(lines[:begin], "")
		after := strings.Join(lines[end+1:], "")
		if block == "" && strings.HasSuffix(before, "\n\n") {
			before = before[:len(before)-1] // the blank line SetBlock added
		}
		out = before + block + after
	} else if block != "" {
		out = content
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		if out != "" {
			out += "\n"
		}
		out += block
	} else {
		out = content
	}
	return out, out != content, nil
}

// markBlock is body between the markers; "" for no body.
func markBlock(body string) string {
	if body == "" {
		return ""
	}
	return BlockBegin + "\n" + strings.TrimRight(body, "\n") + "\n" + BlockEnd + "\n"
}

// PlanRC returns the plan that writes body into the marked block of the rc
// file (body "" removes the block), and the file it edits: a symbolic link
// (dotfile managers) is followed, not replaced. The plan has one step, from
// the old block to the new one, or none when the file already reads so.
// Applied, it writes the whole file atomically, keeping its mode and (run
// with sudo) its owner, and refuses when the file changed since it was
// planned; its undo writes the old content back.
func PlanRC(file, body string) (*plan.Plan, string, error) {
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	p := &plan.Plan{Title: "write the PATH lines into " + file}
	if body == "" {
		p.Title = "remove the pitstop block from " + file
	}
	data, err := os.ReadFile(file)
	existed := err == nil
	perm := fs.FileMode(0o644)
	uid, gid := -1, -1
	switch {
	case err == nil:
		if fi, err := os.Stat(file); err == nil {
			perm = fi.Mode().Perm()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		if body == "" {
			p.Title = file + " has no pitstop block"
			return p, file, nil
		}
	default:
		return nil, file, err
	}
	old := string(data)
	out, changed, err := SetBlock(old, body)
	if err != nil {
		return nil, file, fmt.Errorf("%s %w", file, err)
	}
	if !changed {
		p.Title = file + " already has the PATH lines"
		if body == "" {
			p.Title = file + " has no pitstop block"
		}
		return p, file, nil
	}
	lines, begin, end, _ := findBlock(old)
	oldBlock := ""
	if begin >= 0 {
		oldBlock = strings.Join(lines[begin:end+1], "")
	}
	s := plan.Step{Action: "edit", Target: file, From: oldBlock, To: markBlock(body)}
	switch {
	case !existed:
		s.Action, s.Note = "write", "a new file holding the pitstop block"
	case body == "":
		s.Note = "remove the pitstop block; the rest stays"
	case oldBlock != "":
		s.Note = "replace the pitstop block; the rest stays"
	default:
		s.Note = "add the pitstop block at the end"
	}
	write := func(content string) error {
		return atomicfile.Write(file, perm, func(w io.Writer) error {
			if f, ok := w.(*os.File); ok && uid >= 0 && os.Geteuid() == 0 {
				// Run with sudo: the file stays its owner's.
				if err := f.Chown(uid, gid); err != nil {
					return err
				}
			}
			_, err := io.WriteString(w, content)
			return err
		})
	}
	s.Do = func(context.Context) error {
		now, err := os.ReadFile(file)
		if (err == nil) != existed || string(now) != old {
			return fmt.Errorf("%s changed since the plan was made: run the command again", file)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		return write(out)
	}
	s.Undo = func(context.Context) error {
		if !existed {
			return os.Remove(file)
		}
		return write(old)
	}
	p.Add(s)
	return p, file, nil
}
