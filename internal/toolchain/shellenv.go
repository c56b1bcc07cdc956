package toolchain

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// Shells EnvLines knows.
var Shells = []string{"bash", "zsh", "fish"}

// Markers around the block pitstop writes into a shell's rc file.
const (
	BlockBegin = "# >>> pitstop go >>> (managed by `pitstop go env --write`; remove with `pitstop go env --remove`)"
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
		q := shellQuote(binDir)
		fmt.Fprintf(&b, "case \":$PATH:\" in\n  *:%s:*) ;;\n  *) export PATH=%s:\"$PATH\" ;;\nesac\n", q, q)
		for _, d := range after {
			q := shellQuote(d)
			fmt.Fprintf(&b, "case \":$PATH:\" in\n  *:%s:*) ;;\n  *) export PATH=\"$PATH\":%s ;;\nesac\n", q, q)
		}
	case "fish":
		q := shellQuote(binDir)
		fmt.Fprintf(&b, "contains -- %s $PATH; or set -gx PATH %s $PATH\n", q, q)
		for _, d := range after {
			q := shellQuote(d)
			fmt.Fprintf(&b, "contains -- %s $PATH; or set -gx PATH $PATH %s\n", q, q)
		}
	default:
		return "", fmt.Errorf("unknown shell %q: want one of %s", shell, strings.Join(Shells, ", "))
	}
	return b.String(), nil
}

// shellQuote quotes s for sh and fish alike when it needs quoting.
func shellQuote(s string) string {
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

// SetBlock returns content with the pitstop block replaced by body (or
// appended, when there is none). body "" removes the block. changed is
// false when the result equals content.
func SetBlock(content, body string) (out string, changed bool, err error) {
	lines := strings.SplitAfter(content, "\n")
	begin, end := -1, -1
	for i, l := range lines {
		t := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(t, "# >>> pitstop go >>>") {
			if begin >= 0 {
				return "", false, ErrUnbalancedBlock
			}
			begin = i
		} else if t == BlockEnd {
			if begin < 0 || end >= 0 {
				return "", false, ErrUnbalancedBlock
			}
			end = i
		}
	}
	if (begin >= 0) != (end >= 0) {
		return "", false, ErrUnbalancedBlock
	}
	block := ""
	if body != "" {
		block = BlockBegin + "\n" + strings.TrimRight(body, "\n") + "\n" + BlockEnd + "\n"
	}
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

// RCChange is what WriteRC did (or, with dryRun, would do).
type RCChange struct {
	File    string // the rc file (symbolic links followed)
	Changed bool
	Block   string // the block written, "" when removed
}

// WriteRC writes body into the marked block of the rc file (body ""
// removes the block), atomically and keeping the file's mode. A symbolic
// link (dotfile managers) is followed, not replaced. With dryRun nothing
// is written.
func WriteRC(file, body string, dryRun bool) (RCChange, error) {
	ch := RCChange{File: file, Block: body}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		ch.File = real
	}
	data, err := os.ReadFile(ch.File)
	perm := fs.FileMode(0o644)
	uid, gid := -1, -1
	switch {
	case err == nil:
		if fi, err := os.Stat(ch.File); err == nil {
			perm = fi.Mode().Perm()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				uid, gid = int(st.Uid), int(st.Gid)
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		if body == "" {
			return ch, nil
		}
	default:
		return ch, err
	}
	out, changed, err := SetBlock(string(data), body)
	if err != nil {
		return ch, fmt.Errorf("%s %w", ch.File, err)
	}
	ch.Changed = changed
	if !changed || dryRun {
		return ch, nil
	}
	if err := os.MkdirAll(filepath.Dir(ch.File), 0o755); err != nil {
		return ch, err
	}
	return ch, atomicfile.Write(ch.File, perm, func(w io.Writer) error {
		if f, ok := w.(*os.File); ok && uid >= 0 && os.Geteuid() == 0 {
			// Run with sudo: the file stays its owner's.
			if err := f.Chown(uid, gid); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, out)
		return err
	})
}
