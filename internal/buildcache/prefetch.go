package buildcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
)

// ManifestKey names what is being built from dir (the go command's working
// directory): the main module's path, the target platform and the go
// subcommand (build, test, vet...) that started the helper, when it can be
// read from /proc. Builds of the same module on other boards or at other
// checkout paths share the key, so each can prefetch what the last ones
// used. It is "" outside a module.
func ManifestKey(dir string, getenv func(string) string) string {
	k := moduleKey(dir, getenv)
	if k == "" {
		return ""
	}
	if v := goVerb(os.Getppid()); v != "" {
		k += " " + v
	}
	return k
}

// goVerb returns the subcommand of the go command running as pid ("build"
// for `go build -o x ./...`), or "" if it cannot tell.
func goVerb(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	if len(args) < 2 || !strings.HasPrefix(filepath.Base(args[0]), "go") {
		return ""
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "-C" {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		if len(a) > 20 || strings.ContainsAny(a, "/. ") {
			return ""
		}
		return a
	}
	return ""
}

func moduleKey(dir string, getenv func(string) string) string {
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			mp := modfile.ModulePath(data)
			if mp == "" {
				return ""
			}
			goos, goarch := getenv("GOOS"), getenv("GOARCH")
			if goos == "" {
				goos = runtime.GOOS
			}
			if goarch == "" {
				goarch = runtime.GOARCH
			}
			return mp + " " + goos + "/" + goarch
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// prefetchChunk is how many actions one batch request asks for, and
// prefetchStreams how many batches run at once. Chunks go out in manifest
// order, so what the build needs first arrives first.
const (
	prefetchChunk   = 64
	prefetchStreams = 4
)

// prefetch fetches the manifest of the last builds of p.ManifestKey and
// streams every listed object the local tier lacks, so that the go
// command's gets, which arrive a few at a time, find them locally instead
// of each waiting a round trip.
func (p *Prog) prefetch(ctx context.Context) {
	defer close(p.prefDone)
	mctx, cancel := context.WithTimeout(ctx, p.Remote.timeout())
	ids, err := p.Remote.Manifest(mctx, p.ManifestKey)
	cancel()
	if err != nil {
		if !errors.Is(err, ErrMiss) && !errors.Is(err, ErrUnavailable) {
			p.Stats.RemoteErrs.Add(1)
			p.logger().Debug("fetching build manifest", "err", err)
		}
		return
	}
	p.mu.Lock()
	p.lastManifest = ids
	p.mu.Unlock()
	// Stat outside the lock: gets must not wait for this.
	var missing []ID
	for _, a := range ids {
		if !p.Local.Has(a) {
			missing = append(missing, a)
		}
	}
	var want []ID
	p.mu.Lock()
	for _, a := range missing {
		if _, ok := p.pending[a]; !ok {
			p.pending[a] = make(chan struct{})
			want = append(want, a)
		}
	}
	p.mu.Unlock()
	p.Stats.PrefetchWanted.Add(int64(len(want)))

	chunks := make(chan []ID)
	var wg sync.WaitGroup
	for range prefetchStreams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range chunks {
				p.prefetchChunk(ctx, c)
			}
		}()
	}
	for i := 0; i < len(want); i += prefetchChunk {
		chunks <- want[i:min(i+prefetchChunk, len(want))]
	}
	close(chunks)
	wg.Wait()
}

func (p *Prog) prefetchChunk(ctx context.Context, chunk []ID) {
	defer func() {
		// Whatever did not arrive is left to on-demand gets.
		p.mu.Lock()
		for _, a := range chunk {
			if ch, ok := p.pending[a]; ok {
				close(ch)
				delete(p.pending, a)
			}
		}
		p.mu.Unlock()
	}()
	if p.Remote.allow() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := p.Remote.Batch(ctx, chunk, func(a ID, e Entry, body io.Reader) error {
		if _, err := p.store(a, e, body); err != nil {
			if errors.Is(err, ErrCorrupt) {
				p.Stats.Corrupt.Add(1)
				p.Stats.RemoteErrs.Add(1)
				p.logger().Warn("server sent a corrupt object; ignored", "action", a, "err", err)
				// The bytes were consumed by the limit reader: go on.
				return nil
			}
			return err
		}
		p.Stats.Prefetched.Add(1)
		p.Stats.PrefetchBytes.Add(e.Size)
		p.noteServed(a, e.OutputID)
		p.mu.Lock()
		p.prefetched[a] = true
		if ch, ok := p.pending[a]; ok {
			close(ch)
			delete(p.pending, a)
		}
		p.mu.Unlock()
		return nil
	})
	if err != nil && !errors.Is(err, ErrUnavailable) {
		p.Stats.RemoteErrs.Add(1)
		if errors.Is(err, ErrCorrupt) {
			p.Stats.Corrupt.Add(1)
		}
		p.logger().Debug("prefetch batch failed", "err", err)
	}
}
