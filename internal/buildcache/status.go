package buildcache

import (
	"net/http"
	"strings"

	"github.com/pitstop-go/pitstop/internal/service"
)

// NewStats returns the Stats of a build-cache server for the status page:
// it counts single lookups (GET /v1/get/ACTION), a hit being an object
// found (200); uploads, batched prefetches and the rest are not counted
// there (pitstop_cache_gets_total counts batched lookups too). Lookups have
// no key: action IDs mean nothing to a person.
func NewStats() *service.Stats {
	return &service.Stats{Name: "build cache", Classify: classifyStatus}
}

func classifyStatus(r *http.Request, code int, _ http.Header) (key string, hit, ok bool) {
	// The cache may be mounted under a prefix (pitstop serve's /cache/).
	if r.Method != http.MethodGet && r.Method != http.MethodHead || !strings.Contains(r.URL.Path, "/v1/get/") {
		return "", false, false
	}
	return "", code == http.StatusOK, true
}
