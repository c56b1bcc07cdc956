package doctor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// validate checks v against the subset of JSON Schema that
// doc/report.schema.json uses: type, required, properties,
// additionalProperties false, enum, items, pattern, minimum.
func validate(schema map[string]any, v any, at string) []string {
	var errs []string
	bad := func(f string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(f, args...)) }
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("want object, got %T", v)
			return errs
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asList(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				bad("missing required %q", r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					bad("property %q not in the schema", k)
				}
				continue
			}
			errs = append(errs, validate(ps, val, at+"."+k)...)
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			bad("want array, got %T", v)
			return errs
		}
		items, _ := schema["items"].(map[string]any)
		for i, x := range arr {
			errs = append(errs, validate(items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("want string, got %T", v)
			return errs
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			bad("%q does not match %s", s, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				bad("%q is not a date-time", s)
			}
		}
	case "number", "integer":
		n, ok := v.(float64)
		if !ok {
			bad("want number, got %T", v)
			return errs
		}
		if schema["type"] == "integer" && n != float64(int64(n)) {
			bad("%v is not an integer", n)
		}
		if m, ok := schema["minimum"].(float64); ok && n < m {
			bad("%v below minimum %v", n, m)
		}
	}
	if enum := asList(schema["enum"]); enum != nil {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			bad("%v not in %v", v, enum)
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }

func sampleReport() *Report {
	return &Report{Root: "live", Started: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Duration: 420 * time.Millisecond,
		Results: []Result{
			{ID: "board.model", Section: "board", Title: "Board model", Status: OK, Finding: "Raspberry Pi 5 Model B Rev 1.0", Duration: time.Millisecond},
			{ID: "board.throttle", Section: "board", Title: "Throttling", Status: Warn, Finding: "since boot: under-voltage", Fix: "use the official power supply", Details: []string{"read from sysfs"}},
			{ID: "storage.gocache", Section: "storage", Title: "GOCACHE", Status: Fail, Finding: "broken\nacross lines", Fix: "pitstop ramdisk enable"},
			{ID: "kernel.io_uring", Section: "kernel", Title: "io_uring", Status: Skip, Finding: "needs the live host"},
		}}
}

func checkJSON(t *testing.T, out []byte) JSONReport {
	t.Helper()
	var schema map[string]any
	if err := json.Unmarshal(JSONSchema, &schema); err != nil {
		t.Fatalf("doc/report.schema.json: %v", err)
	}
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	for _, e := range validate(schema, doc, "$") {
		t.Error(e)
	}
	var rep JSONReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestWriteJSONMatchesSchema(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	rep := checkJSON(t, b.Bytes())
	if rep.Schema != SchemaVersion || rep.Summary != (JSONSummary{OK: 1, Warn: 1, Fail: 1, Skip: 1, ExitCode: 2}) || len(rep.Checks) != 4 {
		t.Errorf("JSON report = %+v", rep)
	}
	if c := rep.Checks[1]; c.ID != "board.throttle" || c.Fix == "" || len(c.Details) != 1 {
		t.Errorf("check 1 = %+v", c)
	}
	// The validator must catch what the schema forbids.
	var schema map[string]any
	json.Unmarshal(JSONSchema, &schema)
	var doc map[string]any
	json.Unmarshal(b.Bytes(), &doc)
	doc["checks"].([]any)[0].(map[string]any)["status"] = "fine"
	delete(doc["summary"].(map[string]any), "exit_code")
	doc["extra"] = 1
	if errs := validate(schema, doc, "$"); len(errs) != 3 {
		t.Errorf("validator found %d problems in a broken document, want 3: %v", len(errs), errs)
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	rep := sampleReport()
	if err := rep.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"\nboard\n", "\nstorage\n", "\nkernel\n",
		"✓ board.model", "! board.throttle", "✗ storage.gocache", "- kernel.io_uring",
		"fix: use the official power supply", "fix: pitstop ramdisk enable",
		"broken across lines",
		"1 ok, 1 warning, 1 failure, 1 skipped in 0.42 s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") || strings.Contains(out, "read from sysfs") {
		t.Errorf("plain report has colour or details:\n%s", out)
	}
	b.Reset()
	rep.WriteText(&b, TextOptions{Color: true, Verbose: true})
	if !strings.Contains(b.String(), "\x1b[33m!\x1b[0m") || !strings.Contains(b.String(), "read from sysfs") {
		t.Errorf("coloured verbose report:\n%q", b.String())
	}
}
