package host

import (
	"bufio"
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo.
type Mount struct {
	ID, Parent   int
	Major, Minor int
	Root         string // the directory of the filesystem mounted here
	MountPoint   string
	Options      string // per-mount options, e.g. "rw,noexec,relatime"
	FSType       string
	Source       string
	SuperOptions string
}

// HasOption reports whether opt is among the mount's per-mount or
// superblock options.
func (m Mount) HasOption(opt string) bool {
	for _, o := range strings.Split(m.Options+","+m.SuperOptions, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// ParseMountinfo parses the text of /proc/<pid>/mountinfo.
func ParseMountinfo(data []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || len(f) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n, line)
		}
		var m Mount
		var err1, err2 error
		m.ID, err1 = strconv.Atoi(f[0])
		m.Parent, err2 = strconv.Atoi(f[1])
		mm := strings.SplitN(f[2], ":", 2)
		if err1 != nil || err2 != nil || len(mm) != 2 {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n, line)
		}
		m.Major, _ = strconv.Atoi(mm[0])
		m.Minor, _ = strconv.Atoi(mm[1])
		m.Root = unescapeOctal(f[3])
		m.MountPoint = unescapeOctal(f[4])
		m.Options = f[5]
		m.FSType = f[sep+1]
		m.Source = unescapeOctal(f[sep+2])
		if len(f) > sep+3 {
			m.SuperOptions = f[sep+3]
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces, tabs,
// newlines and backslashes in mountinfo fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mounts reads /proc/self/mountinfo.
func (r *Root) Mounts() ([]Mount, error) {
	b, err := r.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b)
}

// MountOf returns the mount that holds the absolute path p: the last
// mounted (innermost, topmost) mount whose mount point is p or a parent of
// it. On the live machine p is resolved through symbolic links first.
func (r *Root) MountOf(p string) (Mount, error) {
	ms, err := r.Mounts()
	if err != nil {
		return Mount{}, err
	}
	if r.live {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			p = rp
		}
	}
	return MountFor(ms, p)
}

// MountFor picks from ms the mount holding absolute path p.
func MountFor(ms []Mount, p string) (Mount, error) {
	p = filepath.Clean(p)
	best := -1
	for i, m := range ms {
		mp := m.MountPoint
		if p == mp || mp == "/" || strings.HasPrefix(p, mp+"/") {
			if best < 0 || len(mp) >= len(ms[best].MountPoint) {
				best = i
			}
		}
	}
	if best < 0 {
		return Mount{}, fmt.Errorf("no mount holds %s", p)
	}
	return ms[best], nil
}
