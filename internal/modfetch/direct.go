package modfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Direct fetches run the local go command with GOPROXY=direct in an
// isolated module cache (DirectDir/modcache), outside any module, with at
// most DirectConcurrency at once and each bounded by DirectTimeout. The go
// command talks to the version control system and, unless the module is
// exempt, verifies against the checksum database itself.

func (f *Fetcher) directDir() (string, error) {
	d := f.DirectDir
	if d == "" {
		d = filepath.Join(os.TempDir(), "pitstop-direct")
	}
	if err := os.MkdirAll(filepath.Join(d, "work"), 0o755); err != nil {
		return "", err
	}
	return d, nil
}

// runGo runs the go command with args for a direct fetch and returns stdout.
func (f *Fetcher) runGo(ctx context.Context, args ...string) ([]byte, error) {
	select {
	case f.directSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-f.directSem }()
	d, err := f.directDir()
	if err != nil {
		return nil, err
	}
	timeout := f.DirectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	gobin := f.GoBin
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, args...)
	cmd.Dir = filepath.Join(d, "work")
	cmd.Env = append(os.Environ(),
		"GOPROXY=direct",
		"GOMODCACHE="+filepath.Join(d, "modcache"),
		"GOPATH="+filepath.Join(d, "gopath"),
		"GOFLAGS=-modcacherw",
		"GO111MODULE=on",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		"GOPRIVATE="+f.env.Get("GOPRIVATE"),
		"GONOPROXY="+f.env.Get("GONOPROXY"),
		"GONOSUMDB="+f.env.Get("GONOSUMDB"),
		"GOSUMDB="+f.env.Get("GOSUMDB"),
		"GOINSECURE="+f.env.Get("GOINSECURE"),
		"GIT_TERMINAL_PROMPT=0",
	)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	f.log().Debug("direct fetch", "cmd", strings.Join(append([]string{gobin}, args...), " "))
	err = cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), ctx.Err())
	}
	if err != nil && stdout.Len() == 0 {
		return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, firstLine(stderr.String()))
	}
	return stdout.Bytes(), nil
}

type goModule struct {
	Path     string
	Version  string
	Versions []string
	Time     *time.Time
	Info     string
	GoMod    string
	Zip      string
	Dir      string
	Error    json.RawMessage
}

func (m *goModule) err() error {
	if len(m.Error) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(m.Error, &s) != nil {
		var e struct{ Err string }
		json.Unmarshal(m.Error, &e)
		s = e.Err
	}
	msg := s
	// The go command reports unknown modules and revisions in words.
	for _, nf := range []string{"not found", "unknown revision", "no matching versions", "invalid version", "404", "410", "does not contain"} {
		if strings.Contains(msg, nf) {
			return &NotFoundError{What: m.Path + "@" + m.Version, Err: errors.New(msg)}
		}
	}
	return errors.New(msg)
}

func (f *Fetcher) goJSON(ctx context.Context, args ...string) (*goModule, error) {
	out, err := f.runGo(ctx, args...)
	if err != nil {
		return nil, err
	}
	var m goModule
	if err := decodeJSON(out, &m); err != nil {
		return nil, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return &m, m.err()
}

func (f *Fetcher) directList(ctx context.Context, path string) ([]byte, error) {
	m, err := f.goJSON(ctx, "list", "-m", "-versions", "-json", path+"@latest")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, v := range m.Versions {
		b.WriteString(v + "\n")
	}
	return []byte(b.String()), nil
}

func (f *Fetcher) directInfo(ctx context.Context, path, query string) ([]byte, error) {
	m, err := f.goJSON(ctx, "list", "-m", "-json", path+"@"+query)
	if err != nil {
		return nil, err
	}
	info := RevInfo{Version: m.Version}
	if m.Time != nil {
		info.Time = m.Time.UTC()
	}
	return json.Marshal(info)
}

// download runs go mod download for path@vers. The caller reads the files
// it reports, then calls release, which removes the zip and the extracted
// tree from the isolated module cache once no other download of the same
// version uses them: the store keeps the bytes, so the copy in DirectDir
// would only be uncounted duplicate disk use. (The go command's VCS clones
// under DirectDir stay, to make later direct fetches cheap; pitstop proxy gc
// removes them.)
func (f *Fetcher) download(ctx context.Context, path, vers string) (*goModule, func(), error) {
	key := path + "@" + vers
	f.directMu.Lock()
	if f.directRefs == nil {
		f.directRefs = map[string]int{}
	}
	f.directRefs[key]++
	f.directMu.Unlock()
	m, err := f.goJSON(ctx, "mod", "download", "-json", key)
	release := func() {
		f.directMu.Lock()
		defer f.directMu.Unlock()
		if f.directRefs[key]--; f.directRefs[key] > 0 {
			return
		}
		delete(f.directRefs, key)
		if m == nil {
			return
		}
		d, derr := f.directDir()
		if derr != nil {
			return
		}
		cache := filepath.Join(d, "modcache") + string(filepath.Separator)
		// Only paths inside our module cache, as the go command named them.
		if m.Dir != "" && strings.HasPrefix(m.Dir, cache) {
			os.RemoveAll(m.Dir)
		}
		if m.Zip != "" && strings.HasPrefix(m.Zip, cache) {
			os.Remove(m.Zip)
		}
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return m, release, nil
}

// directFile returns the GoMod (or Info) file go mod download produced.
func (f *Fetcher) directFile(ctx context.Context, path, vers, which string) ([]byte, error) {
	m, release, err := f.download(ctx, path, vers)
	if err != nil {
		return nil, err
	}
	defer release()
	file := m.GoMod
	if which == "Info" {
		file = m.Info
	}
	if file == "" {
		return nil, fmt.Errorf("go mod download %s@%s: no %s file reported", path, vers, which)
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("go mod download %s@%s: %s file vanished", path, vers, which)
	}
	return b, err
}

func (f *Fetcher) directZip(ctx context.Context, path, vers string, dst io.Writer, progress ZipProgress) error {
	m, release, err := f.download(ctx, path, vers)
	if err != nil {
		return err
	}
	defer release()
	src, err := os.Open(m.Zip)
	if err != nil {
		return fmt.Errorf("go mod download %s@%s: %v", path, vers, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	limit := f.MaxZipSize
	if limit > 0 && st.Size() > limit {
		return fmt.Errorf("%s@%s: zip too large (%d bytes; limit %d)", path, vers, st.Size(), limit)
	}
	_, err = copyProgress(dst, io.Reader(src), st.Size(), progress)
	return err
}
