//go:build !s3

package cli

import (
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
			serveRefused(t, what, c.args, c.want)
		}
	}
}
