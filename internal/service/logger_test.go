package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAccessLineAsSlog: the access lines NewLogger's handler formats
// itself are byte for byte what slog's text and JSON handlers write for
// the same record, and values slog would quote or escape are left to slog.
func TestAccessLineAsSlog(t *testing.T) {
	loc := time.FixedZone("X", 5*3600+30*60)
	times := []time.Time{
		time.Date(2026, 11, 30, 11, 25, 5, 596140133, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 999999999, loc),
		time.Date(2026, 1, 2, 3, 4, 5, 100000, time.UTC),
	}
	lines := []accessLine{
		{method: "GET", path: "/golang.org/x/text/@v/v0.3.0.info", route: "info", remote: "127.0.0.1:40000", status: 200, bytes: 52, duration: 123456 * time.Nanosecond},
		{method: "HEAD", path: "/example.com/!big/@v/list", route: "list", remote: "[::1]:5", status: 404, bytes: 0, duration: 3*time.Second + 7},
		{method: "GET", path: "/", route: "status", remote: "10.0.0.1:1", status: 500, bytes: 1 << 40, duration: 0, level: slog.LevelDebug},
		{method: "GET", path: "/a b", route: "bad", remote: "1:2", status: 400},         // space: quoted
		{method: "GET", path: "/a=b", route: "bad", remote: "1:2", status: 400},         // '=': quoted
		{method: "GET", path: `/a"b`, route: "bad", remote: "1:2", status: 400},         // quote
		{method: "GET", path: "/a\\b", route: "bad", remote: "1:2", status: 400},        // backslash
		{method: "GET", path: "/é", route: "bad", remote: "1:2", status: 400},           // not ASCII
		{method: "GET", path: "/a\x01", route: "bad", remote: "1:2", status: 400},       // control
		{method: "GET", path: "", route: "other", remote: "1:2", status: 400},           // empty: quoted in text
		{method: "GET", path: "/<script>&", route: "other", remote: "1:2", status: 200}, // plain in both
	}
	for _, format := range []string{"text", "json"} {
		for _, tm := range times {
			for _, a := range lines {
				a.time = tm
				var got, want bytes.Buffer
				log, _ := NewLoggerLevel(format, &got, slog.LevelDebug)
				lh := log.Handler().(*logHandler)
				formatted := lh.appendAccess(&a)
				lh.Flush()
				ref, _ := NewLoggerLevel(format, &want, slog.LevelDebug)
				rc := slog.NewRecord(a.time, a.level, accessMessage, 0)
				rc.AddAttrs(slog.String("method", a.method), slog.String("path", a.path), slog.String("route", a.route),
					slog.Int("status", a.status), slog.Int64("bytes", a.bytes), slog.Duration("duration", a.duration), slog.String("remote", a.remote))
				ref.Handler().(*logHandler).direct.Handle(context.Background(), rc)
				quoted := strings.ContainsAny(want.String(), `"\`) && format == "text"
				switch {
				case formatted && got.String() != want.String():
					t.Errorf("%s: formatted\n%q\nslog writes\n%q", format, got.String(), want.String())
				case formatted && quoted:
					t.Errorf("%s: formatted %q itself, which slog quotes", format, a.path)
				case !formatted && got.Len() != 0:
					t.Errorf("%s: declined %q but wrote %q", format, a.path, got.String())
				case !formatted && simple(a.path):
					t.Errorf("%s: declined the plain path %q", format, a.path)
				}
			}
		}
	}
	// With attributes of its own, the logger's lines are slog's to write.
	var b bytes.Buffer
	log, _ := NewLogger("text", &b)
	if log.With("server", "x").Handler().(*logHandler).appendAccess(&lines[0]) {
		t.Error("a logger With attributes formatted an access line itself")
	}
}

// TestAccessTimeAsSlog: the access line's time, whose second is formatted
// once and kept, is slog's text time for every instant: within one second
// and across seconds, alternating between locations (each change of
// location or second must format anew), before 1970, and in years RFC 3339
// has no four digits for.
func TestAccessTimeAsSlog(t *testing.T) {
	slogTime := func(tm time.Time) string {
		var b bytes.Buffer
		slog.New(slog.NewTextHandler(&b, nil)).Handler().Handle(context.Background(), slog.NewRecord(tm, slog.LevelInfo, "m", 0))
		f := strings.Fields(b.String())[0]
		return strings.TrimPrefix(f, "time=")
	}
	locs := []*time.Location{time.UTC, time.FixedZone("E", 5*3600+30*60), time.FixedZone("W", -7*3600), time.Local}
	base := []time.Time{
		time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 5e6, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
	}
	steps := []time.Duration{0, 1, 999999, time.Millisecond, 499 * time.Millisecond, time.Second - 1, time.Second, 1500 * time.Millisecond, 3 * time.Second}
	for _, b := range base {
		for _, d := range steps {
			for _, loc := range locs {
				tm := b.Add(d).In(loc)
				if got, want := string(appendRFC3339Millis([]byte("x"), tm)), "x"+slogTime(tm); got != want {
					t.Errorf("%v: wrote %q, slog %q", tm, got, want)
				}
			}
		}
	}
}

// TestAccessLogBuffered: access lines are held until logFlushDelay, a
// size of logFlushSize or any other record (which comes after them), and
// nothing is lost or reordered.
func TestAccessLogBuffered(t *testing.T) {
	var out lockedBuffer
	log, _ := NewLogger("text", &out)
	lh := log.Handler().(*logHandler)
	a := accessLine{time: time.Now(), method: "GET", path: "/x", route: "info", remote: "1:2", status: 200}
	lh.appendAccess(&a)
	log.Info(accessMessage, "via", "slog") // an access record through slog is buffered too
	if s := out.String(); s != "" {
		t.Fatalf("written before the flush delay: %q", s)
	}
	log.Warn("something else")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "path=/x") || !strings.Contains(lines[1], "via=slog") || !strings.Contains(lines[2], "something else") {
		t.Fatalf("a warning did not write the pending lines first, in order:\n%s", out.String())
	}

	// The delay: a line appears by itself.
	out.Reset()
	lh.appendAccess(&a)
	deadline := time.Now().Add(30 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "path=/x") {
		t.Fatalf("a pending line was never written: %q", out.String())
	}

	// The size: a burst is written in large writes, all of it.
	out.Reset()
	lh.lw.delay = time.Hour
	lh.Flush() // the timer armed above may be pending: disarm it
	n := 0
	for out.Writes() == 0 {
		lh.appendAccess(&a)
		n++
	}
	if n*len("time=2026-11-30T11:25:05.596Z level=INFO msg=request method=GET path=/x route=info status=200 bytes=0 duration=0s remote=1:2\n") < logFlushSize {
		t.Errorf("a write after %d lines: not buffered up to %d bytes", n, logFlushSize)
	}
	lh.Flush()
	if got := strings.Count(out.String(), "path=/x"); got != n {
		t.Errorf("%d lines logged, %d written", n, got)
	}
}

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
	l.writes = 0
}
