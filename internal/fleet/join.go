package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/modfetch"
	"github.com/pitstop-go/pitstop/internal/plan"
)

// GoCmd runs the real go command (Path, default "go" on PATH) with Env
// (nil: this process's environment, so the user's GOENV).
type GoCmd struct {
	Path string
	Env  []string
}

func (g GoCmd) run(ctx context.Context, args ...string) (string, error) {
	p := g.Path
	if p == "" {
		p = "go"
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = g.Env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", p, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// getenv reads the environment the go command runs with.
func (g GoCmd) getenv(k string) string {
	if g.Env == nil {
		return os.Getenv(k)
	}
	v := ""
	for _, kv := range g.Env {
		if key, val, ok := strings.Cut(kv, "="); ok && key == k {
			v = val
		}
	}
	return v
}

// values reads keys with go env -json.
func (g GoCmd) values(ctx context.Context, keys ...string) (map[string]string, error) {
	out, err := g.run(ctx, append([]string{"env", "-json"}, keys...)...)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("go env -json: %v", err)
	}
	return m, nil
}

// ErrGoTooOld is a go command without GOCACHEPROG (before go1.24).
var ErrGoTooOld = errors.New("the go command is too old for GOCACHEPROG")

// ErrJoined is a join to one server while joined to another.
var ErrJoined = errors.New("already joined to another server")

// State is what join replaced, so leave can put it back.
type State struct {
	Server string `json:"server"`
	// GOENV is the go env file join changed; Existed says whether it was
	// there before, Before is its content then and AfterSHA256 the hash of
	// what join left, so leave restores it byte for byte when nothing else
	// changed it since.
	GOENV       string `json:"goenv"`
	Existed     bool   `json:"existed"`
	Before      string `json:"before"`
	AfterSHA256 string `json:"after_sha256"`
	// TokenFile is the copy of the token join made (removed by leave).
	TokenFile string `json:"token_file,omitempty"`
}

// Paths are where join keeps its state.
type Paths struct{ Dir string }

func (p Paths) State() string { return filepath.Join(p.Dir, "join.json") }
func (p Paths) Token() string { return filepath.Join(p.Dir, "join-token") }

// ReadState reads the join state; (nil, nil) when not joined.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("join state %s: %v", path, err)
	}
	return &s, nil
}

// Join is a join's input.
type Join struct {
	Server string // normalized base URL
	Token  string // "" for none
	Exe    string // absolute path of pitstop for GOCACHEPROG
	Paths  Paths
	Go     GoCmd
}

// Wanted returns the GOPROXY and GOCACHEPROG a join sets, given the
// previous GOPROXY list.
func (j *Join) Wanted(prevProxy string) (goproxy, gocacheprog string) {
	proxy := j.Server
	if j.Token != "" {
		if u, err := url.Parse(j.Server); err == nil {
			u.User = url.UserPassword("pitstop", j.Token)
			proxy = u.String()
		}
	}
	goproxy = proxy
	if prevProxy != "" && prevProxy != "off" {
		goproxy += "|" + prevProxy
	}
	gocacheprog = quoteArg(j.Exe) + " cache prog --server " + quoteArg(j.Server+CachePrefix)
	if j.Token != "" {
		gocacheprog += " --token-file " + quoteArg(j.Paths.Token())
	}
	return goproxy, gocacheprog
}

func quoteArg(s string) string {
	if strings.ContainsAny(s, " \t'\"") {
		return strconv.Quote(s)
	}
	return s
}

// goVersionAtLeast reports whether GOVERSION (go1.24.3, go1.26rc1,
// devel ...) is at least go1.major.minor.
func goVersionAtLeast(v string, major, minor int) bool {
	if strings.HasPrefix(v, "devel") {
		return true
	}
	v = strings.TrimPrefix(v, "go")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mstr := parts[1]
	for i, c := range mstr {
		if c < '0' || c > '9' {
			mstr = mstr[:i]
			break
		}
	}
	mi, err2 := strconv.Atoi(mstr)
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && mi >= minor)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Plan builds the join plan: an empty plan when already joined to Server.
func (j *Join) Plan(ctx context.Context) (*plan.Plan, error) {
	vals, err := j.Go.values(ctx, "GOVERSION", "GOENV", "GOPROXY", "GOCACHEPROG")
	if err != nil {
		return nil, err
	}
	if !goVersionAtLeast(vals["GOVERSION"], 1, 24) {
		return nil, fmt.Errorf("%w: %s is older than go1.24", ErrGoTooOld, vals["GOVERSION"])
	}
	goenvFile := vals["GOENV"]
	if goenvFile == "" || goenvFile == "off" {
		return nil, fmt.Errorf("GOENV is %q: the go command has no settings file to write", goenvFile)
	}
	st, err := ReadState(j.Paths.State())
	if err != nil {
		return nil, err
	}
	p := &plan.Plan{Title: "join " + j.Server}
	if st != nil {
		if st.Server != j.Server {
			return nil, fmt.Errorf("%w: %s", ErrJoined, st.Server)
		}
		prev := previousProxy(vals["GOPROXY"], st.Server)
		wp, wc := j.Wanted(prev)
		if vals["GOPROXY"] == wp && vals["GOCACHEPROG"] == wc {
			return p, nil // already joined
		}
		return nil, fmt.Errorf("%w: %s, but GOPROXY or GOCACHEPROG changed since", ErrJoined, st.Server)
	}
	before, err := os.ReadFile(goenvFile)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	goproxy, gocacheprog := j.Wanted(vals["GOPROXY"])
	state := &State{Server: j.Server, GOENV: goenvFile, Existed: existed, Before: string(before)}
	restore := func(context.Context) error { return restoreFile(goenvFile, existed, before) }
	if j.Token != "" {
		tok := j.Paths.Token()
		state.TokenFile = tok
		p.Add(plan.Step{Action: "write", Target: tok, To: "the token (mode 0600)",
			Do: func(context.Context) error {
				if err := os.MkdirAll(j.Paths.Dir, 0o700); err != nil {
					return err
				}
				return atomicfile.WriteFile(tok, []byte(j.Token+"\n"), 0o600)
			},
			Undo: func(context.Context) error { return os.Remove(tok) }})
	}
	p.Add(plan.Step{Action: "set", Target: "GOPROXY", From: modfetch.Redact(vals["GOPROXY"]), To: modfetch.Redact(goproxy), Note: "in " + goenvFile,
		Do:   func(ctx context.Context) error { _, err := j.Go.run(ctx, "env", "-w", "GOPROXY="+goproxy); return err },
		Undo: restore})
	p.Add(plan.Step{Action: "set", Target: "GOCACHEPROG", From: vals["GOCACHEPROG"], To: gocacheprog, Note: "in " + goenvFile,
		Do: func(ctx context.Context) error {
			_, err := j.Go.run(ctx, "env", "-w", "GOCACHEPROG="+gocacheprog)
			return err
		},
		Undo: restore})
	p.Add(plan.Step{Action: "write", Target: j.Paths.State(), To: "what join replaced, for pitstop leave",
		Do: func(context.Context) error {
			after, err := os.ReadFile(goenvFile)
			if err != nil {
				return err
			}
			state.AfterSHA256 = sha(after)
			b, _ := json.MarshalIndent(state, "", "  ")
			if err := os.MkdirAll(j.Paths.Dir, 0o700); err != nil {
				return err
			}
			return atomicfile.WriteFile(j.Paths.State(), append(b, '\n'), 0o600)
		},
		Undo: func(context.Context) error { return os.Remove(j.Paths.State()) }})
	for _, k := range []string{"GOPROXY", "GOCACHEPROG"} {
		if v := j.Go.getenv(k); v != "" {
			p.Note("%s is set in your environment (%s), which overrides the go env file: unset it (in your shell profile) for the join to take effect", k, modfetch.Redact(v))
		}
	}
	p.Note("undo with pitstop leave")
	return p, nil
}

// previousProxy is the list after "server|" in goproxy (what join kept as
// the fallback).
func previousProxy(goproxy, server string) string {
	first, rest, ok := strings.Cut(goproxy, "|")
	if !ok {
		return ""
	}
	if u, err := url.Parse(first); err == nil {
		u.User = nil
		first = u.String()
	}
	if first != server {
		return ""
	}
	return rest
}

func restoreFile(path string, existed bool, content []byte) error {
	if !existed {
		err := os.Remove(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return atomicfile.WriteFile(path, content, 0o644)
}

// Leave is a leave's input.
type Leave struct {
	Paths Paths
	Go    GoCmd
}

// Plan builds the leave plan: empty when not joined.
func (l *Leave) Plan(ctx context.Context) (*plan.Plan, error) {
	st, err := ReadState(l.Paths.State())
	if err != nil {
		return nil, err
	}
	p := &plan.Plan{Title: "leave"}
	if st == nil {
		return p, nil
	}
	p.Title = "leave " + st.Server
	cur, err := os.ReadFile(st.GOENV)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err == nil && sha(cur) == st.AfterSHA256 {
		step := plan.Step{Action: "restore", Target: st.GOENV, To: "its content before the join, byte for byte",
			Do: func(context.Context) error { return restoreFile(st.GOENV, st.Existed, []byte(st.Before)) }}
		if !st.Existed {
			step.Action, step.To, step.Note = "remove", "", "join created it"
		}
		p.Add(step)
	} else {
		// Changed since the join: put back only the two values.
		before := parseEnvFile(st.Before)
		for _, k := range []string{"GOPROXY", "GOCACHEPROG"} {
			v, ok := before[k]
			args := []string{"env", "-u", k}
			to := "(unset)"
			if ok {
				args, to = []string{"env", "-w", k + "=" + v}, v
			}
			p.Add(plan.Step{Action: "set", Target: k, To: modfetch.Redact(to), Note: st.GOENV + " changed since the join: only this value is put back",
				Do: func(ctx context.Context) error { _, err := l.Go.run(ctx, args...); return err }})
		}
	}
	if st.TokenFile != "" {
		p.Add(plan.Step{Action: "remove", Target: st.TokenFile, Do: func(context.Context) error { return removeIfThere(st.TokenFile) }})
	}
	p.Add(plan.Step{Action: "remove", Target: l.Paths.State(), Note: "and its directory when empty",
		Do: func(context.Context) error {
			if err := removeIfThere(l.Paths.State()); err != nil {
				return err
			}
			os.Remove(l.Paths.Dir) // only if empty: join made it
			return nil
		}})
	return p, nil
}

func removeIfThere(p string) error {
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// parseEnvFile reads a go env file's KEY=VALUE lines.
func parseEnvFile(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && k != "" && !strings.HasPrefix(k, "#") {
			m[strings.TrimSpace(k)] = v
		}
	}
	return m
}
