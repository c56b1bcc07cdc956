// Package plan describes a change to the system as an ordered list of steps
// before anything is changed. A command that changes the system builds its
// plan first; --dry-run prints it (Write), --json emits it (JSON), and a real
// run executes exactly that plan (Apply), undoing the steps it completed when
// a later one fails. The preview therefore cannot drift from the real path:
// both are the same value.
package plan

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Schema names the JSON form written by JSON.
const Schema = "pitstop-plan/v1"

// Step is one change: what it does (Action) to what (Target), from which
// value to which. The zero Step does nothing.
type Step struct {
	// Action is a short verb: write, remove, set, mount, unmount, mkdir,
	// run, sync, link, ...
	Action string `json:"action"`
	// Target is what changes: a path, a sysctl key, a unit, a command.
	Target string `json:"target"`
	// From is the value before the step; "" when there is none (a file
	// that does not exist yet).
	From string `json:"from,omitempty"`
	// To is the value after the step; "" when there is none (a removed
	// file).
	To string `json:"to,omitempty"`
	// Note says why, or what else to know, in a few words.
	Note string `json:"note,omitempty"`

	// Do makes the change; nil makes the step a record only (already done,
	// or done by a later step).
	Do func(ctx context.Context) error `json:"-"`
	// Undo puts back what Do changed; nil when there is nothing to undo or
	// the step cannot be undone (Apply then says so if a later step fails).
	Undo func(ctx context.Context) error `json:"-"`
}

// Plan is an ordered list of steps. The zero Plan is empty and applies as a
// no-op.
type Plan struct {
	// Title says what the plan is for ("enable the ramdisk for ...").
	Title string `json:"title"`
	// Steps run in order.
	Steps []Step `json:"steps"`
	// Notes are said after the steps: advice that is not a change
	// (restart a listener, install the boot unit, ...).
	Notes []string `json:"notes,omitempty"`
}

// Add appends steps.
func (p *Plan) Add(s ...Step) { p.Steps = append(p.Steps, s...) }

// Note appends a note.
func (p *Plan) Note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Steps) == 0 }

// String renders one step on one line (multi-line values are summarised).
func (s Step) String() string {
	var b strings.Builder
	b.WriteString(s.Action)
	if s.Target != "" {
		b.WriteString(" " + s.Target)
	}
	multi := strings.Contains(s.From, "\n") || strings.Contains(s.To, "\n")
	switch {
	case multi:
	case s.From != "" && s.To != "":
		fmt.Fprintf(&b, ": %s → %s", s.From, s.To)
	case s.To != "":
		fmt.Fprintf(&b, ": %s", s.To)
	case s.From != "":
		fmt.Fprintf(&b, " (was %s)", s.From)
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " (%s)", s.Note)
	}
	return b.String()
}

// Write prints the plan for a person: the title, one numbered line a step,
// multi-line contents indented under their step, then the notes.
func (p *Plan) Write(w io.Writer) error {
	var b strings.Builder
	if p.Title != "" {
		b.WriteString(p.Title + "\n")
	}
	if p.Empty() {
		b.WriteString("  nothing to change\n")
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, s)
		if strings.Contains(s.To, "\n") {
			b.WriteString(Indent(s.To, "       "))
		} else if strings.Contains(s.From, "\n") && s.To == "" {
			b.WriteString(Indent(s.From, "     - "))
		}
	}
	for _, n := range p.Notes {
		b.WriteString("note: " + n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// JSON writes the plan as one JSON document with Schema, indented, with
// <, > and & as themselves.
func (p *Plan) JSON(w io.Writer) error {
	v := struct {
		Schema string `json:"schema"`
		*Plan
	}{Schema, p}
	if v.Plan == nil {
		v.Plan = &Plan{}
	}
	if v.Steps == nil {
		v.Steps = []Step{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // file contents and commands keep their <, > and &
	return enc.Encode(v)
}

// Error is a failed Apply: the step that failed and what undoing the earlier
// steps left behind.
type Error struct {
	// Step is the index of the step that failed; Err its error.
	Step int
	Err  error
	// Failed is the step itself.
	Failed Step
	// NotUndone lists the completed steps whose undo failed or that have
	// no undo, with the reason; empty when everything was put back.
	NotUndone []string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("step %d (%s): %v", e.Step+1, e.Failed, e.Err)
	if len(e.NotUndone) == 0 {
		return msg + "; the steps before it were undone"
	}
	return msg + "; not undone: " + strings.Join(e.NotUndone, "; ")
}

func (e *Error) Unwrap() error { return e.Err }

// Apply runs the steps in order, writing a line to w (nil discards) after
// each one. When a step fails it undoes the completed steps in reverse
// order and returns an *Error.
func (p *Plan) Apply(ctx context.Context, w io.Writer) error {
	if w == nil {
		w = io.Discard
	}
	if p.Empty() {
		return nil
	}
	for i, s := range p.Steps {
		if err := ctx.Err(); err == nil && s.Do != nil {
			err = s.Do(ctx)
			if err == nil {
				fmt.Fprintf(w, "done: %s\n", s)
				continue
			}
			return p.undo(ctx, i, err, w)
		} else if err != nil {
			return p.undo(ctx, i, err, w)
		}
	}
	return nil
}

func (p *Plan) undo(ctx context.Context, failed int, cause error, w io.Writer) error {
	e := &Error{Step: failed, Err: cause, Failed: p.Steps[failed]}
	// Undo runs even when ctx is cancelled: put the system back.
	uctx := context.WithoutCancel(ctx)
	for i := failed - 1; i >= 0; i-- {
		s := p.Steps[i]
		if s.Do == nil {
			continue
		}
		if s.Undo == nil {
			e.NotUndone = append(e.NotUndone, fmt.Sprintf("%s (cannot be undone)", s))
			continue
		}
		if err := s.Undo(uctx); err != nil {
			e.NotUndone = append(e.NotUndone, fmt.Sprintf("%s: %v", s, err))
			continue
		}
		fmt.Fprintf(w, "undone: %s\n", s)
	}
	return e
}

// Indent prefixes every non-empty line of s with prefix; the result ends in
// a newline when s has any line.
func Indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l == "" {
			continue
		}
		b.WriteString(prefix + l)
		if !strings.HasSuffix(l, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
