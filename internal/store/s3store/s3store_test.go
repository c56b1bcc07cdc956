package s3store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/store/s3store"
	"github.com/pitstop-go/pitstop/internal/store/storetest"
	"github.com/pitstop-go/pitstop/internal/testfleet"
)

// TestConformance runs the store conformance suite against a real
// S3-compatible server (versitygw) started for the test.
func TestConformance(t *testing.T) {
	srv := testfleet.StartS3(t)
	srv.MakeBucket(t, "conf")
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, maxSize int64) store.Store {
		// Each store gets its own prefix, so it starts empty.
		cfg := s3store.Config{Bucket: "conf", Prefix: fmt.Sprintf("t%d/sub", n.Add(1)), Endpoint: srv.Endpoint, PathStyle: true}
		s, err := s3store.OpenWith(context.Background(), cfg, s3store.Options{MaxSize: maxSize, TempDir: t.TempDir()}, testfleet.Creds())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
