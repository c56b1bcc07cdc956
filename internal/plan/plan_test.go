package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	p := &Plan{Title: "tune go-server"}
	p.Add(Step{Action: "set", Target: "net.core.somaxconn", From: "4096", To: "8192"},
		Step{Action: "write", Target: "/etc/sysctl.d/60-x.conf", To: "a = 1\nb = 2\n"},
		Step{Action: "remove", Target: "/etc/x.conf", From: "old\n"},
		Step{Action: "run", Target: "systemctl daemon-reload", Note: "units changed"})
	p.Note("restart %s", "nginx")
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `tune go-server
  1. set net.core.somaxconn: 4096 → 8192
  2. write /etc/sysctl.d/60-x.conf
       a = 1
       b = 2
  3. remove /etc/x.conf
     - old
  4. run systemctl daemon-reload (units changed)
note: restart nginx
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	(&Plan{Title: "t"}).Write(&b)
	if !strings.Contains(b.String(), "nothing to change") {
		t.Errorf("empty plan: %q", b.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	p := &Plan{Title: "x", Steps: []Step{{Action: "set", Target: "k", From: "1", To: "2",
		Do: func(context.Context) error { return nil }}}}
	var b bytes.Buffer
	if err := p.JSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema string
		Title  string
		Steps  []Step
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema != Schema || got.Title != "x" || len(got.Steps) != 1 || got.Steps[0].To != "2" || got.Steps[0].From != "1" {
		t.Errorf("round trip: %+v", got)
	}
	b.Reset()
	(&Plan{Steps: []Step{{Action: "write", Target: "f", To: "a && b > c\n"}}}).JSON(&b)
	if !strings.Contains(b.String(), `"to": "a && b > c\n"`) {
		t.Errorf("JSON escapes HTML: %s", b.String())
	}
	b.Reset()
	var nilPlan *Plan
	if err := nilPlan.JSON(&b); err != nil || !strings.Contains(b.String(), `"steps": []`) {
		t.Errorf("nil plan JSON: %v %s", err, b.String())
	}
}

func TestApplyRunsInOrder(t *testing.T) {
	var log []string
	step := func(name string) Step {
		return Step{Action: "set", Target: name,
			Do:   func(context.Context) error { log = append(log, "do "+name); return nil },
			Undo: func(context.Context) error { log = append(log, "undo "+name); return nil }}
	}
	p := &Plan{}
	p.Add(step("a"), Step{Action: "note", Target: "record only"}, step("b"))
	var out bytes.Buffer
	if err := p.Apply(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Join(log, ",") != "do a,do b" {
		t.Errorf("order: %v", log)
	}
	if strings.Count(out.String(), "done: ") != 2 {
		t.Errorf("output: %q", out.String())
	}
}

func TestApplyUndoesOnFailure(t *testing.T) {
	var log []string
	boom := errors.New("boom")
	p := &Plan{}
	p.Add(
		Step{Action: "set", Target: "a",
			Do:   func(context.Context) error { log = append(log, "do a"); return nil },
			Undo: func(context.Context) error { log = append(log, "undo a"); return nil }},
		Step{Action: "set", Target: "b",
			Do: func(context.Context) error { log = append(log, "do b"); return nil }},
		Step{Action: "set", Target: "c",
			Do:   func(context.Context) error { log = append(log, "do c"); return nil },
			Undo: func(context.Context) error { return errors.New("stuck") }},
		Step{Action: "set", Target: "d",
			Do:   func(context.Context) error { return boom },
			Undo: func(context.Context) error { log = append(log, "undo d"); return nil }},
		Step{Action: "set", Target: "e",
			Do: func(context.Context) error { log = append(log, "do e"); return nil }},
	)
	err := p.Apply(context.Background(), nil)
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if pe.Step != 3 || pe.Failed.Target != "d" {
		t.Errorf("failed step %d %q", pe.Step, pe.Failed.Target)
	}
	if got := strings.Join(log, ","); got != "do a,do b,do c,undo a" {
		t.Errorf("log %s", got)
	}
	if len(pe.NotUndone) != 2 || !strings.Contains(pe.NotUndone[0], "stuck") || !strings.Contains(pe.NotUndone[1], "cannot be undone") {
		t.Errorf("not undone: %q", pe.NotUndone)
	}
}

func TestApplyCancelledUndoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	undone := false
	p := &Plan{Steps: []Step{
		{Action: "a", Do: func(context.Context) error { cancel(); return nil },
			Undo: func(ctx context.Context) error { undone = ctx.Err() == nil; return nil }},
		{Action: "b", Do: func(context.Context) error { t.Error("ran after cancel"); return nil }},
	}}
	if err := p.Apply(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !undone {
		t.Error("the first step was not undone with a live context")
	}
}
