package service

import (
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of what a Stats keeps: whatever its clients send, its memory stays
// under a few hundred kilobytes.
const (
	BucketWidth   = 10 * time.Second // one bucket of the request ring
	numBuckets    = 360              // an hour of buckets
	TopEntries    = 32               // rows of each heavy-hitters table
	MaxClients    = 256              // the most recently seen clients kept
	MaxEvents     = 64               // events kept per Stats
	maxKeyLen     = 200              // longer keys (module paths) are cut
	maxDetailLen  = 200              // longer event details and errors are cut
	maxUpstreams  = 8                // upstream health entries
	statsTopShown = 10               // rows shown on the page
)

// Event kinds that parts of pitstop record with Stats.Event. Any other
// short word is accepted too and shown as given.
const (
	EventMiss          = "miss"           // fetched from upstream
	EventUpstreamError = "upstream-error" // the upstream failed
	EventTampered      = "tampered"       // refused: checksum mismatch
	EventPolicy        = "policy"         // refused by policy
	EventRefused       = "refused"        // refused: no or wrong token
)

// Stats records what a server part (the proxy, the build cache) does, for
// the status page: requests, hits and bytes in a ring of 10-second buckets
// (the last hour) and since start; the heaviest keys by requests and by
// bytes (space-saving tables, bounded); the clients seen (bounded); recent
// events (bounded); upstream health. Recording a request costs some atomic
// adds and one short critical section; nothing grows with the traffic.
//
// Set Name and Classify before use; a nil *Stats records nothing.
type Stats struct {
	// Name names the part on the page and in /api/status ("proxy",
	// "cache").
	Name string

	// Classify says whether a request a Server served belongs to this
	// part, under which key (the module path, or "" for none) and whether
	// it was answered without the upstream (a hit). code is the status
	// sent and h the response's headers. nil counts every request, keyed
	// by nothing, as a hit when code is 2xx.
	Classify func(r *http.Request, code int, h http.Header) (key string, hit, ok bool)

	once    sync.Once
	started time.Time

	total   counts
	buckets [numBuckets]bucket

	mu       sync.Mutex // the tables below
	byReqs   spaceSaving
	byBytes  spaceSaving
	clients  map[string]*clientEntry
	events   [MaxEvents]Event
	nevents  int // events recorded (the ring's next slot is nevents%MaxEvents)
	upstream []*Upstream
}

type counts struct {
	requests, hits, bytes atomic.Int64
}

type bucket struct {
	epoch atomic.Int64 // time/BucketWidth of the counts held
	counts
}

func (s *Stats) init() {
	s.once.Do(func() {
		s.started = time.Now()
		s.byReqs.init()
		s.byBytes.init()
		s.clients = make(map[string]*clientEntry)
	})
}

// Started is when the Stats began recording.
func (s *Stats) Started() time.Time {
	s.init()
	return s.started
}

// Record counts one request answered at now: from client (a RemoteAddr),
// for key ("" for none), a hit or not, with n body bytes.
func (s *Stats) Record(now time.Time, client, key string, hit bool, n int64) {
	if s == nil {
		return
	}
	s.init()
	var h int64
	if hit {
		h = 1
	}
	s.total.add(h, n)
	e := now.UnixNano() / int64(BucketWidth)
	b := &s.buckets[e%numBuckets]
	if old := b.epoch.Load(); old != e {
		// The first request of a new 10 seconds resets the bucket; a
		// request racing with the reset may be lost from the window (not
		// from the totals).
		if b.epoch.CompareAndSwap(old, e) {
			b.requests.Store(0)
			b.hits.Store(0)
			b.bytes.Store(0)
		}
	}
	b.add(h, n)

	host := client
	if hh, _, err := net.SplitHostPort(client); err == nil {
		host = hh
	}
	if len(key) > maxKeyLen {
		key = key[:maxKeyLen]
	}
	s.mu.Lock()
	if key != "" {
		s.byReqs.add(key, 1, n)
		if n > 0 {
			s.byBytes.add(key, n, 1)
		}
	}
	c := s.clients[host]
	if c == nil {
		if len(s.clients) >= MaxClients {
			var oldest *clientEntry
			for _, x := range s.clients {
				if oldest == nil || x.last.Before(oldest.last) {
					oldest = x
				}
			}
			delete(s.clients, oldest.addr)
		}
		c = &clientEntry{addr: host}
		s.clients[host] = c
	}
	c.last = now
	c.requests++
	c.bytes += n
	s.mu.Unlock()
}

func (c *counts) add(hit, n int64) {
	c.requests.Add(1)
	if hit != 0 {
		c.hits.Add(1)
	}
	if n != 0 {
		c.bytes.Add(n)
	}
}

// Event records something to show among the recent events: kind (one of
// the Event* constants or another short word), subject (a module, a key, a
// client) and detail (an error, a rule). The last MaxEvents are kept.
func (s *Stats) Event(kind, subject, detail string) {
	if s == nil {
		return
	}
	s.init()
	if len(subject) > maxKeyLen {
		subject = subject[:maxKeyLen]
	}
	if len(detail) > maxDetailLen {
		detail = detail[:maxDetailLen] + "…"
	}
	now := time.Now()
	s.mu.Lock()
	s.events[s.nevents%MaxEvents] = Event{Time: now, Kind: kind, Subject: subject, Detail: detail}
	s.nevents++
	s.mu.Unlock()
}

// Upstream records one call to an upstream named name (a module proxy, the
// checksum database) that took d and failed with err (nil: succeeded).
func (s *Stats) Upstream(name string, d time.Duration, err error) {
	if s == nil {
		return
	}
	s.init()
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *Upstream
	for _, x := range s.upstream {
		if x.Name == name {
			u = x
		}
	}
	if u == nil {
		if len(s.upstream) >= maxUpstreams {
			return
		}
		u = &Upstream{Name: name}
		s.upstream = append(s.upstream, u)
	}
	u.Calls++
	ms := float64(d.Microseconds()) / 1000
	u.LastLatencyMS = ms
	if u.Calls == 1 {
		u.AvgLatencyMS = ms
	} else {
		u.AvgLatencyMS += (ms - u.AvgLatencyMS) / 8 // moving average
	}
	if err != nil {
		u.Errors++
		msg := err.Error()
		if len(msg) > maxDetailLen {
			msg = msg[:maxDetailLen] + "…"
		}
		u.LastError, u.LastErrorTime = msg, now
	} else {
		u.LastOK = now
	}
}

// Event is one recent event.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Subject string    `json:"subject"`
	Detail  string    `json:"detail,omitempty"`
	Part    string    `json:"part"`
}

// Upstream is the health of one upstream.
type Upstream struct {
	Name          string    `json:"name"`
	Part          string    `json:"part"`
	Calls         int64     `json:"calls"`
	Errors        int64     `json:"errors"`
	LastLatencyMS float64   `json:"last_latency_ms"`
	AvgLatencyMS  float64   `json:"avg_latency_ms"`
	LastOK        time.Time `json:"last_ok"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time"`
}

type clientEntry struct {
	addr     string
	last     time.Time
	requests int64
	bytes    int64
}

// Window is the requests of one span of time.
type Window struct {
	Name     string  `json:"name"` // "5m", "1h", "start"
	Requests int64   `json:"requests"`
	Hits     int64   `json:"hits"`
	Bytes    int64   `json:"bytes"`
	HitRatio float64 `json:"hit_ratio"` // hits/requests; 0 with no requests
}

// TopEntry is a row of a heavy-hitters table. Counts are upper bounds;
// Count-Overestimate is a lower bound (space-saving).
type TopEntry struct {
	Key          string `json:"key"`
	Requests     int64  `json:"requests"`
	Bytes        int64  `json:"bytes"`
	Overestimate int64  `json:"overestimate"`
}

// Client is a client seen.
type Client struct {
	Addr     string    `json:"addr"`
	LastSeen time.Time `json:"last_seen"`
	Requests int64     `json:"requests"`
	Bytes    int64     `json:"bytes"`
}

// Snapshot is a copy of what a Stats holds, at Now.
type Snapshot struct {
	Now        time.Time
	Windows    []Window // 5m, 1h, start
	Series     []Window // the last hour's buckets, oldest first
	TopByReqs  []TopEntry
	TopByBytes []TopEntry
	Clients    []Client // most recent first
	Events     []Event  // newest first
	Upstreams  []Upstream
}

// Snapshot copies what s holds.
func (s *Stats) Snapshot(now time.Time) Snapshot {
	s.init()
	snap := Snapshot{Now: now}
	e := now.UnixNano() / int64(BucketWidth)
	var w5, w60 Window
	w5.Name, w60.Name = "5m", "1h"
	snap.Series = make([]Window, numBuckets)
	for i := range numBuckets {
		ep := e - int64(numBuckets-1-i)
		b := &s.buckets[ep%numBuckets]
		var w Window
		if b.epoch.Load() == ep {
			w = Window{Requests: b.requests.Load(), Hits: b.hits.Load(), Bytes: b.bytes.Load()}
		}
		snap.Series[i] = w
		w60.Requests, w60.Hits, w60.Bytes = w60.Requests+w.Requests, w60.Hits+w.Hits, w60.Bytes+w.Bytes
		if i >= numBuckets-30 {
			w5.Requests, w5.Hits, w5.Bytes = w5.Requests+w.Requests, w5.Hits+w.Hits, w5.Bytes+w.Bytes
		}
	}
	all := Window{Name: "start", Requests: s.total.requests.Load(), Hits: s.total.hits.Load(), Bytes: s.total.bytes.Load()}
	snap.Windows = []Window{ratio(w5), ratio(w60), ratio(all)}

	s.mu.Lock()
	snap.TopByReqs = s.byReqs.top(func(a, b *ssEntry) bool { return a.count > b.count })
	snap.TopByBytes = s.byBytes.top(func(a, b *ssEntry) bool { return a.count > b.count })
	for _, c := range s.clients {
		snap.Clients = append(snap.Clients, Client{Addr: c.addr, LastSeen: c.last, Requests: c.requests, Bytes: c.bytes})
	}
	n := min(s.nevents, MaxEvents)
	for i := range n {
		ev := s.events[(s.nevents-1-i)%MaxEvents]
		ev.Part = s.Name
		snap.Events = append(snap.Events, ev)
	}
	for _, u := range s.upstream {
		x := *u
		x.Part = s.Name
		snap.Upstreams = append(snap.Upstreams, x)
	}
	s.mu.Unlock()
	// The byBytes table counts bytes as its weight and requests aside.
	for i := range snap.TopByBytes {
		t := &snap.TopByBytes[i]
		t.Requests, t.Bytes = t.Bytes, t.Requests
	}
	sort.Slice(snap.Clients, func(i, j int) bool { return snap.Clients[i].LastSeen.After(snap.Clients[j].LastSeen) })
	return snap
}

func ratio(w Window) Window {
	if w.Requests > 0 {
		w.HitRatio = float64(w.Hits) / float64(w.Requests)
	}
	return w
}

// spaceSaving is the space-saving heavy-hitters algorithm (Metwally et
// al.): TopEntries counters; a new key takes the smallest counter's place
// and inherits its count as its possible overestimate. Any key whose true
// weight is above total/TopEntries is in the table.
type spaceSaving struct {
	idx     map[string]int
	entries []ssEntry
}

type ssEntry struct {
	key   string
	count int64 // the weight counted (an upper bound)
	err   int64 // the count inherited (the possible overestimate)
	aside int64 // another sum kept alongside (bytes or requests)
}

func (t *spaceSaving) init() {
	t.idx = make(map[string]int, TopEntries)
	t.entries = make([]ssEntry, 0, TopEntries)
}

func (t *spaceSaving) add(key string, w, aside int64) {
	if i, ok := t.idx[key]; ok {
		t.entries[i].count += w
		t.entries[i].aside += aside
		return
	}
	if len(t.entries) < TopEntries {
		t.idx[key] = len(t.entries)
		t.entries = append(t.entries, ssEntry{key: key, count: w, aside: aside})
		return
	}
	m := 0
	for i := range t.entries {
		if t.entries[i].count < t.entries[m].count {
			m = i
		}
	}
	old := t.entries[m]
	delete(t.idx, old.key)
	t.idx[key] = m
	t.entries[m] = ssEntry{key: key, count: old.count + w, err: old.count, aside: aside}
}

func (t *spaceSaving) top(less func(a, b *ssEntry) bool) []TopEntry {
	es := make([]ssEntry, len(t.entries))
	copy(es, t.entries)
	sort.Slice(es, func(i, j int) bool { return less(&es[i], &es[j]) })
	out := make([]TopEntry, 0, len(es))
	for _, e := range es {
		if e.count == 0 {
			continue
		}
		out = append(out, TopEntry{Key: e.key, Requests: e.count, Bytes: e.aside, Overestimate: e.err})
	}
	return out
}
