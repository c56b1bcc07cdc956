package doctor

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pitstop-go/pitstop/internal/host"
)

// A probe is a fact of the live host that cannot be read back from files
// (the page size, a system call's answer, a command's output, a proxy's
// answer). Each has a name and a value of its own type (a string, a
// number, a struct), recorded as JSON in a capture; replaying the capture
// answers the probe with the recorded value.

// ProbeResult is the recorded outcome of a probe: its value as JSON, or
// the error it ended with (host.ProbeRecord: the capture format lives in
// host).
type ProbeResult = host.ProbeRecord

// ErrNoLiveHost is returned by Probe when replaying a capture that did not
// record that probe: the check should report skip.
var ErrNoLiveHost = errors.New("needs the live host (not in this capture)")

// ProbeDecodeError is a recorded probe whose value does not decode into the
// type its check reads: a capture written by another version of pitstop, or
// edited by hand. It matches ErrNoLiveHost (the fact is not available from
// this capture): checks skip, and say which probe and why.
type ProbeDecodeError struct {
	Name  string
	Value json.RawMessage
	Err   error
}

func (e *ProbeDecodeError) Error() string {
	v := string(e.Value)
	if len(v) > 60 {
		v = v[:57] + "..."
	}
	return fmt.Sprintf("recorded probe %s = %s not understood: %v", e.Name, v, e.Err)
}

func (e *ProbeDecodeError) Unwrap() error { return e.Err }

// Is makes a ProbeDecodeError match ErrNoLiveHost.
func (e *ProbeDecodeError) Is(target error) bool { return target == ErrNoLiveHost }

// unrecorded reports whether err says that a capture lacks a probe (and
// not that it recorded one the check cannot read, which is worth saying).
func unrecorded(err error) bool {
	var de *ProbeDecodeError
	return errors.Is(err, ErrNoLiveHost) && !errors.As(err, &de)
}

// probeCall is one probe of an Env: done is closed once res is final.
type probeCall struct {
	done chan struct{}
	res  ProbeResult
	err  error // fn's own error, for the callers of a live run
}

// Probe returns the probe name of e's host as a T. Live, fn runs once per
// name and Env, however many checks ask at the same time (they wait for
// the first), and its value is recorded for a capture as JSON. Replaying a
// capture, Probe decodes the recorded value (a *ProbeDecodeError when it
// is not a T) or returns ErrNoLiveHost when the capture lacks it.
func Probe[T any](e *Env, name string, fn func() (T, error)) (T, error) {
	e.mu.Lock()
	if e.probes == nil {
		e.probes = map[string]*probeCall{}
	}
	c, ok := e.probes[name]
	if !ok && e.replay {
		e.mu.Unlock()
		var zero T
		return zero, ErrNoLiveHost
	}
	if !ok {
		c = &probeCall{done: make(chan struct{})}
		e.probes[name] = c
	}
	e.mu.Unlock()
	if ok {
		<-c.done
	} else {
		runProbe(c, name, fn)
	}
	var v T
	switch {
	case c.err != nil:
		return v, c.err
	case c.res.Err != "":
		return v, recordedError(c.res.Err)
	}
	if err := json.Unmarshal(c.res.Value, &v); err != nil {
		return v, &ProbeDecodeError{Name: name, Value: c.res.Value, Err: err}
	}
	return v, nil
}

// runProbe runs fn for c and records its result; a panic is recorded as
// the probe's error (so that the waiting callers return) and goes on up.
func runProbe[T any](c *probeCall, name string, fn func() (T, error)) {
	defer close(c.done)
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("probe %s panicked: %v", name, p)
			c.res.Err = c.err.Error()
			panic(p)
		}
	}()
	v, err := fn()
	if err == nil {
		c.res.Value, err = json.Marshal(v)
	}
	if err != nil {
		c.err, c.res.Err = err, err.Error()
	}
}

// Probes returns every probe result recorded so far.
func (e *Env) Probes() map[string]ProbeResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]ProbeResult, len(e.probes))
	for k, c := range e.probes {
		select {
		case <-c.done:
			out[k] = c.res
		default: // still running
		}
	}
	return out
}

// LoadProbes switches e to replay mode with recorded probe results (the
// JSON of a map from name to ProbeResult).
func (e *Env) LoadProbes(data []byte) error {
	m := map[string]ProbeResult{}
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	e.replayProbes(m)
	return nil
}

// replayProbes switches e to replay mode with recorded probe results.
func (e *Env) replayProbes(m map[string]ProbeResult) {
	probes := make(map[string]*probeCall, len(m))
	for k, r := range m {
		c := &probeCall{done: make(chan struct{}), res: r}
		close(c.done)
		probes[k] = c
	}
	e.mu.Lock()
	e.probes, e.replay = probes, true
	e.mu.Unlock()
}

type recordedError string

func (r recordedError) Error() string { return string(r) }
