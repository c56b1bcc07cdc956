package ramdisk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pitstop-go/pitstop/internal/goenv"
	"github.com/pitstop-go/pitstop/internal/units"
)

// GoCaches returns GOMODCACHE and GOCACHE as the go command reports them
// for the user who asked: under sudo (SUDO_USER set) that is the invoking
// user, not root, so `go env` runs with that user's identity and home;
// otherwise goenv.Load (the go command on PATH, or Go's defaults).
func GoCaches(ctx context.Context) (modcache, gocache string, err error) {
	if name := os.Getenv("SUDO_USER"); name != "" && name != "root" && os.Geteuid() == 0 {
		return goCachesAs(ctx, name)
	}
	env := goenv.Load(ctx)
	return env.Get("GOMODCACHE"), env.Get("GOCACHE"), nil
}

func goCachesAs(ctx context.Context, name string) (string, string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", "", fmt.Errorf("SUDO_USER=%s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// sudo's secure_path rarely has Go; add the usual places.
	path := os.Getenv("PATH") + ":/usr/local/go/bin:" + filepath.Join(u.HomeDir, "go", "bin") + ":" + filepath.Join(u.HomeDir, ".local", "bin") + ":/usr/lib/go/bin"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gobin := "go"
	for _, dir := range filepath.SplitList(path) {
		if fi, err := os.Stat(filepath.Join(dir, "go")); err == nil && !fi.IsDir() {
			gobin = filepath.Join(dir, "go")
			break
		}
	}
	cmd := exec.CommandContext(ctx, gobin, "env", "-json", "GOMODCACHE", "GOCACHE")
	cmd.Env = []string{"HOME=" + u.HomeDir, "USER=" + name, "LOGNAME=" + name, "PATH=" + path}
	cmd.Dir = u.HomeDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil {
		var e map[string]string
		if json.Unmarshal(out, &e) == nil && e["GOMODCACHE"] != "" && e["GOCACHE"] != "" {
			return e["GOMODCACHE"], e["GOCACHE"], nil
		}
	}
	// No go command for that user: Go's own defaults for that home.
	if err != nil && !strings.Contains(err.Error(), "executable file not found") {
		return "", "", fmt.Errorf("go env as %s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return filepath.Join(u.HomeDir, "go", "pkg", "mod"), filepath.Join(u.HomeDir, ".cache", "go-build"), nil
}

// DefaultSize is the tmpfs size enable picks for n paths when none is
// given: a quarter of MemAvailable shared among them, at most 1G each,
// rounded down to a MiB.
func (m *Manager) DefaultSize(n int) (uint64, error) {
	spare, _, err := m.spare()
	if err != nil {
		return 0, err
	}
	if n < 1 {
		n = 1
	}
	s := spare / 2 / uint64(n)
	if s > 1<<30 {
		s = 1 << 30
	}
	s = s / (1 << 20) * (1 << 20)
	if s < 16<<20 {
		return 0, fmt.Errorf("this machine has too little RAM to spare for a RAM disk (%s available)", units.HumanSize(spare*2))
	}
	return s, nil
}
