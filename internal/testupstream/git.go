package testupstream

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// GitModulePath is the module GitModule serves.
const GitModulePath = "private.test/secret.git"

// GitModule makes a git repository holding the module GitModulePath tagged
// vers, and returns a git config file (for GIT_CONFIG_GLOBAL) that maps
// https://private.test/ to it, so that `go mod download` fetches it
// directly, as it would a private module. It skips the test without git.
func GitModule(t *testing.T, vers string) (gitconfig string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git: ", err)
	}
	root := t.TempDir()
	repo := filepath.Join(root, "secret")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module "+GitModulePath+"\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "s.go"), []byte("package secret\n\nconst S = 42\n"), 0o644)
	gitcfg := filepath.Join(root, "gitconfig")
	os.WriteFile(gitcfg, []byte("[url \"file://"+root+"/\"]\n\tinsteadOf = https://private.test/\n[protocol \"file\"]\n\tallow = always\n[user]\n\tname = t\n\temail = t@t\n[init]\n\tdefaultBranch = main\n"), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "init"}, {"tag", vers}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+gitcfg, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return gitcfg
}
