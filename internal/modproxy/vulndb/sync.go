package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
)

// SyncResult says what Sync did.
type SyncResult struct {
	// Modified is the database's modified time (index/db.json).
	Modified time.Time
	// Entries is the number of advisories in the mirror; Fetched how many
	// were downloaded (the rest were unchanged and copied).
	Entries, Fetched int
	// Unchanged is true when the mirror was already current and was left
	// alone.
	Unchanged bool
}

// Syncer copies a vulnerability database from a URL into a mirror
// directory. The zero value uses http.DefaultClient without a deadline
// of its own: set Client with a Timeout for unattended runs.
type Syncer struct {
	Client *http.Client
	// Parallel is how many advisories are fetched at once; 0 means 8.
	Parallel int
}

// Sync makes dir a copy of the database at base (an http(s) or file URL,
// or a directory): it builds the new copy beside dir and swaps it in with
// renames, so a reader sees the old copy or the new one, never a mixture
// (between the two renames the directory is briefly absent; DB keeps its
// loaded index then). Advisories whose modified time did not change are
// copied from the old mirror instead of fetched.
func (s Syncer) Sync(ctx context.Context, base, dir string) (SyncResult, error) {
	base = strings.TrimSuffix(base, "/")
	var res SyncResult
	dbjson, err := s.get(ctx, base, "index/db.json", MaxEntrySize)
	if err != nil {
		return res, err
	}
	var meta DBMeta
	if err := json.Unmarshal(dbjson, &meta); err != nil || meta.Modified.IsZero() {
		return res, fmt.Errorf("vulnerability database %s: index/db.json has no modified time (is this a Go vulnerability database?)", base)
	}
	res.Modified = meta.Modified
	old, _ := readLimit(filepath.Join(dir, "index", "db.json"), MaxEntrySize)
	if bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(dbjson)) {
		res.Unchanged = true
		if n, err := os.ReadDir(filepath.Join(dir, "ID")); err == nil {
			res.Entries = len(n)
		}
		return res, nil
	}
	modsjson, err := s.get(ctx, base, "index/modules.json", MaxIndexSize)
	if err != nil {
		return res, err
	}
	var mods []ModuleEntry
	if err := json.Unmarshal(modsjson, &mods); err != nil {
		return res, fmt.Errorf("vulnerability database %s: index/modules.json: %v", base, err)
	}
	vulnsjson, err := s.get(ctx, base, "index/vulns.json", MaxIndexSize)
	if err != nil {
		return res, err
	}
	var vulns []VulnEntry
	if err := json.Unmarshal(vulnsjson, &vulns); err != nil {
		return res, fmt.Errorf("vulnerability database %s: index/vulns.json: %v", base, err)
	}
	oldMod := map[string]time.Time{}
	if b, err := readLimit(filepath.Join(dir, "index", "vulns.json"), MaxIndexSize); err == nil {
		var ov []VulnEntry
		if json.Unmarshal(b, &ov) == nil {
			for _, v := range ov {
				oldMod[v.ID] = v.Modified
			}
		}
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return res, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Parallel, 1))
	if s.Parallel == 0 {
		g.SetLimit(8)
	}
	fetched := make([]bool, len(vulns))
	for i, v := range vulns {
		if !validID(v.ID) {
			return res, fmt.Errorf("vulnerability database %s: invalid advisory ID %q in index/vulns.json", base, v.ID)
		}
		g.Go(func() error {
			dst := filepath.Join(tmp, "ID", v.ID+".json")
			if t, ok := oldMod[v.ID]; ok && t.Equal(v.Modified) {
				if b, err := readLimit(filepath.Join(dir, "ID", v.ID+".json"), MaxEntrySize); err == nil {
					return os.WriteFile(dst, b, 0o644)
				}
			}
			b, err := s.get(gctx, base, "ID/"+v.ID+".json", MaxEntrySize)
			if err != nil {
				return err
			}
			var e Entry
			if err := json.Unmarshal(b, &e); err != nil || e.ID != v.ID {
				return fmt.Errorf("vulnerability database %s: ID/%s.json is not the OSV record of %s", base, v.ID, v.ID)
			}
			fetched[i] = true
			return os.WriteFile(dst, b, 0o644)
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for _, f := range fetched {
		if f {
			res.Fetched++
		}
	}
	res.Entries = len(vulns)
	for name, b := range map[string][]byte{"modules.json": modsjson, "vulns.json": vulnsjson, "db.json": dbjson} {
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return res, err
		}
	}
	if err := atomicfile.SyncFS(tmp); err != nil {
		return res, err
	}
	// Swap: dir → dir.old, tmp → dir, remove the old copy.
	oldDir := ""
	if _, err := os.Stat(dir); err == nil {
		oldDir = tmp + ".old"
		if err := os.Rename(dir, oldDir); err != nil {
			return res, err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if oldDir != "" {
			os.Rename(oldDir, dir)
		}
		return res, err
	}
	atomicfile.SyncDir(parent)
	if oldDir != "" {
		os.RemoveAll(oldDir)
	}
	return res, nil
}

// get reads base/rel from an http(s) URL, a file URL or a directory.
func (s Syncer) get(ctx context.Context, base, rel string, limit int64) ([]byte, error) {
	if p, ok := strings.CutPrefix(base, "file://"); ok {
		return readLimit(filepath.Join(p, filepath.FromSlash(rel)), limit)
	}
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return readLimit(filepath.Join(base, filepath.FromSlash(rel)), limit)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+rel, nil)
	if err != nil {
		return nil, err
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vulnerability database: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("vulnerability database: GET %s/%s: %s", base, rel, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("vulnerability database: GET %s/%s: %v", base, rel, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("vulnerability database: GET %s/%s: larger than %d bytes", base, rel, limit)
	}
	return b, nil
}
