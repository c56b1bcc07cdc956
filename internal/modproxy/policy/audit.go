package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"
)

// Record is one audit log line and one entry of Recent.
type Record struct {
	Time       time.Time `json:"time"`
	Client     string    `json:"client,omitempty"`
	Module     string    `json:"module"`
	Version    string    `json:"version"`
	Decision   Verdict   `json:"decision"`
	Rule       string    `json:"rule"`
	Reason     string    `json:"reason,omitempty"`
	Advisories []string  `json:"advisories,omitempty"`
	// Request is what the client asked for: info, mod, zip, latest, query.
	Request string `json:"request,omitempty"`
}

// Defaults for Audit's zero fields.
const (
	DefaultAuditMaxSize = 10 << 20
	DefaultAuditKeep    = 3
	recentSize          = 256
)

// auditLog appends JSON lines to a file and rotates it by size: file →
// file.1 → file.2 ..., keeping Keep rotated files.
type auditLog struct {
	cfg  Audit
	mu   sync.Mutex
	f    *os.File
	size int64
}

// withDefaults fills the zero fields.
func (cfg Audit) withDefaults() Audit {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultAuditMaxSize
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultAuditKeep
	}
	return cfg
}

func openAudit(cfg Audit) (*auditLog, error) {
	a := &auditLog{cfg: cfg.withDefaults()}
	if err := a.open(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *auditLog) open() error {
	f, err := os.OpenFile(a.cfg.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit log: %w", err)
	}
	a.f, a.size = f, fi.Size()
	return nil
}

func (a *auditLog) write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("audit log %s is closed", a.cfg.File)
	}
	if a.size > 0 && a.size+int64(len(b)) > a.cfg.MaxSize {
		if err := a.rotate(); err != nil {
			return err
		}
	}
	n, err := a.f.Write(b)
	a.size += int64(n)
	return err
}

// rotate shifts file.N-1 → file.N ... file → file.1 and starts a new file
// (a.mu held).
func (a *auditLog) rotate() error {
	a.f.Close()
	a.f = nil
	name := a.cfg.File
	os.Remove(fmt.Sprintf("%s.%d", name, a.cfg.Keep))
	for i := a.cfg.Keep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", name, i), fmt.Sprintf("%s.%d", name, i+1))
	}
	if err := os.Rename(name, name+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("audit log: %w", err)
	}
	return a.open()
}

func (a *auditLog) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}

// recent is a ring of the last recentSize records.
type recent struct {
	mu   sync.Mutex
	buf  [recentSize]Record
	next int
	full bool
}

func (r *recent) add(rec Record) {
	r.mu.Lock()
	r.buf[r.next] = rec
	r.next = (r.next + 1) % recentSize
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// list returns the records, newest first, those matching keep only.
func (r *recent) list(keep func(Record) bool) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = recentSize
	}
	out := make([]Record, 0, n)
	for i := 1; i <= n; i++ {
		rec := r.buf[(r.next-i+recentSize)%recentSize]
		if keep == nil || keep(rec) {
			out = append(out, rec)
		}
	}
	return out
}
