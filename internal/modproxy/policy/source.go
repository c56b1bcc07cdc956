package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pitstop-go/pitstop/internal/modproxy/vulndb"
)

// Load reads and parses a policy file, resolves its vulndb directory
// against the file's directory and checks that the database opens.
func Load(name string) (*Policy, *vulndb.DB, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("policy file %s: %w", name, err)
	}
	p, err := Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	var db *vulndb.DB
	if p.VulnDB != "" {
		if !filepath.IsAbs(p.VulnDB) {
			p.VulnDB = filepath.Join(filepath.Dir(name), p.VulnDB)
		}
		if db, err = vulndb.Open(p.VulnDB); err != nil {
			line, col := locator{src: data}.find("", -1, "vulndb")
			return nil, nil, &Error{File: name, Line: line, Col: col, Msg: err.Error() + " (run pitstop proxy vulndb sync to fill it)"}
		}
	}
	if p.Audit.File != "" && !filepath.IsAbs(p.Audit.File) {
		p.Audit.File = filepath.Join(filepath.Dir(name), p.Audit.File)
	}
	return p, db, nil
}

// Source is a policy file being served: it reloads the file when it
// changes (Watch) or on demand (Reload, for SIGHUP), swapping the whole
// policy atomically; a file that fails to load leaves the previous policy
// in force. It also keeps the audit log, the recent decisions and the
// decision metrics. Use Open.
type Source struct {
	path string
	log  *slog.Logger

	cur       atomic.Pointer[state]
	reloadMu  sync.Mutex
	stamp     fileStamp
	auditMu   sync.Mutex
	audit     *auditLog
	recent    recent
	decisions *prometheus.CounterVec
	reloads   *prometheus.CounterVec
}

type state struct {
	p  *Policy
	db *vulndb.DB
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// Options configure Open.
type Options struct {
	// Logger receives reload and audit errors; nil means slog.Default().
	Logger *slog.Logger
	// Registry, if set, receives pitstop_proxy_policy_decisions_total
	// {decision} and pitstop_proxy_policy_reloads_total{result}.
	Registry prometheus.Registerer
}

// Open loads the policy file at path; an error is the file's (with line
// and column) and nothing is kept open.
func Open(path string, o Options) (*Source, error) {
	s := &Source{path: path, log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pitstop_proxy_policy_decisions_total",
		Help: "Policy decisions on versions clients asked for, by decision (allow, flag, hide, deny).",
	}, []string{"decision"})
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pitstop_proxy_policy_reloads_total",
		Help: "Policy file reloads, by result (ok, error).",
	}, []string{"result"})
	for _, v := range []Verdict{VerdictAllow, VerdictFlag, VerdictHide, VerdictDeny} {
		s.decisions.WithLabelValues(string(v))
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{s.decisions, s.reloads} {
			if err := o.Registry.Register(c); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	return s, nil
}

// Path returns the policy file's name.
func (s *Source) Path() string { return s.path }

// Policy returns the policy in force.
func (s *Source) Policy() *Policy { return s.cur.Load().p }

// VulnDB returns the vulnerability database of the policy in force, nil
// when it names none.
func (s *Source) VulnDB() *vulndb.DB { return s.cur.Load().db }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

func (s *Source) load() error {
	st, _ := stampOf(s.path)
	p, db, err := Load(s.path)
	if err != nil {
		return err
	}
	s.auditMu.Lock()
	old := s.audit
	if old == nil && p.Audit.File != "" || old != nil && old.cfg != p.Audit.withDefaults() {
		var a *auditLog
		if p.Audit.File != "" {
			if a, err = openAudit(p.Audit); err != nil {
				s.auditMu.Unlock()
				line, col := 0, 0
				if data, rerr := os.ReadFile(s.path); rerr == nil {
					line, col = locator{src: data}.find("audit", -1, "file")
				}
				return &Error{File: s.path, Line: line, Col: col, Msg: err.Error()}
			}
		}
		s.audit = a
		if old != nil {
			old.close()
		}
	}
	s.auditMu.Unlock()
	s.stamp = st
	s.cur.Store(&state{p: p, db: db})
	return nil
}

// Reload reads the file again. On error the policy in force stays, the
// error (with line and column) is logged and returned.
func (s *Source) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.load(); err != nil {
		s.reloads.WithLabelValues("error").Inc()
		s.log.Error("policy reload failed; the previous policy stays in force", "file", s.path, "err", err)
		return err
	}
	s.reloads.WithLabelValues("ok").Inc()
	p := s.Policy()
	s.log.Info("policy loaded", "file", s.path, "rules", len(p.Rules), "vulndb", p.VulnDB)
	return nil
}

// Watch polls the file's modification time and size every interval (0
// means 2s) and reloads it when they change, until ctx ends.
func (s *Source) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := stampOf(s.path)
		if err != nil {
			continue
		}
		s.reloadMu.Lock()
		changed := st != s.stamp
		if changed {
			s.stamp = st // a bad file is not retried until it changes again
		}
		s.reloadMu.Unlock()
		if changed {
			s.Reload()
		}
	}
}

// Record counts a decision, keeps it among the recent ones and appends
// it to the audit log.
func (s *Source) Record(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	s.decisions.WithLabelValues(string(r.Decision)).Inc()
	s.recent.add(r)
	s.auditMu.Lock()
	a := s.audit
	s.auditMu.Unlock()
	if a != nil {
		if err := a.write(r); err != nil {
			s.log.Warn("audit log write failed", "err", err)
		}
	}
}

// Recent returns the last decisions recorded, newest first; with
// refusedOnly, only the denials (for the status page).
func (s *Source) Recent(refusedOnly bool) []Record {
	if !refusedOnly {
		return s.recent.list(nil)
	}
	return s.recent.list(func(r Record) bool { return r.Decision == VerdictDeny })
}

// Close closes the audit log.
func (s *Source) Close() error {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if s.audit == nil {
		return nil
	}
	err := s.audit.close()
	s.audit = nil
	return err
}

// ErrNoPolicy is returned by callers that looked for the default file
// and found none.
var ErrNoPolicy = errors.New("no policy file")
