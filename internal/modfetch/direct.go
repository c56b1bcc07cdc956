package modfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
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

// DefaultDirectMaxSize is the Fetcher's DirectMaxSize when zero.
const DefaultDirectMaxSize = 1 << 30

// DirectRefusedError is a direct fetch refused before any go command ran
// (DirectNoProxyOnly, DirectPublicHostsOnly). It matches fs.ErrNotExist:
// for the client the module is not available here.
type DirectRefusedError struct {
	Path   string
	Reason string
}

func (e *DirectRefusedError) Error() string {
	return fmt.Sprintf("%s: not fetched directly: %s", e.Path, e.Reason)
}

// Is makes the error a not-found answer.
func (e *DirectRefusedError) Is(target error) bool { return target == fs.ErrNotExist }

// DirectError is a direct fetch whose go command failed. Its message is
// short and generic, for clients; the go command's own output, which may
// describe the hosts it tried, is logged (warn) with the module and
// version, and kept in Detail. A NotFound one matches fs.ErrNotExist.
type DirectError struct {
	Path, Version string
	NotFound      bool
	Detail        string
}

func (e *DirectError) Error() string {
	if e.NotFound {
		return fmt.Sprintf("%s@%s: not found by direct fetch", e.Path, e.Version)
	}
	return fmt.Sprintf("%s@%s: direct fetch failed (the go command's output is logged)", e.Path, e.Version)
}

// Is makes a NotFound error a not-found answer.
func (e *DirectError) Is(target error) bool { return e.NotFound && target == fs.ErrNotExist }

// directAllowed applies DirectNoProxyOnly and DirectPublicHostsOnly to a
// direct fetch of modPath.
func (f *Fetcher) directAllowed(ctx context.Context, modPath string) error {
	if f.DirectNoProxyOnly && !f.env.NoProxy(modPath) {
		return &DirectRefusedError{Path: modPath, Reason: "this server fetches directly (from version control) only the modules its GOPRIVATE or GONOPROXY matches"}
	}
	if f.DirectPublicHostsOnly {
		if reason := f.privateHost(ctx, modPath); reason != "" {
			f.log().Warn("direct fetch refused", "module", modPath, "reason", reason)
			return &DirectRefusedError{Path: modPath, Reason: "its host is not a public name (" + reason + ")"}
		}
	}
	return nil
}

// privateHost says why modPath's host must not be reached, or "".
func (f *Fetcher) privateHost(ctx context.Context, modPath string) string {
	host, _, _ := strings.Cut(modPath, "/")
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return "an IP address"
	}
	// Every top-level domain is alphabetic; a host ending in a digit is
	// an address in one of the forms inet_aton (and so git) accepts.
	if last := host[strings.LastIndexByte(host, '.')+1:]; last == "" || last[0] >= '0' && last[0] <= '9' {
		return "an IP address"
	}
	lookup := f.lookupHost
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "it does not resolve"
	}
	for _, a := range addrs {
		if nonPublic(a) {
			return "it resolves to " + a.Unmap().String()
		}
	}
	return ""
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// nonPublic reports whether a is an address a LAN server must not be
// steered to: loopback, private, link-local, carrier-grade NAT,
// unspecified, multicast.
func nonPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a) ||
		a.Is4() && a.As4()[0] == 0 || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// runGo runs the go command with args for a direct fetch of mod@vers and
// returns stdout. A failure is a *DirectError; the go command's stderr is
// logged, never returned.
func (f *Fetcher) runGo(ctx context.Context, mod, vers string, args ...string) ([]byte, error) {
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
	cmd.Stderr = &limitedBuffer{max: 16 << 10, b: &stderr}
	f.log().Debug("direct fetch", "cmd", strings.Join(append([]string{gobin}, args...), " "))
	f.directMu.Lock()
	f.directRunning++
	f.directMu.Unlock()
	err = cmd.Run()
	f.directMu.Lock()
	f.directRunning--
	f.directMu.Unlock()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s@%s: direct fetch: %w", mod, vers, ctx.Err())
	}
	if err != nil && stdout.Len() == 0 {
		detail := strings.TrimSpace(stderr.String())
		f.log().Warn("direct fetch failed", "module", mod, "version", vers, "cmd", "go "+strings.Join(args, " "), "err", err, "stderr", detail)
		return nil, &DirectError{Path: mod, Version: vers, Detail: detail}
	}
	if detail := strings.TrimSpace(stderr.String()); detail != "" {
		f.log().Debug("direct fetch stderr", "module", mod, "version", vers, "stderr", detail)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	max int
	b   *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// directGC empties the direct fetches' module cache when it holds more
// than DirectMaxSize and no direct fetch runs or still reads its files.
// The caller holds directMu.
func (f *Fetcher) directGC() {
	if f.directRunning > 0 || len(f.directRefs) > 0 {
		return
	}
	d, err := f.directDir()
	if err != nil {
		return
	}
	max := f.DirectMaxSize
	if max <= 0 {
		max = DefaultDirectMaxSize
	}
	var size int64
	for _, sub := range []string{"modcache", "gopath"} {
		filepath.WalkDir(filepath.Join(d, sub), func(_ string, de fs.DirEntry, err error) error {
			if err == nil && de.Type().IsRegular() {
				if info, ierr := de.Info(); ierr == nil {
					size += info.Size()
				}
			}
			return nil
		})
	}
	if size <= max {
		return
	}
	f.log().Info("direct-fetch module cache over its bound; emptying it", "dir", d, "bytes", size, "max", max)
	for _, sub := range []string{"modcache", "gopath"} {
		if err := os.RemoveAll(filepath.Join(d, sub)); err != nil {
			f.log().Warn("emptying the direct-fetch module cache", "dir", filepath.Join(d, sub), "err", err)
		}
	}
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

func (m *goModule) err(f *Fetcher, mod, vers string) error {
	if len(m.Error) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(m.Error, &s) != nil {
		var e struct{ Err string }
		json.Unmarshal(m.Error, &e)
		s = e.Err
	}
	de := &DirectError{Path: mod, Version: vers, Detail: s}
	// The go command reports unknown modules and revisions in words.
	for _, nf := range []string{"not found", "unknown revision", "no matching versions", "invalid version", "404", "410", "does not contain"} {
		if strings.Contains(s, nf) {
			de.NotFound = true
		}
	}
	f.log().Warn("direct fetch failed", "module", mod, "version", vers, "notfound", de.NotFound, "err", s)
	return de
}

func (f *Fetcher) goJSON(ctx context.Context, mod, vers string, args ...string) (*goModule, error) {
	out, err := f.runGo(ctx, mod, vers, args...)
	if err != nil {
		return nil, err
	}
	var m goModule
	if err := decodeJSON(out, &m); err != nil {
		f.log().Warn("direct fetch: unexpected go command output", "module", mod, "version", vers, "err", err)
		return nil, &DirectError{Path: mod, Version: vers, Detail: err.Error()}
	}
	return &m, m.err(f, mod, vers)
}

// directDone empties the direct-fetch module cache if it grew too large.
func (f *Fetcher) directDone() {
	f.directMu.Lock()
	defer f.directMu.Unlock()
	f.directGC()
}

func (f *Fetcher) directList(ctx context.Context, path string) ([]byte, error) {
	m, err := f.goJSON(ctx, path, "latest", "list", "-m", "-versions", "-json", path+"@latest")
	defer f.directDone()
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
	m, err := f.goJSON(ctx, path, query, "list", "-m", "-json", path+"@"+query)
	defer f.directDone()
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
// under DirectDir stay, to make later direct fetches cheap, until they pass
// DirectMaxSize; pitstop proxy gc removes them too.)
func (f *Fetcher) download(ctx context.Context, path, vers string) (*goModule, func(), error) {
	key := path + "@" + vers
	f.directMu.Lock()
	if f.directRefs == nil {
		f.directRefs = map[string]int{}
	}
	f.directRefs[key]++
	f.directMu.Unlock()
	m, err := f.goJSON(ctx, path, vers, "mod", "download", "-json", key)
	release := func() {
		f.directMu.Lock()
		defer f.directMu.Unlock()
		if f.directRefs[key]--; f.directRefs[key] > 0 {
			return
		}
		delete(f.directRefs, key)
		if m == nil {
			f.directGC()
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
		f.directGC()
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
