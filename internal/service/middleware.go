package service

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// SetRoute labels the request being served on w with route, for the
// request metrics and the access log. Call it from the Handler with one of a
// small fixed set of values ("info", "zip", "sumdb", ...); it costs no
// allocation. Outside a Server it does nothing.
func SetRoute(w http.ResponseWriter, route string) {
	if rec := findRecorder(w); rec != nil {
		rec.route = route
	}
}

// LogAttr adds attr to the request's access-log line (e.g.
// slog.String("cache", "hit")). Outside a Server it does nothing.
func LogAttr(w http.ResponseWriter, attr slog.Attr) {
	if rec := findRecorder(w); rec != nil {
		rec.attrs = append(rec.attrs, attr)
	}
}

func findRecorder(w http.ResponseWriter) *recorder {
	for {
		switch x := w.(type) {
		case *recorder:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// recorder wraps the ResponseWriter to learn the status and byte count. It
// keeps io.ReaderFrom, so http.ServeContent of an *os.File still uses
// sendfile, and http.Flusher; Unwrap serves http.ResponseController.
type recorder struct {
	w       http.ResponseWriter
	status  int
	bytes   int64
	route   string
	attrs   []slog.Attr
	started bool // a final status has been sent
	served  bool // by the Handler: finish records it into the status page
}

var recorders = sync.Pool{New: func() any { return &recorder{attrs: make([]slog.Attr, 0, 4)} }}

func (r *recorder) Header() http.Header { return r.w.Header() }

func (r *recorder) WriteHeader(code int) {
	if !r.started && code >= 200 {
		r.status = code
		r.started = true
	}
	r.w.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.started {
		r.status, r.started = http.StatusOK, true
	}
	n, err := r.w.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if !r.started {
		r.status, r.started = http.StatusOK, true
	}
	var n int64
	var err error
	if rf, ok := r.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{r.w}, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if !r.started {
		r.status, r.started = http.StatusOK, true
	}
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.w }

// metrics are the request metrics, with per-route children cached so a
// request costs two lock-free map reads and some atomic adds.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	inFlight prometheus.Gauge

	routes cowMap[string, *routeMetrics]
}

type routeMetrics struct {
	route    string
	duration prometheus.Observer
	bytes    prometheus.Counter
	codes    cowMap[int, prometheus.Counter]
}

// cowMap is a map that readers on every core share without writing: it is
// never changed once published, and a new key publishes a copy (keys are
// few: routes and status codes).
type cowMap[K comparable, V any] struct {
	mu sync.Mutex // serialises publishing
	p  atomic.Pointer[map[K]V]
}

// get returns k's value, made by newV (once) if k is new.
func (c *cowMap[K, V]) get(k K, newV func() V) V {
	if p := c.p.Load(); p != nil {
		if v, ok := (*p)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if p := c.p.Load(); p != nil {
		old = *p
	}
	if v, ok := old[k]; ok {
		return v
	}
	v := newV()
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	next[k] = v
	c.p.Store(&next)
	return v
}

func (m *metrics) route(route string) *routeMetrics {
	return m.routes.get(route, func() *routeMetrics {
		return &routeMetrics{
			route:    route,
			duration: m.duration.WithLabelValues(route),
			bytes:    m.bytes.WithLabelValues(route),
		}
	})
}

// code returns the requests counter of code on this route.
func (rm *routeMetrics) code(m *metrics, code int) prometheus.Counter {
	return rm.codes.get(code, func() prometheus.Counter {
		return m.requests.WithLabelValues(rm.route, codeLabel(code))
	})
}

func (m *metrics) observe(route string, code int, n int64, d time.Duration) {
	rm := m.route(route)
	rm.code(m, code).Inc()
	rm.bytes.Add(float64(n))
	rm.duration.Observe(d.Seconds())
}

// codeAborted stands for the status of a request whose handler panicked.
const codeAborted = -1

func codeLabel(code int) string {
	if code == codeAborted {
		return "aborted"
	}
	if code < 100 || code > 999 {
		return "000"
	}
	return string([]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)})
}

// wrap builds the server's root handler: /healthz, /metrics, auth, metrics
// and access logging around s.Handler.
func (s *Server) wrap(log *slog.Logger, m *metrics, reg *prometheus.Registry) http.Handler {
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		rec := recorders.Get().(*recorder)
		rec.w = w
		level := slog.LevelInfo
		completed := false
		// A handler may panic, http.ErrAbortHandler to cut a response
		// short: count and log the request anyway, without recovering, so
		// net/http still sees the panic and its stack.
		defer func() {
			if !completed {
				s.finish(log, m, rec, r, slog.LevelWarn, start, true)
			}
		}()
		switch r.URL.Path {
		case "/healthz":
			rec.route = "healthz"
			level = slog.LevelDebug
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			rec.Write([]byte("ok\n"))
		case "/metrics":
			rec.route = "metrics"
			level = slog.LevelDebug
			if v := s.check(Read, credential(r), r.RemoteAddr); v == allowed {
				metricsHandler.ServeHTTP(rec, r)
			} else {
				s.refuse(rec, v, Read)
			}
		case StatusPath, StatusAPIPath:
			if s.Status == nil {
				s.serveHandler(w, r, rec, &level)
				break
			}
			rec.route = "status"
			level = slog.LevelDebug
			if v := s.check(Read, credential(r), r.RemoteAddr); v == allowed || s.StatusPublic {
				s.Status.ServeHTTP(rec, r)
			} else {
				s.refuse(rec, v, Read)
			}
		default:
			s.serveHandler(w, r, rec, &level)
		}
		completed = true
		s.finish(log, m, rec, r, level, start, false)
		*rec = recorder{attrs: clear0(rec.attrs)}
		recorders.Put(rec)
	})
}

// serveHandler serves a request for the Handler: checks its access, then
// calls it (and finish records it into the status page's Stats).
func (s *Server) serveHandler(w http.ResponseWriter, r *http.Request, rec *recorder, level *slog.Level) {
	pt := s.progressTimeout()
	need := Read
	if s.Access != nil {
		need = s.Access(r)
	}
	if v := s.check(need, credential(r), r.RemoteAddr); v != allowed {
		s.refuse(rec, v, need)
		if need > Read {
			*level = slog.LevelWarn
		}
		if s.Status != nil {
			s.Status.event(EventRefused, r.RemoteAddr, fmt.Sprintf("%d %s %s: no valid %s token", rec.status, r.Method, r.URL.Path, need))
		}
		return
	}
	if pt > 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = &progressBody{ReadCloser: r.Body, rc: http.NewResponseController(w), p: progress{timeout: pt}}
	}
	s.Handler.ServeHTTP(rec, r)
	rec.served = s.Status != nil
}

// finish counts and logs a served request. An aborted request (the handler
// panicked) is counted with code "aborted" and logged at Warn.
func (s *Server) finish(log *slog.Logger, m *metrics, rec *recorder, r *http.Request, level slog.Level, start time.Time, aborted bool) {
	if !rec.started {
		rec.status = http.StatusOK // what net/http sends for an empty reply
	}
	now := time.Now()
	d := now.Sub(start)
	if rec.served && !aborted {
		s.Status.record(r, rec.status, rec.Header(), rec.bytes, now)
	}
	route := rec.route
	if route == "" {
		if s.Route != nil {
			route = s.Route(r)
		} else {
			route = DefaultRoute
		}
	}
	code := rec.status
	if aborted {
		code = codeAborted
	}
	m.observe(route, code, rec.bytes, d)
	m.inFlight.Dec()
	ctx := r.Context()
	if !log.Enabled(ctx, level) {
		return
	}
	if lh, ok := log.Handler().(*logHandler); ok && len(rec.attrs) == 0 && !aborted {
		a := accessLine{time: now, level: level, method: r.Method, path: r.URL.Path, route: route,
			remote: r.RemoteAddr, status: rec.status, bytes: rec.bytes, duration: d}
		if lh.appendAccess(&a) {
			return
		}
	}
	attrs := append(rec.attrs,
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", d),
		slog.String("remote", r.RemoteAddr),
	)
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	// The handler itself, without the caller's PC that Logger.LogAttrs
	// looks up for every record.
	rc := slog.NewRecord(now, level, accessMessage, 0)
	rc.AddAttrs(attrs...)
	log.Handler().Handle(ctx, rc)
	rec.attrs = attrs
}

// clear0 empties attrs for reuse, dropping references to logged values.
func clear0(attrs []slog.Attr) []slog.Attr {
	clear(attrs)
	if cap(attrs) > 32 {
		return make([]slog.Attr, 0, 4)
	}
	return attrs[:0]
}
