package buildcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// replayActions is how many actions the replay benchmarks use: about a
// warm build of a mid-sized command (staticcheck's is ~1,100 gets).
const replayActions = 1000

// replayBody is the content of action i's object: distinct, a few KiB.
func replayBody(i int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "object %d ", i), 200+i%300)
}

func replayAction(i int) ID {
	return ID(sha256.Sum256(fmt.Appendf(nil, "action %d", i)))
}

// putStream is the go command's side of a cold build: one put per action,
// then close.
func putStream() []byte {
	var b bytes.Buffer
	for i := range replayActions {
		body := replayBody(i)
		a, out := replayAction(i), ID(sha256.Sum256(body))
		fmt.Fprintf(&b, `{"ID":%d,"Command":"put","ActionID":%q,"OutputID":%q,"BodySize":%d}`+"\n",
			i+1, base64.StdEncoding.EncodeToString(a[:]), base64.StdEncoding.EncodeToString(out[:]), len(body))
		fmt.Fprintf(&b, "%q\n", base64.StdEncoding.EncodeToString(body))
	}
	fmt.Fprintf(&b, `{"ID":%d,"Command":"close"}`+"\n", replayActions+1)
	return b.Bytes()
}

// getStream is the go command's side of a warm build: one get per action,
// then close.
func getStream() []byte {
	var b bytes.Buffer
	for i := range replayActions {
		a := replayAction(i)
		fmt.Fprintf(&b, `{"ID":%d,"Command":"get","ActionID":%q}`+"\n", i+1, base64.StdEncoding.EncodeToString(a[:]))
	}
	fmt.Fprintf(&b, `{"ID":%d,"Command":"close"}`+"\n", replayActions+1)
	return b.Bytes()
}

// countingDiscard counts response lines that are hits.
type countingDiscard struct{ hits int }

func (c *countingDiscard) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"DiskPath"`)) {
		c.hits++
	}
	return len(p), nil
}

// cpuNanos is the CPU time this process has used (all threads, user and
// system): on a shared machine it varies far less than wall time.
func cpuNanos() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts)
	return ts.Nano()
}

// perOp reports wall and CPU time per unit (a get, a put) of the loop that
// started at start and cpu0.
func perOp(b *testing.B, start time.Time, cpu0 int64, units int, unit string) {
	n := float64(b.N * units)
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/"+unit)
	b.ReportMetric(float64(cpuNanos()-cpu0)/n, "cpu-ns/"+unit)
}

// replay runs one helper (as the go command starts one per build) over
// stream against the tier in dir.
func replay(b *testing.B, dir string, stream []byte) *countingDiscard {
	out := &countingDiscard{}
	p := &Prog{Local: &Local{Dir: dir}}
	if err := p.Run(context.Background(), bytes.NewReader(stream), out); err != nil {
		b.Fatal(err)
	}
	return out
}

// benchReplay replays stream to a fresh helper per iteration over the tier
// in dir; every one of its replayActions requests must be answered with a
// path. It reports time per request (unit).
func benchReplay(b *testing.B, dir string, stream []byte, unit string) {
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuNanos()
	for b.Loop() {
		if out := replay(b, dir, stream); out.hits != replayActions {
			b.Fatalf("%d of %d %ss answered with a path", out.hits, replayActions, unit)
		}
	}
	perOp(b, start, cpu0, replayActions, unit)
}

// BenchmarkWarmTierReplay is the helper's side of a warm build from its
// local tier: a fresh helper answers replayActions gets, all local hits
// (the "warm tier" row of bench/cache/run.sh without the go command).
// Responses go to memory, so the figure is the helper's own cost.
func BenchmarkWarmTierReplay(b *testing.B) {
	dir := b.TempDir()
	if out := replay(b, dir, putStream()); out.hits != replayActions {
		b.Fatalf("%d of %d puts answered with a path", out.hits, replayActions)
	}
	benchReplay(b, dir, getStream(), "get")
}

// BenchmarkColdTierPuts is the helper's side of a cold build: a fresh
// helper stores replayActions puts (objects of a few KiB and their
// entries) in an empty local tier, a new one each round.
func BenchmarkColdTierPuts(b *testing.B) {
	stream := putStream()
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	base := b.TempDir()
	start, cpu0 := time.Now(), cpuNanos()
	i := 0
	for b.Loop() {
		i++
		if out := replay(b, filepath.Join(base, strconv.Itoa(i)), stream); out.hits != replayActions {
			b.Fatalf("%d of %d puts answered with a path", out.hits, replayActions)
		}
	}
	perOp(b, start, cpu0, replayActions, "put")
}

// BenchmarkHeldObjectPuts is a rebuild that puts objects the tier already
// holds (new actions with known outputs): only the entries are written.
func BenchmarkHeldObjectPuts(b *testing.B) {
	benchReplay(b, b.TempDir(), putStream(), "put")
}

// BenchmarkPutBody is the protocol's share of a put: one 64 KiB body
// decoded from its base64 JSON string.
func BenchmarkPutBody(b *testing.B) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4<<10)
	sum := sha256.Sum256(body)
	var one bytes.Buffer
	encodeRequest(b, &one, Request{ID: 1, Command: CmdPut, ActionID: sum[:], OutputID: sum[:], BodySize: int64(len(body))}, body)
	const n = 16
	stream := bytes.Repeat(one.Bytes(), n)
	b.SetBytes(int64(n * len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rr := NewRequestReader(bytes.NewReader(stream))
		for range n {
			req, err := rr.Next()
			if err != nil {
				b.Fatal(err)
			}
			if err := rr.Body(io.Discard, req.BodySize); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkLocalLookup is one local hit without the protocol around it:
// the entry read, its parse and the object's check.
func BenchmarkLocalLookup(b *testing.B) {
	dir := b.TempDir()
	replay(b, dir, putStream())
	l := &Local{Dir: dir}
	actions := make([]ID, replayActions)
	for i := range actions {
		actions[i] = replayAction(i)
	}
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuNanos()
	i := 0
	for b.Loop() {
		if _, _, err := l.Lookup(actions[i%replayActions]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	perOp(b, start, cpu0, 1, "lookup")
}
