package doctor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Probe names of the GOCACHEPROG check.
const (
	ProbeCacheProg       = "gocacheprog.handshake"
	ProbeCacheProgServer = "gocacheprog.server"
)

// cacheProgTimeout bounds the helper's handshake: the go command waits for
// it before its first build step.
const cacheProgTimeout = 5 * time.Second

// cacheProgAnswer is what starting GOCACHEPROG's program gave.
type cacheProgAnswer struct {
	Path          string   `json:"path"` // the executable, resolved on PATH
	KnownCommands []string `json:"known_commands,omitempty"`
	Err           string   `json:"err,omitempty"` // the handshake failed
}

// runGoCacheProg checks that GOCACHEPROG, when set, names a program the go
// command can start (an absolute path, or a name on PATH as the go
// command finds it) and that it answers the protocol's handshake; for
// pitstop cache prog it also asks the shared cache server it names for
// /healthz, since a dead server only turns into slow misses.
func runGoCacheProg(ctx context.Context, env *Env) Result {
	v := strings.TrimSpace(env.Go.Get("GOCACHEPROG"))
	if v == "" {
		return Result{Status: OK, Finding: "GOCACHEPROG unset: the go command keeps its own build cache"}
	}
	args, err := splitQuoted(v)
	if err != nil || len(args) == 0 {
		return Result{Status: Fail, Finding: fmt.Sprintf("GOCACHEPROG=%q cannot be split into a command: %v; every go build fails", v, err),
			Fix: "go env -u GOCACHEPROG (or set it to an absolute path and its arguments)"}
	}
	a, err := Probe(env, ProbeCacheProg, func() (cacheProgAnswer, error) {
		return startCacheProg(ctx, env, args), nil
	})
	if err != nil {
		return probeSkip(err)
	}
	details := []string{"GOCACHEPROG=" + v}
	if a.Path == "" {
		return Result{Status: Fail, Details: details,
			Finding: fmt.Sprintf("GOCACHEPROG names %s, which is not on PATH: every go build fails with \"exec: %s: executable file not found\"", args[0], args[0]),
			Fix:     fmt.Sprintf("go env -w GOCACHEPROG=\"/absolute/path/to/%s %s\" (the go command looks it up on its own PATH; or go env -u GOCACHEPROG)", filepath.Base(args[0]), strings.Join(args[1:], " "))}
	}
	details = append(details, "program: "+a.Path)
	if a.Err != "" {
		return Result{Status: Fail, Details: details,
			Finding: fmt.Sprintf("GOCACHEPROG's %s does not answer the cache protocol: %s; every go build fails", a.Path, a.Err),
			Fix:     "go env -u GOCACHEPROG (or fix the program: run it as the go command does and read its first line)"}
	}
	details = append(details, "known commands: "+strings.Join(a.KnownCommands, ", "))
	r := Result{Status: OK, Details: details, Finding: fmt.Sprintf("%s answers (commands %s)", a.Path, strings.Join(a.KnownCommands, ", "))}
	if !strings.HasPrefix(a.Path, "/") {
		r.Status = Warn
		r.Finding += "; it is named relative to the current directory, so builds elsewhere fail"
		r.Fix = "go env -w GOCACHEPROG=\"" + a.Path + " ...\" with its absolute path"
	}
	if server := cacheProgServer(args, env.Getenv); server != "" {
		msg, err := Probe(env, ProbeCacheProgServer, func() (string, error) {
			return pingCacheServer(ctx, env, server), nil
		})
		switch {
		case err != nil:
			r.Details = append(r.Details, "cache server "+server+": not recorded in this capture")
		case msg != "":
			r.Status = Warn
			r.Finding += fmt.Sprintf("; its cache server %s does not answer (%s): builds work, but every shared entry is a miss", server, msg)
			r.Fix = "start the server (pitstop cache serve, or systemctl status pitstop-cache on " + hostPart(server) + "), or drop --server from GOCACHEPROG"
		default:
			r.Finding += "; cache server " + server + " answers"
		}
	}
	return r
}

// startCacheProg runs args as the go command would and reads the first
// JSON line (ID 0, KnownCommands), then closes its stdin so it exits.
func startCacheProg(ctx context.Context, env *Env, args []string) cacheProgAnswer {
	path, err := lookPathIn(args[0], env.Getenv("PATH"))
	if err != nil {
		return cacheProgAnswer{}
	}
	a := cacheProgAnswer{Path: path}
	ctx, cancel := context.WithTimeout(ctx, cacheProgTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args[1:]...)
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		a.Err = err.Error()
		return a
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		a.Err = err.Error()
		return a
	}
	if err := cmd.Start(); err != nil {
		a.Err = err.Error()
		return a
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line := make(chan []byte, 1)
	go func() {
		b, _ := bufio.NewReader(stdout).ReadBytes('\n')
		line <- b
	}()
	var b []byte
	select {
	case b = <-line:
	case <-ctx.Done():
		a.Err = fmt.Sprintf("no answer within %v", cacheProgTimeout)
		return a
	}
	var hello struct {
		ID            int64
		KnownCommands []string
	}
	if len(b) == 0 {
		a.Err = "it exited without a word"
		return a
	}
	if err := json.Unmarshal(b, &hello); err != nil {
		a.Err = fmt.Sprintf("its first line is not the JSON handshake (%.60q)", b)
		return a
	}
	if len(hello.KnownCommands) == 0 {
		a.Err = "its handshake lists no KnownCommands"
		return a
	}
	a.KnownCommands = hello.KnownCommands
	return a
}

// lookPathIn finds name as exec.LookPath does, on the PATH given.
func lookPathIn(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", errors.New("not an executable")
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// cacheProgServer is the shared cache server of a pitstop cache prog
// command line: --server URL (or --server=URL), else PITSTOP_CACHE_SERVER;
// "" for another program or none.
func cacheProgServer(args []string, getenv func(string) string) string {
	if len(args) < 3 || filepath.Base(args[0]) != "pitstop" || args[1] != "cache" || args[2] != "prog" {
		return ""
	}
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--server="); ok {
			return v
		}
		if a == "--server" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return getenv("PITSTOP_CACHE_SERVER")
}

// pingCacheServer asks server for /healthz; "" when it answers 200.
func pingCacheServer(ctx context.Context, env *Env, server string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/healthz", nil)
	if err != nil {
		return err.Error()
	}
	c := env.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			return ue.Unwrap().Error()
		}
		return err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ""
}

// hostPart is the host of a URL, for a fix line.
func hostPart(u string) string {
	h := u
	if _, rest, ok := strings.Cut(h, "://"); ok {
		h = rest
	}
	h, _, _ = strings.Cut(h, "/")
	return h
}

// splitQuoted splits s into fields as the go command splits GOCACHEPROG
// (cmd/internal/quoted): white space separates, single or double quotes
// group, without escapes.
func splitQuoted(s string) ([]string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\n\r")
		if s == "" {
			return out, nil
		}
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t\n\r")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}
