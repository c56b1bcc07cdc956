//go:build !s3

package cli

import (
	"context"
	"log/slog"
)

// errNoS3 is the answer to --store s3://… in the default build, which
// leaves the S3 client (minio-go, about 3 MB) out to stay under 20 MB.
const errNoS3 = "this pitstop was built without S3 support: build it with -tags s3 (see docs/fleet-storage.md)"

// openS3 refuses --store: this build has no S3 client. Nothing is created.
func (ff *fleetFlags) openS3(context.Context, *slog.Logger, func(string), int64) (sharedStore, error) {
	return sharedStore{}, usageError(errNoS3)
}
