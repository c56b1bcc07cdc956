package modproxy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pitstop-go/pitstop/internal/testupstream"
)

var (
	depList   = testupstream.ModPath("example.com/dep") + "/@v/list"
	depLatest = testupstream.ModPath("example.com/dep") + "/@latest"
)

// askAll has clients ask every path through the replicas (client i
// through replica i%len) at once and reports every answer that is not a
// 200 whose body holds want[path].
func askAll(reps []*replica, clients int, want map[string]string) []string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p, w := range want {
				b, code, err := fetchBody(reps[i%len(reps)].URL + p)
				if err != nil || code != 200 || !strings.Contains(string(b), w) {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("client %d: %s: %d %v %q, want 200 holding %q", i, p, code, err, b, w))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return bad
}

// waitFor asks every replica for path until each answer holds want.
func waitFor(t *testing.T, reps []*replica, path, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for i, r := range reps {
		for {
			b, code, err := fetchBody(r.URL + path)
			if err != nil || code != 200 {
				t.Fatalf("replica %d: %s: %d %v %s", i+1, path, code, err, b)
			}
			if strings.Contains(string(b), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d: %s still answers %q after %v, want %q", i+1, path, b, within, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestFleetListsOneFetchPerTTL: three replicas share one Redis; many
// clients spread across them ask for a module's list and @latest. The
// upstream sees one fetch of each per TTL fleet-wide, not one per replica,
// and a version published upstream appears on every replica once the TTL
// has run out.
func TestFleetListsOneFetchPerTTL(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	const ttl = 2 * time.Second
	tweak := func(h *Handler) { h.ListTTL = ttl }
	reps := []*replica{fe.replica(t, up, tweak), fe.replica(t, up, tweak), fe.replica(t, up, tweak)}
	// A slow upstream makes the replicas' first requests overlap.
	up.SetFault(depList, testupstream.Fault{Delay: 200 * time.Millisecond})
	up.SetFault(depLatest, testupstream.Fault{Delay: 200 * time.Millisecond})
	start := time.Now()
	for _, b := range askAll(reps, 48, map[string]string{depList: "v1.1.0\n", depLatest: `"v1.1.0"`}) {
		t.Error(b)
	}
	// Fetches are at least a TTL apart: within D there are at most
	// 1+D/TTL of them (one, unless the machine is slow).
	allowed := 1 + int(time.Since(start)/ttl)
	for _, p := range []string{depList, depLatest} {
		if n := up.Count(p); n < 1 || n > allowed {
			t.Errorf("upstream saw %d fetches of %s from 3 replicas and 48 clients in %v (TTL %v); want at most %d, one per TTL fleet-wide",
				n, p, time.Since(start).Round(time.Millisecond), ttl, allowed)
		}
	}

	up.SetFault(depList, testupstream.Fault{})
	up.SetFault(depLatest, testupstream.Fault{})
	up.ResetCounts()
	if err := up.Add(m("example.com/dep", "v1.2.0", "go.mod", "module example.com/dep\n\ngo 1.21\n", "dep.go", "package dep\n\nconst N = 22\n")); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, reps, depList, "v1.2.0\n", 10*ttl)
	waitFor(t, reps, depLatest, `"v1.2.0"`, 10*ttl)
	// Keep asking for two more TTLs: still one fetch per TTL.
	for time.Since(start) < 3*ttl {
		for _, b := range askAll(reps, 6, map[string]string{depList: "v1.2.0\n", depLatest: `"v1.2.0"`}) {
			t.Error(b)
		}
	}
	// Entries expire at fetch+TTL: within D, at most 1+D/TTL refreshes.
	allowed = 1 + int(time.Since(start)/ttl)
	for _, p := range []string{depList, depLatest} {
		if n := up.Count(p); n < 1 || n > allowed {
			t.Errorf("after the new version: upstream saw %d fetches of %s in %v (TTL %v, 3 replicas asking throughout); want at most %d",
				n, p, time.Since(start).Round(time.Millisecond), ttl, allowed)
		}
	}
}

// TestFleetWarmListNoS3: a list, @latest and a query another replica
// fetched are answered by a replica that never saw them without an S3
// request or an upstream fetch.
func TestFleetWarmListNoS3(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	r1, r2 := fe.replica(t, up, nil), fe.replica(t, up, nil)
	query := testupstream.ModPath("example.com/dep") + "/@v/v1.info"
	want := map[string]string{depList: "v1.1.0\n", depLatest: `"v1.1.0"`, query: `"v1.1.0"`}
	for _, b := range askAll([]*replica{r1}, 1, want) {
		t.Fatal(b)
	}
	before, fetched := r2.remote.Metrics.Snapshot(), up.Requests()
	for _, b := range askAll([]*replica{r2}, 8, want) {
		t.Error(b)
	}
	if after := r2.remote.Metrics.Snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replica 2 made S3 requests for answers replica 1 shared: before %v, after %v; want none", before, after)
	}
	if after := up.Requests(); fmt.Sprint(after) != fmt.Sprint(fetched) {
		t.Errorf("replica 2 asked the upstream: before %v, after %v", fetched, after)
	}
}

// TestFleetListRedisKilled: with Redis gone, replicas keep answering lists
// and @latest (from memory and the bucket), and once the TTL runs out they
// refresh from the upstream themselves.
func TestFleetListRedisKilled(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	const ttl = time.Second
	tweak := func(h *Handler) { h.ListTTL = ttl }
	reps := []*replica{fe.replica(t, up, tweak), fe.replica(t, up, tweak), fe.replica(t, up, tweak)}
	want := map[string]string{depList: "v1.1.0\n", depLatest: `"v1.1.0"`}
	for _, b := range askAll(reps, 6, want) {
		t.Fatal(b)
	}
	fe.redis.Kill()
	for _, b := range askAll(reps, 12, want) {
		t.Error(b)
	}
	if err := up.Add(m("example.com/dep", "v1.2.0", "go.mod", "module example.com/dep\n\ngo 1.21\n", "dep.go", "package dep\n\nconst N = 22\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, reps, depList, "v1.2.0\n", 10*ttl+10*time.Second)
	waitFor(t, reps, depLatest, `"v1.2.0"`, 10*ttl+10*time.Second)
	degraded := 0
	for _, r := range reps {
		if r.coord.Stats().Degraded {
			degraded++
		}
	}
	if degraded == 0 {
		t.Error("no replica noticed Redis was gone")
	}
}

// TestFleetPolicyOnSharedList: a replica without a policy shares the
// upstream's list through Redis; a replica whose policy denies a version
// never shows it, though it answers from the shared entry; and when its
// policy changes, the version shows at once, without another fetch.
func TestFleetPolicyOnSharedList(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	src, file := openPolicy(t, "[default]\nmin_age = \"0\"\n\n[[rule]]\nname = \"broken\"\nmodule = \"example.com/dep\"\nversions = \"v1.1.0\"\naction = \"deny\"\n")
	open := fe.replica(t, up, nil)
	gated := fe.replica(t, up, func(h *Handler) { h.Policy = src })
	if b, code, err := fetchBody(open.URL + depList); err != nil || code != 200 || string(b) != "v1.0.0\nv1.1.0\n" {
		t.Fatalf("list without a policy: %d %v %q", code, err, b)
	}
	for range 3 {
		if b, code, err := fetchBody(gated.URL + depList); err != nil || code != 200 || string(b) != "v1.0.0\n" {
			t.Fatalf("list under a policy denying v1.1.0: %d %v %q; want only v1.0.0", code, err, b)
		}
		if b, code, err := fetchBody(gated.URL + depLatest); err != nil || code != 200 || !strings.Contains(string(b), `"v1.0.0"`) {
			t.Fatalf("@latest under a policy denying v1.1.0: %d %v %q; want v1.0.0", code, err, b)
		}
	}
	if n := up.Count(depList); n != 1 {
		t.Errorf("upstream listed %d times; want 1 (the gated replica filters the shared list)", n)
	}
	if b, _, _ := fetchBody(open.URL + depList); string(b) != "v1.0.0\nv1.1.0\n" {
		t.Errorf("the policy of one replica leaked into the shared list: the open replica now lists %q", b)
	}
	if err := os.WriteFile(file, []byte("[default]\nmin_age = \"0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := src.Reload(); err != nil {
		t.Fatal(err)
	}
	if b, code, err := fetchBody(gated.URL + depList); err != nil || code != 200 || string(b) != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list after the policy allows v1.1.0: %d %v %q", code, err, b)
	}
	if n := up.Count(depList); n != 1 {
		t.Errorf("upstream listed %d times; want 1", n)
	}
}

// TestFleetHugeListNotInRedis: a list larger than MaxFleetEntry is not
// copied into Redis (a 9-byte marker names its time); another replica
// serves it from the bucket while the marker is fresh, without asking the
// upstream.
func TestFleetHugeListNotInRedis(t *testing.T) {
	fe := newFleet(t, true)
	up := testupstream.NewForTest(t, graph...)
	r1, r2 := fe.replica(t, up, nil), fe.replica(t, up, nil)
	r1.H.Init()
	req, err := ParseRequest(depList)
	if err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	for i := 0; big.Len() <= MaxFleetEntry; i++ {
		fmt.Fprintf(&big, "v1.0.%d\n", i)
	}
	ctx := context.Background()
	done, landed, err := r1.H.fleetMetaTurn(ctx, req)
	if err != nil || landed != nil {
		t.Fatalf("fleetMetaTurn: %v %v", landed, err)
	}
	if err := r1.H.Store.Put(ctx, req.Key, strings.NewReader(big.String())); err != nil {
		t.Fatal(err)
	}
	done([]byte(big.String()), time.Now())
	// Replica 2's coordinator never set it: this is what Redis holds.
	if e, ok := r2.coord.GetEntry(ctx, metaEntryKey(req.Key)); !ok || len(e) != 9 {
		t.Errorf("Redis holds %d bytes (%v) for a %d-byte list; want the 9-byte marker", len(e), ok, big.Len())
	}
	b, code, err := fetchBody(r2.URL + depList)
	if err != nil || code != 200 || string(b) != big.String() {
		t.Fatalf("replica 2: %d %v, %d bytes; want the %d-byte list from the bucket", code, err, len(b), big.Len())
	}
	if n := up.Count(depList); n != 0 {
		t.Errorf("upstream listed %d times; want 0 (the list is in the bucket and fresh)", n)
	}
}
