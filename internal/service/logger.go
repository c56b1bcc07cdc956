package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// LogFormats lists the values NewLogger accepts, for flag help.
const LogFormats = "text|json"

// Access-log buffering: a server's access-log lines (Info records with
// the message accessMessage) are collected in memory and written when
// logFlushSize bytes are pending or logFlushDelay after the first of them,
// whichever comes first, and when the Server stops; every other record is
// written at once, after whatever access lines are pending, so the log
// keeps its order. A busy server thus makes one write per some hundred
// requests instead of one per request, and requests share no lock held
// across a system call. A process killed with SIGKILL loses at most
// logFlushDelay of access lines.
const (
	accessMessage = "request"
	logFlushSize  = 32 << 10
	logFlushDelay = 100 * time.Millisecond
)

// NewLogger returns a logger writing format ("text", the default when
// empty, or "json") to w at Info level, for the services' --log-format
// flag. An unknown format is a one-line error naming the valid ones.
// Access-log lines of a Server are buffered (see Server.Logger).
func NewLogger(format string, w io.Writer) (*slog.Logger, error) {
	return NewLoggerLevel(format, w, slog.LevelInfo)
}

// NewLoggerLevel is NewLogger with a minimum level; slog.LevelWarn, for
// instance, turns the per-request access log off.
func NewLoggerLevel(format string, w io.Writer, level slog.Leveler) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	lw := &logWriter{w: w}
	h := &logHandler{lw: lw, plain: true}
	switch format {
	case "", "text":
		h.direct, h.buffered = slog.NewTextHandler(lw, opts), slog.NewTextHandler(bufferedSide{lw}, opts)
	case "json":
		h.json = true
		h.direct, h.buffered = slog.NewJSONHandler(lw, opts), slog.NewJSONHandler(bufferedSide{lw}, opts)
	default:
		return nil, fmt.Errorf("bad log format %q: want text or json", format)
	}
	return slog.New(h), nil
}

// logHandler is the handler of NewLogger: access-log records go through
// buffered, every other one through direct; both write to lw.
type logHandler struct {
	direct, buffered slog.Handler
	lw               *logWriter
	json             bool
	plain            bool // no WithAttrs or WithGroup: appendAccess may format lines itself
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.direct.Enabled(ctx, l) }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn && r.Message == accessMessage {
		return h.buffered.Handle(ctx, r)
	}
	return h.direct.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{direct: h.direct.WithAttrs(attrs), buffered: h.buffered.WithAttrs(attrs), lw: h.lw, json: h.json}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{direct: h.direct.WithGroup(name), buffered: h.buffered.WithGroup(name), lw: h.lw, json: h.json}
}

// Flush writes the access-log lines pending.
func (h *logHandler) Flush() { h.lw.flush() }

// accessLine is one access-log record's fields.
type accessLine struct {
	time                        time.Time
	level                       slog.Level
	method, path, route, remote string
	status                      int
	bytes                       int64
	duration                    time.Duration
}

// appendAccess formats a into the buffer exactly as the slog handler
// would (a test holds them to it) and reports true; it formats nothing
// and reports false when the handler has attributes or groups of its own
// or a string needs quoting or escaping, for the slog handler to do it.
// It allocates nothing but the duration's text.
func (h *logHandler) appendAccess(a *accessLine) bool {
	if !h.plain || !simple(a.method) || !simple(a.path) || !simple(a.route) || !simple(a.remote) {
		return false
	}
	var arr [384]byte
	b := arr[:0]
	if h.json {
		b = append(b, `{"time":"`...)
		b = a.time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","level":"`...)
		b = append(b, a.level.String()...)
		b = append(b, `","msg":"`+accessMessage+`","method":"`...)
		b = append(b, a.method...)
		b = append(b, `","path":"`...)
		b = append(b, a.path...)
		b = append(b, `","route":"`...)
		b = append(b, a.route...)
		b = append(b, `","status":`...)
		b = strconv.AppendInt(b, int64(a.status), 10)
		b = append(b, `,"bytes":`...)
		b = strconv.AppendInt(b, a.bytes, 10)
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(a.duration), 10)
		b = append(b, `,"remote":"`...)
		b = append(b, a.remote...)
		b = append(b, "\"}\n"...)
	} else {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, a.time)
		b = append(b, " level="...)
		b = append(b, a.level.String()...)
		b = append(b, " msg="+accessMessage+" method="...)
		b = append(b, a.method...)
		b = append(b, " path="...)
		b = append(b, a.path...)
		b = append(b, " route="...)
		b = append(b, a.route...)
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(a.status), 10)
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, a.bytes, 10)
		b = append(b, " duration="...)
		b = append(b, a.duration.String()...)
		b = append(b, " remote="...)
		b = append(b, a.remote...)
		b = append(b, '\n')
	}
	h.lw.buffer(b)
	return true
}

// simple reports whether s is written as is by both slog handlers: not
// empty, printable ASCII without space, '=', '"' or '\\'.
func simple(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// appendRFC3339Millis is slog's text time format: RFC 3339 with exactly
// three digits of milliseconds (truncated). The text of the second (date,
// clock, zone) is formatted once per second and kept: only the
// milliseconds change between the access lines of a busy second.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	sec, loc := t.Unix(), t.Location()
	p := lastSecond.Load()
	if p == nil || p.sec != sec || p.loc != loc {
		if y := t.Year(); y < 0 || y > 9999 {
			return appendRFC3339MillisSlow(b, t)
		}
		p = &secondText{sec: sec, loc: loc}
		p.clock = t.AppendFormat(nil, "2006-01-02T15:04:05")
		p.zone = t.AppendFormat(nil, "Z07:00")
		lastSecond.Store(p)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, p.clock...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, p.zone...)
}

// appendRFC3339MillisSlow is what slog does, for the years RFC 3339 has
// no four digits for.
func appendRFC3339MillisSlow(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...) // drop the 4th digit
}

// secondText is the formatted text of one second in one location.
type secondText struct {
	sec         int64
	loc         *time.Location
	clock, zone []byte
}

// lastSecond is the second the last access line was written in.
var lastSecond atomic.Pointer[secondText]

// logWriter is the writer under a NewLogger logger: Write writes at once
// (after the pending access lines), buffer keeps a line for later.
type logWriter struct {
	w io.Writer

	mu    sync.Mutex
	buf   []byte
	timer *time.Timer // flushes delay after the first pending line
	armed bool
	delay time.Duration // 0: logFlushDelay
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	return l.w.Write(p)
}

// buffer keeps a copy of line to write later.
func (l *logWriter) buffer(line []byte) {
	l.mu.Lock()
	l.buf = append(l.buf, line...)
	switch {
	case len(l.buf) >= logFlushSize:
		l.flushLocked()
	case !l.armed:
		l.armed = true
		d := l.delay
		if d == 0 {
			d = logFlushDelay
		}
		if l.timer == nil {
			l.timer = time.AfterFunc(d, l.flush)
		} else {
			l.timer.Reset(d)
		}
	}
	l.mu.Unlock()
}

func (l *logWriter) flush() {
	l.mu.Lock()
	l.flushLocked()
	l.mu.Unlock()
}

func (l *logWriter) flushLocked() {
	if l.armed {
		l.timer.Stop()
		l.armed = false
	}
	if len(l.buf) == 0 {
		return
	}
	l.w.Write(l.buf) // a log that cannot be written has nowhere to say so
	if cap(l.buf) > 4*logFlushSize {
		l.buf = nil // a burst of long lines: do not hold on to it
	} else {
		l.buf = l.buf[:0]
	}
}

// bufferedSide is the io.Writer of the slog handler for access lines.
type bufferedSide struct{ l *logWriter }

func (b bufferedSide) Write(p []byte) (int, error) {
	b.l.buffer(p)
	return len(p), nil
}

// flushLog writes the access-log lines pending in log, if it is a
// NewLogger logger.
func flushLog(log *slog.Logger) {
	if h, ok := log.Handler().(*logHandler); ok {
		h.Flush()
	}
}
