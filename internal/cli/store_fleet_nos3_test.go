//go:build !s3

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreWithoutS3: the default build has no S3 client; --store s3://…
// is one line saying how to get one, exit 2, and nothing created. The
// fleet flags that need no S3 client are still checked as in the S3 build.
func TestStoreWithoutS3(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--store", "s3://there/p", "--s3-endpoint", "http://127.0.0.1:1", "--s3-path-style"}, errNoS3},
		{[]string{"--store", "s3://there/p", "--redis", "redis://127.0.0.1:1"}, errNoS3},
		{[]string{"--redis", "redis://127.0.0.1:1"}, "--redis and --s3-endpoint need --store s3://BUCKET/PREFIX"},
	}
	for _, what := range []string{"proxy", "cache"} {
		for _, c := range cases {
			dir := filepath.Join(t.TempDir(), "store")
			var stderr bytes.Buffer
			args := append([]string{what, "serve", "--dir", dir, "--listen", "127.0.0.1:0"}, c.args...)
			code := Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
			msg := strings.TrimSpace(stderr.String())
			if code != 2 {
				t.Errorf("%s %v: exit %d, want 2; stderr: %s", what, c.args, code, msg)
			}
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("%s %v: stderr %q: want one line with %q", what, c.args, msg, c.want)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s %v: %s was created", what, c.args, dir)
			}
		}
	}
}
