package ramdisk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pitstop-go/pitstop/internal/atomicfile"
	"github.com/pitstop-go/pitstop/internal/units"
)

// DefaultConfigFile is where enable records what to mount at boot.
const DefaultConfigFile = "/etc/pitstop/ramdisk.conf"

// DefaultHighWater is the tmpfs fill level, in percent, at which the watch
// syncs early and then reclaims or grows the RAM disk.
const DefaultHighWater = 75

// Path is one directory kept in RAM.
type Path struct {
	// Dir is the absolute directory, symbolic links resolved.
	Dir string
	// Size is the tmpfs size in bytes.
	Size uint64
	// MaxSize is how far the watch may grow the tmpfs when it passes the
	// high-water mark and cannot reclaim; 0 means Size (never grow).
	MaxSize uint64
	// SkipSync leaves the directory's changes in RAM only: sync and
	// disable do not write them back (for a build cache, which is
	// disposable). Deletions are not written back either.
	SkipSync bool
	// Create makes Dir (and missing parents, owned like the nearest
	// existing parent) when it does not exist yet, as Go would on first
	// use. Enable sets it for the go env defaults; it is not saved.
	Create bool
}

// Config is the content of /etc/pitstop/ramdisk.conf.
type Config struct {
	// Paths are the directories to keep in RAM, mounted at boot.
	Paths []Path
	// HighWater is the fill level in percent (1-99) that triggers an early
	// sync; 0 means DefaultHighWater.
	HighWater int
}

func (c *Config) highWater() int {
	if c == nil || c.HighWater <= 0 {
		return DefaultHighWater
	}
	return c.HighWater
}

// Find returns the configured entry for dir.
func (c *Config) Find(dir string) (Path, bool) {
	for _, p := range c.Paths {
		if p.Dir == dir {
			return p, true
		}
	}
	return Path{}, false
}

// set replaces or adds p.
func (c *Config) set(p Path) {
	for i := range c.Paths {
		if c.Paths[i].Dir == p.Dir {
			c.Paths[i] = p
			return
		}
	}
	c.Paths = append(c.Paths, p)
}

func (c *Config) remove(dir string) {
	out := c.Paths[:0]
	for _, p := range c.Paths {
		if p.Dir != dir {
			out = append(out, p)
		}
	}
	c.Paths = out
}

// ParseConfig reads the config file's text:
//
//	# comment
//	high-water 75
//	path "/home/pi/go/pkg/mod" size=512M max-size=1G
//	path "/home/pi/.cache/go-build" size=1G skip-sync
func ParseConfig(data []byte) (*Config, error) {
	c := &Config{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("ramdisk config line %d: %s", n, fmt.Sprintf(format, args...))
		}
		switch key {
		case "high-water":
			v, err := strconv.Atoi(strings.TrimSuffix(rest, "%"))
			if err != nil || v < 1 || v > 99 {
				return nil, bad("high-water %q: want a percentage from 1 to 99", rest)
			}
			c.HighWater = v
		case "path":
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return nil, bad("path must be a double-quoted absolute directory")
			}
			dir, _ := strconv.Unquote(q)
			if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" || strings.ContainsRune(dir, 0) {
				return nil, bad("path %q: want a clean absolute directory other than /", dir)
			}
			if _, dup := c.Find(dir); dup {
				return nil, bad("path %q listed twice", dir)
			}
			p := Path{Dir: dir}
			for _, f := range strings.Fields(rest[len(q):]) {
				k, v, hasV := strings.Cut(f, "=")
				switch {
				case k == "size" && hasV:
					if p.Size, err = parseSizeSetting(v); err != nil {
						return nil, bad("%v", err)
					}
				case k == "max-size" && hasV:
					if p.MaxSize, err = parseSizeSetting(v); err != nil {
						return nil, bad("%v", err)
					}
				case k == "skip-sync" && !hasV:
					p.SkipSync = true
				default:
					return nil, bad("unknown option %q (want size=, max-size=, skip-sync)", f)
				}
			}
			if p.Size == 0 {
				return nil, bad("path %q has no size=", dir)
			}
			if p.MaxSize != 0 && p.MaxSize < p.Size {
				return nil, bad("path %q: max-size is smaller than size", dir)
			}
			c.Paths = append(c.Paths, p)
		default:
			return nil, bad("unknown setting %q (want path or high-water)", key)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ramdisk config: %v", err)
	}
	return c, nil
}

// Format renders c as ParseConfig reads it.
func (c *Config) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# pitstop ramdisk: directories kept in RAM (written by `pitstop ramdisk enable`,\n")
	b.WriteString("# read at boot by pitstop-ramdisk.service). Undo: `pitstop ramdisk disable`.\n")
	if c.HighWater != 0 {
		fmt.Fprintf(&b, "high-water %d\n", c.HighWater)
	}
	for _, p := range c.Paths {
		fmt.Fprintf(&b, "path %s size=%s", strconv.Quote(p.Dir), units.FormatSize(int64(p.Size)))
		if p.MaxSize != 0 {
			fmt.Fprintf(&b, " max-size=%s", units.FormatSize(int64(p.MaxSize)))
		}
		if p.SkipSync {
			b.WriteString(" skip-sync")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// SizeLimit is the largest size or max-size a RAM disk takes (1E): far
// beyond any machine's RAM, and small enough that adding sizes up cannot
// overflow.
const SizeLimit = 1 << 60

// parseSizeSetting reads a size= or max-size= value (units.ParseSize's
// syntax): more than 0 and at most SizeLimit.
func parseSizeSetting(v string) (uint64, error) {
	n, err := units.ParseSize(v)
	if err != nil {
		return 0, err
	}
	if n <= 0 || n > SizeLimit {
		return 0, fmt.Errorf("bad size %q: want more than 0 and at most %s (e.g. 512M or 2G)", v, units.FormatSize(SizeLimit))
	}
	return uint64(n), nil
}

// LoadConfig reads file; a missing file is an empty config.
func LoadConfig(file string) (*Config, error) {
	c, _, err := readConfig(file)
	return c, err
}

// readConfig is LoadConfig that also returns the file's text (nil when
// there is no file), which a plan changes from.
func readConfig(file string) (*Config, []byte, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		data = []byte{}
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v (fix or remove the file)", file, err)
	}
	return c, data, nil
}

// clone returns a copy of c whose Paths can be changed.
func (c *Config) clone() *Config {
	n := *c
	n.Paths = append([]Path(nil), c.Paths...)
	return &n
}

// saveConfig writes c to file atomically; an empty config removes the file.
func saveConfig(file string, c *Config) error {
	if len(c.Paths) == 0 {
		err := os.Remove(file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(file, c.Format(), 0o644)
}
