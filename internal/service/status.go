package service

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pitstop-go/pitstop/internal/store"
	"github.com/pitstop-go/pitstop/internal/units"
	"github.com/pitstop-go/pitstop/internal/version"
)

// StatusPath and StatusAPIPath are where a Server with a StatusPage serves
// the page and its JSON.
const (
	StatusPath    = "/"
	StatusAPIPath = "/api/status"
)

// StatusPage is the status page of a server: one section per part (the
// proxy, the build cache), and the events, upstreams and clients of all
// parts together. It is an http.Handler answering StatusPath with the HTML
// page and StatusAPIPath with the JSON (docs/status.md); a Server with
// Status set serves it, behind its read token unless StatusPublic, and
// records its requests into the parts' Stats. Other compositions (pitstop
// serve) may mount it themselves.
type StatusPage struct {
	// Title names the server on the page ("pitstop proxy").
	Title string
	// Parts are the sections, in order.
	Parts []StatusPart
	// Now, if set, replaces time.Now (tests).
	Now func() time.Time

	mu     sync.Mutex // renders one answer at a time
	cached [2]struct {
		at time.Time
		b  []byte
	}
}

// StatusCacheFor is how long a rendered page or JSON answer is reused:
// however many pollers there are, the server renders each at most once a
// second.
const StatusCacheFor = time.Second

// ClientsShown and EventsShown are how many of the most recent clients
// and events (of all parts) the page and the JSON list; with every table
// full, the page stays under 60 KB.
const (
	ClientsShown = 100
	EventsShown  = 30
)

// StatusPart is one part's data sources; every field but Stats is
// optional.
type StatusPart struct {
	// Stats is what the part records; its Name titles the section.
	Stats *Stats
	// Usage reports the part's store.
	Usage func() store.Usage
	// Toolchains lists the toolchains the part holds (golang.org/toolchain
	// versions).
	Toolchains func() []string
	// Prefix, if set, gives the part every request under it (and no
	// other): its Classify decides which of them count. Parts without a
	// Prefix are asked in order about the rest; the first that claims a
	// request counts it.
	Prefix string
}

// record counts a request the Server served into the parts that claim it.
func (p *StatusPage) record(r *http.Request, code int, h http.Header, n int64, now time.Time) {
	for i := range p.Parts {
		s := p.Parts[i].Stats
		prefixed := false
		if pre := p.Parts[i].Prefix; pre != "" {
			if !strings.HasPrefix(r.URL.Path, pre) {
				continue
			}
			prefixed = true
		}
		if s == nil {
			continue
		}
		var key string
		var hit, ok bool
		if s.Classify != nil {
			key, hit, ok = s.Classify(r, code, h)
		} else {
			hit, ok = code >= 200 && code < 300, true
		}
		if ok {
			s.Record(now, r.RemoteAddr, key, hit, n)
			return
		}
		if prefixed {
			return
		}
	}
}

// event records an event into the first part.
func (p *StatusPage) event(kind, subject, detail string) {
	if len(p.Parts) > 0 {
		p.Parts[0].Stats.Event(kind, subject, detail)
	}
}

// Status is the JSON of StatusAPIPath, documented in docs/status.md. Fields
// ending in _h are the same values formatted for people.
type Status struct {
	Title         string         `json:"title"`
	Version       version.Info   `json:"version"`
	Now           time.Time      `json:"now"`
	Started       time.Time      `json:"started"`
	UptimeSeconds int64          `json:"uptime_seconds"`
	UptimeH       string         `json:"uptime_h"`
	Parts         []PartStatus   `json:"parts"`
	Events        []EventView    `json:"events"`
	Upstreams     []UpstreamView `json:"upstreams"`
	Clients       []ClientView   `json:"clients"`
}

// PartStatus is one part's section.
type PartStatus struct {
	Name        string       `json:"name"`
	Windows     []WindowView `json:"windows"`
	Chart       ChartView    `json:"chart"`
	Store       *StoreView   `json:"store"`
	TopRequests []TopView    `json:"top_requests"`
	TopBytes    []TopView    `json:"top_bytes"`
	Toolchains  []NameView   `json:"toolchains"`
}

// WindowView is a Window with its figures for people.
type WindowView struct {
	Window
	HitPct string `json:"hit_pct"`
	BytesH string `json:"bytes_h"`
}

// ChartView is the last hour by minute, as the points of SVG polylines in
// a 300×60 box (oldest left): requests and hits on one scale, bytes on
// another.
type ChartView struct {
	Requests string `json:"requests"`
	Hits     string `json:"hits"`
	Bytes    string `json:"bytes"`
	MaxReqs  int64  `json:"max_requests"` // requests in the busiest minute
	MaxBytes string `json:"max_bytes_h"`  // bytes in the busiest minute
}

// StoreView is a store's usage.
type StoreView struct {
	store.Usage
	BytesH  string  `json:"bytes_h"`
	MaxH    string  `json:"max_h"`    // "unlimited" for no cap
	UsedPct float64 `json:"used_pct"` // of the cap; 0 without one
}

// TopView is a TopEntry for people.
type TopView struct {
	TopEntry
	BytesH string `json:"bytes_h"`
}

// NameView is a name in a list.
type NameView struct {
	Name string `json:"name"`
}

// EventView is an Event for people.
type EventView struct {
	Event
	TimeH string `json:"time_h"`
}

// UpstreamView is an Upstream for people.
type UpstreamView struct {
	Upstream
	LatencyH   string `json:"latency_h"`
	LastOKH    string `json:"last_ok_h"`
	LastErrorH string `json:"last_error_h"` // when, and the error
}

// ClientView is a Client for people.
type ClientView struct {
	Client
	LastSeenH string `json:"last_seen_h"`
	BytesH    string `json:"bytes_h"`
}

// Status gathers the page's data.
func (p *StatusPage) Status() Status {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	st := Status{Title: p.Title, Version: version.Get(), Now: now.UTC(), Started: now.UTC()}
	for _, part := range p.Parts {
		s := part.Stats
		snap := s.Snapshot(now)
		if t := s.Started(); t.Before(st.Started) {
			st.Started = t.UTC()
		}
		ps := PartStatus{Name: s.Name, Chart: chart(snap.Series)}
		for _, w := range snap.Windows {
			ps.Windows = append(ps.Windows, WindowView{Window: w, HitPct: pct(w.HitRatio, w.Requests), BytesH: units.HumanSize(w.Bytes)})
		}
		if part.Usage != nil {
			u := part.Usage()
			v := &StoreView{Usage: u, BytesH: units.HumanSize(u.Bytes), MaxH: "unlimited"}
			if u.MaxSize > 0 {
				v.MaxH = units.HumanSize(u.MaxSize)
				v.UsedPct = min(100, float64(int(1000*float64(u.Bytes)/float64(u.MaxSize)))/10)
			}
			ps.Store = v
		}
		ps.TopRequests = topViews(snap.TopByReqs)
		ps.TopBytes = topViews(snap.TopByBytes)
		if part.Toolchains != nil {
			for _, t := range part.Toolchains() {
				ps.Toolchains = append(ps.Toolchains, NameView{t})
			}
		}
		st.Parts = append(st.Parts, ps)
		for _, e := range snap.Events {
			st.Events = append(st.Events, EventView{Event: e, TimeH: e.Time.UTC().Format("15:04:05")})
		}
		for _, u := range snap.Upstreams {
			v := UpstreamView{Upstream: u, LatencyH: fmt.Sprintf("%.1f ms (avg %.1f ms)", u.LastLatencyMS, u.AvgLatencyMS), LastOKH: ago(now, u.LastOK)}
			if u.LastError != "" {
				v.LastErrorH = ago(now, u.LastErrorTime) + ": " + u.LastError
			}
			st.Upstreams = append(st.Upstreams, v)
		}
		for _, c := range snap.Clients {
			st.Clients = append(st.Clients, ClientView{Client: c, LastSeenH: ago(now, c.LastSeen), BytesH: units.HumanSize(c.Bytes)})
		}
	}
	sort.SliceStable(st.Events, func(i, j int) bool { return st.Events[i].Time.After(st.Events[j].Time) })
	sort.SliceStable(st.Clients, func(i, j int) bool { return st.Clients[i].LastSeen.After(st.Clients[j].LastSeen) })
	st.Events = st.Events[:min(len(st.Events), EventsShown)]
	st.Clients = st.Clients[:min(len(st.Clients), ClientsShown)]
	up := now.Sub(st.Started)
	st.UptimeSeconds = int64(up.Seconds())
	st.UptimeH = up.Round(time.Second).String()
	return st
}

func topViews(es []TopEntry) []TopView {
	out := make([]TopView, 0, statsTopShown)
	for _, e := range es[:min(len(es), statsTopShown)] {
		out = append(out, TopView{TopEntry: e, BytesH: units.HumanSize(e.Bytes)})
	}
	return out
}

func pct(r float64, n int64) string {
	if n == 0 {
		return "–"
	}
	return strconv.FormatFloat(100*r, 'f', 1, 64) + "%"
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// chart draws the last hour (numBuckets buckets) by minute.
func chart(series []Window) ChartView {
	const per = int(time.Minute / BucketWidth)
	var mins []Window
	for i := 0; i+per <= len(series); i += per {
		var m Window
		for _, w := range series[i : i+per] {
			m.Requests += w.Requests
			m.Hits += w.Hits
			m.Bytes += w.Bytes
		}
		mins = append(mins, m)
	}
	var maxR, maxB int64 = 1, 1
	for _, m := range mins {
		maxR, maxB = max(maxR, m.Requests), max(maxB, m.Bytes)
	}
	pts := func(v func(Window) int64, top int64) string {
		var b strings.Builder
		for i, m := range mins {
			x := i * 300 / max(1, len(mins)-1)
			y := 58 - int(v(m)*56/top)
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(x))
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(y))
		}
		return b.String()
	}
	cv := ChartView{
		Requests: pts(func(w Window) int64 { return w.Requests }, maxR),
		Hits:     pts(func(w Window) int64 { return w.Hits }, maxR),
		Bytes:    pts(func(w Window) int64 { return w.Bytes }, maxB),
		MaxReqs:  maxR,
		MaxBytes: units.HumanSize(maxB),
	}
	return cv
}

//go:embed status.html
var statusHTML string

//go:embed status.css
var statusCSS string

//go:embed status.js
var statusJS string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(statusCSS) },
	"js":  func() template.JS { return template.JS(statusJS) },
}).Parse(statusHTML))

// ServeHTTP answers StatusPath with the page and StatusAPIPath with the
// JSON; anything else is 404.
func (p *StatusPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: the status page answers GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	var which int
	switch r.URL.Path {
	case StatusPath:
		which = 0
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	case StatusAPIPath:
		which = 1
		h.Set("Content-Type", "application/json")
	default:
		http.NotFound(w, r)
		return
	}
	b, err := p.render(which)
	if err != nil {
		h.Del("Content-Security-Policy")
		http.Error(w, "status: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

// render returns the page (0) or the JSON (1), rendered at most once per
// StatusCacheFor.
func (p *StatusPage) render(which int) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.cached[which]
	if c.b != nil && time.Since(c.at) < StatusCacheFor {
		return c.b, nil
	}
	var b []byte
	var err error
	if which == 0 {
		var buf bytes.Buffer
		err = statusTmpl.Execute(&buf, p.Status())
		b = buf.Bytes()
	} else {
		b, err = json.Marshal(p.Status())
	}
	if err != nil {
		return nil, err
	}
	c.at, c.b = time.Now(), b
	return b, nil
}
